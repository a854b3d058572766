// Tests for the private ActiveMQ broker in scripts/broker.ts, and for the
// broker behaviour that the STOMP client relies on. They start their own
// broker in a temporary data folder and speak STOMP 1.2 with hand-written
// frames, so a failure points at the broker setup and not at a client library.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { startBroker, type Broker, type BrokerUser } from "../scripts/broker";

interface StompFrame {
    command: string;
    headers: Record<string, string>;
    body: string;
}

const FRAME_TIMEOUT_MS = 5000;

function escapeHeader(value: string): string {
    return value.replace(/\\/g, "\\\\").replace(/\r/g, "\\r").replace(/\n/g, "\\n").replace(/:/g, "\\c");
}

function unescapeHeader(value: string): string {
    const replacements: Record<string, string> = { "\\\\": "\\", "\\r": "\r", "\\n": "\n", "\\c": ":" };
    return value.replace(/\\[\\rnc]/g, (sequence) => replacements[sequence]);
}

/** Minimal STOMP 1.2 connection that queues received frames for the test to read in order. */
class StompTestConnection {
    public closed = false;
    private buffer = Buffer.alloc(0);
    private readonly frames: StompFrame[] = [];
    private readonly waiters: Array<() => void> = [];

    private constructor(private readonly socket: net.Socket) {
        socket.on("data", (chunk: Buffer) => {
            this.buffer = Buffer.concat([this.buffer, chunk]);
            this.parseFrames();
        });
        socket.on("error", () => {
            // The "close" event follows; tests check `closed`.
        });
        socket.on("close", () => {
            this.closed = true;
            this.wakeWaiters();
        });
    }

    /** Opens a plain TCP connection to the broker's STOMP port. */
    public static openTcp(broker: Broker): Promise<StompTestConnection> {
        return new Promise((resolve, reject) => {
            const socket = net.connect({ host: broker.host, port: broker.stompPort }, () => {
                socket.off("error", reject);
                resolve(new StompTestConnection(socket));
            });
            socket.once("error", reject);
        });
    }

    /** Opens a TLS connection to the STOMP+SSL port and resolves only after the certificate is verified against `ca`. */
    public static openTls(broker: Broker, ca: Buffer, servername?: string): Promise<StompTestConnection> {
        return new Promise((resolve, reject) => {
            const socket = tls.connect({ host: broker.host, port: broker.stompSslPort, ca, servername }, () => {
                socket.off("error", reject);
                resolve(new StompTestConnection(socket));
            });
            socket.once("error", reject);
        });
    }

    public send(command: string, headers: Record<string, string>, body = ""): void {
        // STOMP 1.2 does not escape the headers of CONNECT frames.
        const encode = command === "CONNECT" ? (value: string) => value : escapeHeader;
        const lines = Object.entries(headers).map(([name, value]) => `${encode(name)}:${encode(value)}`);
        this.socket.write(`${command}\n${lines.join("\n")}\n\n${body}\0`);
    }

    /** Sends CONNECT as `user` and returns the broker's reply frame. */
    public async connect(user: BrokerUser): Promise<StompFrame> {
        this.send("CONNECT", {
            "accept-version": "1.2",
            host: "localhost",
            login: user.login,
            passcode: user.passcode,
            "heart-beat": "0,0",
        });
        return this.nextFrame();
    }

    /** Returns the next received frame; rejects when the connection closes or nothing arrives in time. */
    public async nextFrame(timeoutMs = FRAME_TIMEOUT_MS): Promise<StompFrame> {
        const deadline = Date.now() + timeoutMs;
        while (this.frames.length === 0) {
            if (this.closed) {
                throw new Error("The broker closed the connection before sending a frame.");
            }
            const remaining = deadline - Date.now();
            if (remaining <= 0) {
                throw new Error(`No frame arrived within ${timeoutMs} ms.`);
            }
            await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, remaining);
                this.waiters.push(() => {
                    clearTimeout(timer);
                    resolve();
                });
            });
        }
        return this.frames.shift() as StompFrame;
    }

    /** Resolves true when the connection is closed within `timeoutMs`, false when it stays open. */
    public async waitForClose(timeoutMs: number): Promise<boolean> {
        const deadline = Date.now() + timeoutMs;
        while (!this.closed && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return this.closed;
    }

    public close(): void {
        this.socket.destroy();
    }

    private parseFrames(): void {
        for (;;) {
            // Heart-beats and padding between frames are bare end-of-line characters.
            let start = 0;
            while (start < this.buffer.length && (this.buffer[start] === 0x0a || this.buffer[start] === 0x0d)) {
                start++;
            }
            const headerEnd = this.buffer.indexOf("\n\n", start);
            if (headerEnd < 0) {
                return;
            }
            const [command, ...headerLines] = this.buffer.subarray(start, headerEnd).toString("utf8").split("\n");
            const headers: Record<string, string> = {};
            for (const line of headerLines) {
                const colon = line.indexOf(":");
                const name = unescapeHeader(line.slice(0, colon));
                // STOMP 1.2 keeps the first occurrence of a repeated header.
                headers[name] ??= unescapeHeader(line.slice(colon + 1));
            }

            const bodyStart = headerEnd + 2;
            const contentLength = headers["content-length"];
            const bodyEnd =
                contentLength !== undefined ? bodyStart + Number(contentLength) : this.buffer.indexOf(0, bodyStart);
            if (bodyEnd < 0 || this.buffer.length <= bodyEnd) {
                return;
            }
            const body = this.buffer.subarray(bodyStart, bodyEnd).toString("utf8");
            this.buffer = this.buffer.subarray(bodyEnd + 1);
            this.frames.push({ command, headers, body });
            this.wakeWaiters();
        }
    }

    private wakeWaiters(): void {
        for (const wake of this.waiters.splice(0)) {
            wake();
        }
    }
}

