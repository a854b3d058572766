import * as net from "node:net";
import * as tls from "node:tls";
import type { IStompSocket } from "@stomp/stompjs";

/** WebSocket-style ready states that @stomp/stompjs reads from its socket. */
const enum ReadyState {
    Connecting = 0,
    Open = 1,
    Closing = 2,
    Closed = 3,
}

/** Address and transport settings of the raw STOMP connection. */
export interface SocketOptions {
    host: string;
    port: number;
    /**
     * TLS settings, or `undefined` for plain TCP. Verification follows
     * `rejectUnauthorized`, which is on unless the caller turns it off.
     */
    tls?: tls.ConnectionOptions;
    /** How long the TCP connect and TLS handshake may take, in milliseconds. */
    connectTimeoutMs?: number;
    /** How long a graceful close may take before the socket is destroyed, in milliseconds. */
    closeTimeoutMs?: number;
}

/** Close event passed to @stomp/stompjs; `reason` carries the socket error, if any. */
export interface SocketCloseEvent {
    code: number;
    reason: string;
    wasClean: boolean;
    error?: Error;
}

/**
 * Socket adapter that lets @stomp/stompjs speak STOMP over a raw TCP or TLS
 * connection instead of a WebSocket.
 *
 * Over TLS the socket reports "open" only after the handshake has verified
 * the server (chain, expiry and host name), so the CONNECT frame with the
 * credentials is never written to an unverified peer.
 */
export class StompSocket implements IStompSocket {
    public readonly url: string;
    public onclose: ((event?: SocketCloseEvent) => void) | null = null;
    public onerror: ((event: Error) => void) | null = null;
    public onmessage: ((event: { data: ArrayBuffer }) => void) | null = null;
    public onopen: (() => void) | null = null;
    public binaryType = "arraybuffer";

    private state: ReadyState = ReadyState.Connecting;
    private readonly socket: net.Socket;
    private lastError: Error | undefined;
    private closeTimer: NodeJS.Timeout | undefined;
    private readonly closeTimeoutMs: number;

    public constructor(options: SocketOptions) {
        const scheme = options.tls ? "stomp+ssl" : "stomp";
        this.url = `${scheme}://${options.host}:${options.port}`;
        this.closeTimeoutMs = options.closeTimeoutMs ?? 2000;

        this.socket = options.tls ? this.connectTls(options, options.tls) : this.connectTcp(options);
        this.socket.setNoDelay(true);
        this.socket.setTimeout(options.connectTimeoutMs ?? 10000, () => {
            this.fail(new Error(`Connection to ${this.url} timed out.`));
        });

        this.socket.on("data", (chunk: Buffer) => {
            // Copy out of Node's pooled buffer, which is reused after this call.
            const data = chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer;
            this.onmessage?.({ data });
        });
        this.socket.on("error", (error: Error) => {
            this.lastError = error;
            this.onerror?.(error);
        });
        this.socket.on("close", () => {
            this.handleClose();
        });
    }

    public get readyState(): number {
        return this.state;
    }

    /** Returns true when the peer's certificate was verified, and false over plain TCP. */
    public get authorized(): boolean {
        return this.socket instanceof tls.TLSSocket && this.socket.authorized;
    }

    public send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (this.state !== ReadyState.Open) {
            return;
        }
        if (typeof data === "string") {
            this.socket.write(data, "utf8");
        } else if (ArrayBuffer.isView(data)) {
            this.socket.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        } else if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) {
            this.socket.write(new Uint8Array(data));
        } else {
            // Blob exists only in the browser variant of the interface; stompjs never sends one.
            throw new TypeError("StompSocket cannot send a Blob.");
        }
    }

    /** Ends the connection gracefully, destroying it if the peer does not close in time. */
    public close(): void {
        if (this.state === ReadyState.Closed || this.state === ReadyState.Closing) {
            return;
        }
        this.state = ReadyState.Closing;
        this.socket.end();
        this.closeTimer = setTimeout(() => this.socket.destroy(), this.closeTimeoutMs);
        this.closeTimer.unref();
    }

    /** Destroys the connection at once; used for dead links, where a graceful close would wait. */
    public terminate(): void {
        if (this.state === ReadyState.Closed) {
            return;
        }
        this.state = ReadyState.Closing;
        this.socket.destroy();
    }

    private connectTcp(options: SocketOptions): net.Socket {
        const socket = net.connect({ host: options.host, port: options.port });
        socket.once("connect", () => this.open());
        return socket;
    }

    private connectTls(options: SocketOptions, tlsOptions: tls.ConnectionOptions): tls.TLSSocket {
        const verify = tlsOptions.rejectUnauthorized !== false;
        const socket = tls.connect({
            // SNI must not carry an IP address (RFC 6066); the host name check still applies.
            servername: net.isIP(options.host) ? undefined : options.host,
            ...tlsOptions,
            host: options.host,
            port: options.port,
            rejectUnauthorized: verify,
        });
        socket.once("secureConnect", () => {
            if (verify && !socket.authorized) {
                // Node rejects such a handshake itself; this guards against a caller's checkServerIdentity returning undefined wrongly.
                const reason = socket.authorizationError ?? "unknown reason";
                this.fail(new Error(`The TLS certificate of ${this.url} was not verified: ${String(reason)}.`));
                return;
            }
            this.open();
        });
        return socket;
    }

    private open(): void {
        if (this.state !== ReadyState.Connecting) {
            return;
        }
        // The connect timeout guarded connecting only; heart-beats watch the open link.
        this.socket.setTimeout(0);
        this.state = ReadyState.Open;
        this.onopen?.();
    }

    private fail(error: Error): void {
        this.lastError = error;
        this.onerror?.(error);
        this.socket.destroy();
    }

    private handleClose(): void {
        if (this.closeTimer) {
            clearTimeout(this.closeTimer);
            this.closeTimer = undefined;
        }
        const wasOpen = this.state === ReadyState.Open || this.state === ReadyState.Closing;
        this.state = ReadyState.Closed;
        const error = this.lastError;
        this.onclose?.({
            code: error ? 1006 : 1000,
            reason: error ? error.message : wasOpen ? "connection closed" : "connection failed",
            wasClean: !error,
            error,
        });
    }
}
