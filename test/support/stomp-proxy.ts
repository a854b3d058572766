import * as net from "node:net";

/** One STOMP frame seen by the proxy, in the order it passed. */
export interface SeenFrame {
    direction: "client" | "broker";
    command: string;
    headers: Record<string, string>;
    body: string;
}

/**
 * A plain-TCP proxy between a STOMP client and the broker that records every
 * frame in both directions, so tests can check what went over the wire and
 * in which order. It can also cut every connection to simulate a network drop.
 */
export class StompProxy {
    public readonly frames: SeenFrame[] = [];
    private readonly server: net.Server;
    private readonly sockets = new Set<net.Socket>();
    private readonly frozen = new Set<net.Socket>();
    private portValue = 0;

    public constructor(private readonly target: { host: string; port: number }) {
        this.server = net.createServer((client) => this.handle(client));
    }

    public get port(): number {
        return this.portValue;
    }

    public async start(): Promise<void> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        this.portValue = (this.server.address() as net.AddressInfo).port;
    }

    /** Destroys every open connection at once, as a network failure would. */
    public cutAll(): void {
        for (const socket of this.sockets) {
            socket.destroy();
        }
    }

    /**
     * Stops forwarding on every open connection while keeping the sockets
     * open, as a dead link behind a firewall would. New connections work.
     */
    public freezeAll(): void {
        for (const socket of this.sockets) {
            this.frozen.add(socket);
        }
    }

    public async stop(): Promise<void> {
        this.cutAll();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    /** Frames with the given command, optionally from one side only. */
    public commands(command: string, direction?: SeenFrame["direction"]): SeenFrame[] {
        return this.frames.filter((frame) => frame.command === command && (!direction || frame.direction === direction));
    }

    private handle(client: net.Socket): void {
        const broker = net.connect(this.target);
        this.sockets.add(client);
        this.sockets.add(broker);
        const fromClient = new FrameReader((frame) => this.frames.push({ direction: "client", ...frame }));
        const fromBroker = new FrameReader((frame) => this.frames.push({ direction: "broker", ...frame }));
        client.on("data", (chunk: Buffer) => {
            if (this.frozen.has(client)) {
                return;
            }
            fromClient.push(chunk);
            broker.write(chunk);
        });
        broker.on("data", (chunk: Buffer) => {
            if (this.frozen.has(broker)) {
                return;
            }
            fromBroker.push(chunk);
            client.write(chunk);
        });
        const closeBoth = () => {
            client.destroy();
            broker.destroy();
            this.sockets.delete(client);
            this.sockets.delete(broker);
            this.frozen.delete(client);
            this.frozen.delete(broker);
        };
        client.on("close", closeBoth);
        broker.on("close", closeBoth);
        client.on("error", closeBoth);
        broker.on("error", closeBoth);
    }
}

/** Splits a byte stream into STOMP frames; heart-beat newlines between frames are skipped. */
class FrameReader {
    private buffer = Buffer.alloc(0);

    public constructor(private readonly onFrame: (frame: Omit<SeenFrame, "direction">) => void) {}

    public push(chunk: Buffer): void {
        this.buffer = Buffer.concat([this.buffer, chunk]);
        for (;;) {
            while (this.buffer.length > 0 && (this.buffer[0] === 0x0a || this.buffer[0] === 0x0d)) {
                this.buffer = this.buffer.subarray(1);
            }
            const headerEnd = this.buffer.indexOf("\n\n");
            if (headerEnd < 0) {
                return;
            }
            const head = this.buffer.subarray(0, headerEnd).toString("utf8").replace(/\r/g, "");
            const [command, ...lines] = head.split("\n");
            const headers: Record<string, string> = {};
            for (const line of lines) {
                const colon = line.indexOf(":");
                const name = line.slice(0, colon);
                if (!(name in headers)) {
                    headers[name] = unescapeHeader(line.slice(colon + 1));
                }
            }
            const bodyStart = headerEnd + 2;
            const length = headers["content-length"] !== undefined ? Number(headers["content-length"]) : undefined;
            const bodyEnd = length !== undefined ? bodyStart + length : this.buffer.indexOf(0, bodyStart);
            if (bodyEnd < 0 || this.buffer.length <= bodyEnd) {
                return;
            }
            const body = this.buffer.subarray(bodyStart, bodyEnd).toString("utf8");
            this.buffer = this.buffer.subarray(bodyEnd + 1);
            this.onFrame({ command, headers, body });
        }
    }
}

/** Undoes STOMP 1.2 header escaping (`\c` for a colon, and so on). */
function unescapeHeader(value: string): string {
    const decoded: Record<string, string> = { c: ":", n: "\n", r: "\r", "\\": "\\" };
    return value.replace(/\\([cnr\\])/g, (_match, code: string) => decoded[code]);
}