/** Connects over plain TCP as `user` and fails the test unless the broker replies with CONNECTED. */
async function connectAs(user: BrokerUser): Promise<StompTestConnection> {
    const connection = await StompTestConnection.openTcp(broker);
    const reply = await connection.connect(user);
    assert.equal(reply.command, "CONNECTED", `CONNECT as ${user.login} failed: ${reply.headers.message}`);
    return connection;
}

/** Sends a message as `platform` and waits for the broker's RECEIPT, which for a persistent message follows the store write. */
async function sendAsPlatform(destination: string, body: string, headers: Record<string, string> = {}): Promise<void> {
    const connection = await connectAs(broker.users.platform);
    try {
        connection.send("SEND", { destination, receipt: "send-1", ...headers }, body);
        const reply = await connection.nextFrame();
        assert.equal(reply.command, "RECEIPT", `SEND to ${destination} failed: ${reply.headers.message}`);
    } finally {
        connection.close();
    }
}

let broker: Broker;
let dataDir: string;

before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "broker-test-"));
    broker = await startBroker({ dataDir });
});

after(async () => {
    await broker?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
});

test("describe returns plain connection data", () => {
    const description = broker.describe();

    assert.deepEqual(JSON.parse(JSON.stringify(description)), description);
    assert.equal(description.host, "127.0.0.1");
    assert.notEqual(description.stompPort, description.stompSslPort);
    assert.ok(description.pid > 0);
    assert.match(fs.readFileSync(description.caFile, "utf8"), /BEGIN CERTIFICATE/);
    assert.match(fs.readFileSync(description.untrustedCaFile, "utf8"), /BEGIN CERTIFICATE/);
    assert.deepEqual(Object.keys(description.users).sort(), ["outsider", "platform", "processor"]);
});

test("processor CONNECT over TLS with caFile", async () => {
    const connection = await StompTestConnection.openTls(broker, fs.readFileSync(broker.caFile));
    try {
        const reply = await connection.connect(broker.users.processor);

        assert.equal(reply.command, "CONNECTED");
        assert.equal(reply.headers.version, "1.2");
    } finally {
        connection.close();
    }
});

test("TLS handshake fails with untrustedCaFile", async () => {
    await assert.rejects(StompTestConnection.openTls(broker, fs.readFileSync(broker.untrustedCaFile)), (error: NodeJS.ErrnoException) => {
        // The broker sends its CA along with its certificate, so OpenSSL reports a self-signed CA in the chain.
        assert.equal(error.code, "SELF_SIGNED_CERT_IN_CHAIN");
        return true;
    });
});

test("TLS handshake fails for wrong host name", async () => {
    await assert.rejects(StompTestConnection.openTls(broker, fs.readFileSync(broker.caFile), "broker.example"), (error: NodeJS.ErrnoException) => {
        assert.equal(error.code, "ERR_TLS_CERT_ALTNAME_INVALID");
        return true;
    });
});

test("wrong passcode gets ERROR and close", async () => {
    const connection = await StompTestConnection.openTcp(broker);
    try {
        const reply = await connection.connect({ login: "platform", passcode: "wrong" });

        assert.equal(reply.command, "ERROR");
        assert.equal(reply.headers.message, "User name [platform] or password is invalid.");
        assert.equal(await connection.waitForClose(2000), true);
    } finally {
        connection.close();
    }
});

test("outsider SUBSCRIBE to actions gets ERROR", async () => {
    const connection = await connectAs(broker.users.outsider);
    try {
        connection.send("SUBSCRIBE", { id: "sub-1", destination: "/queue/actions.201.x", ack: "client-individual", receipt: "subscribe-1" });
        const reply = await connection.nextFrame();

        assert.equal(reply.command, "ERROR");
        assert.equal(reply.headers["receipt-id"], "subscribe-1");
        assert.equal(reply.headers.message, "User outsider is not authorized to read from: queue://actions.201.x");

        // ActiveMQ 5.17.2 keeps the connection open after this ERROR, so the
        // client must treat it as a failed subscription, not a lost connection.
        assert.equal(await connection.waitForClose(1000), false);
        connection.send("SEND", { destination: "/queue/acks.201.x", receipt: "send-1" }, "reply");
        const sendReply = await connection.nextFrame();
        assert.equal(sendReply.command, "RECEIPT");
    } finally {
        connection.close();
    }
});

test("processor SEND to actions gets ERROR", async () => {
    const connection = await connectAs(broker.users.processor);
    try {
        connection.send("SEND", { destination: "/queue/actions.201.x", receipt: "send-1" }, "not allowed");
        const reply = await connection.nextFrame();

        assert.equal(reply.command, "ERROR");
        assert.equal(reply.headers.message, "User processor is not authorized to write to: queue://actions.201.x");
    } finally {
        connection.close();
    }
});

test("unacknowledged message is redelivered after close", async () => {
    const destination = "/queue/actions.201.redelivery";
    await sendAsPlatform(destination, "redeliver me", { persistent: "true" });
    const subscribe = { id: "sub-1", destination, ack: "client-individual", "activemq.prefetchSize": "1" };

    const first = await connectAs(broker.users.processor);
    first.send("SUBSCRIBE", subscribe);
    const delivery = await first.nextFrame();
    first.close();

    const second = await connectAs(broker.users.processor);
    try {
        second.send("SUBSCRIBE", subscribe);
        const redelivery = await second.nextFrame();

        assert.equal(delivery.command, "MESSAGE");
        assert.equal(delivery.headers.redelivered, undefined);
        assert.equal(redelivery.command, "MESSAGE");
        assert.equal(redelivery.body, "redeliver me");
        assert.equal(redelivery.headers.redelivered, "true");
        assert.equal(redelivery.headers["message-id"], delivery.headers["message-id"]);
        assert.notEqual(redelivery.headers.ack, delivery.headers.ack);

        second.send("ACK", { id: redelivery.headers.ack, receipt: "ack-1" });
        const ackReply = await second.nextFrame();
        assert.equal(ackReply.command, "RECEIPT");
    } finally {
        second.close();
    }
});

test("stale ACK id gets ERROR, connection stays open", async () => {
    const destination = "/queue/actions.201.stale-ack";
    await sendAsPlatform(destination, "first", { persistent: "true" });
    const connection = await connectAs(broker.users.processor);
    try {
        connection.send("SUBSCRIBE", { id: "sub-1", destination, ack: "client-individual" });
        const message = await connection.nextFrame();
        connection.send("ACK", { id: message.headers.ack, receipt: "ack-1" });
        assert.equal((await connection.nextFrame()).command, "RECEIPT");

        // An ack id that was already used is as unknown to the broker as a made-up one.
        connection.send("ACK", { id: message.headers.ack, receipt: "ack-2" });
        const reply = await connection.nextFrame();

        assert.equal(reply.command, "ERROR");
        assert.equal(reply.headers["receipt-id"], "ack-2");
        // ActiveMQ prints [null] where the rejected ack id would be expected.
        assert.equal(reply.headers.message, "Unexpected ACK received for message-id [null]");
        assert.equal(await connection.waitForClose(1000), false);

        await sendAsPlatform(destination, "second", { persistent: "true" });
        const next = await connection.nextFrame();
        assert.equal(next.command, "MESSAGE");
        assert.equal(next.body, "second");
    } finally {
        connection.close();
    }
});

test("persistent SEND survives kill and restart", async () => {
    const destination = "/queue/actions.201.persistence";
    await sendAsPlatform(destination, "non-persistent");
    await sendAsPlatform(destination, "persistent", { persistent: "true" });
    const pidBefore = broker.pid;

    await broker.kill();
    assert.equal(broker.pid, 0);
    await broker.restart();

    assert.ok(broker.pid > 0);
    assert.notEqual(broker.pid, pidBefore);
    const connection = await connectAs(broker.users.processor);
    try {
        connection.send("SUBSCRIBE", { id: "sub-1", destination, ack: "client-individual" });
        const message = await connection.nextFrame();

        assert.equal(message.body, "persistent");
        assert.equal(message.headers.persistent, "true");
        // ActiveMQ does not write non-persistent messages to KahaDB, so the crash lost it.
        await assert.rejects(connection.nextFrame(500), /No frame arrived/);
    } finally {
        connection.close();
    }
});
