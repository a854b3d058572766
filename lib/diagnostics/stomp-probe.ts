import { randomBytes } from "node:crypto";
import type * as tls from "node:tls";
import { Client, Versions, type IFrame } from "@stomp/stompjs";

import { StompSocket, type SocketCloseEvent } from "../stomp/socket";

/** Address, TLS settings and login of a probe. */
export interface StompProbeOptions {
    host: string;
    port: number;
    /** TLS settings, or `undefined` for plain TCP. */
    tls?: tls.ConnectionOptions;
    login: string;
    passcode: string;
    /** How long TCP, TLS and the STOMP CONNECT may take together, in milliseconds. */
    timeoutMs: number;
}

/** Cause of a failed probe login. */
export type StompLoginFailure = "rejected" | "timeout" | "network";

/** A failed probe login. Its `kind` separates a rejected login from an unreachable broker. */
export class StompProbeError extends Error {
    public readonly kind: StompLoginFailure;

    public constructor(kind: StompLoginFailure, message: string) {
        super(message);
        this.name = "StompProbeError";
        this.kind = kind;
    }
}

/** Outcome of a read-access check on one destination. */
export type ReadCheck = { allowed: true } | { allowed: false; timedOut: boolean; message: string };

/**
 * A selector that no platform message matches: the platform never sets the
 * STOMP `type` header, which ActiveMQ maps to `JMSType`. The broker still
 * checks read permission when it adds the consumer, but hands it no
 * message, so a test never takes a message away from a running processor.
 */
const MATCH_NOTHING_SELECTOR = "JMSType = 'node-red-resilient-connection-test'";

const CLOSE_TIMEOUT_MS = 2000;

/**
 * A short-lived STOMP session for the editor's connection test: logs in
 * once (no reconnect), checks read access to destinations, and closes.
 */
export class StompProbe {
    /** STOMP version the broker agreed to, e.g. `1.2`. */
    public readonly version: string | undefined;
    /** The broker's `server` header, e.g. `ActiveMQ/5.17.6`. */
    public readonly server: string | undefined;

    private errorListener: ((frame: IFrame) => void) | undefined;

    private constructor(private readonly client: Client, connected: IFrame) {
        this.version = connected.headers.version;
        this.server = connected.headers.server;
        client.onStompError = (frame) => this.errorListener?.(frame);
    }

    /** Logs in and resolves with an open probe, or rejects with `StompProbeError`. */
    public static connect(options: StompProbeOptions): Promise<StompProbe> {
        return new Promise<StompProbe>((resolve, reject) => {
            let settled = false;
            let lastSocketError: string | undefined;
            const client = new Client({
                webSocketFactory: () =>
                    new StompSocket({ host: options.host, port: options.port, tls: options.tls, connectTimeoutMs: options.timeoutMs }),
                connectHeaders: { login: options.login, passcode: options.passcode, host: options.host },
                stompVersions: new Versions([Versions.V1_2, Versions.V1_1]),
                heartbeatIncoming: 0,
                heartbeatOutgoing: 0,
                connectionTimeout: options.timeoutMs,
                reconnectDelay: 0,
                // stompjs debug output includes whole frames, the CONNECT passcode among them.
                debug: () => undefined,
            });
            const fail = (error: StompProbeError) => {
                if (settled) {
                    return;
                }
                settled = true;
                clearTimeout(timer);
                void client.deactivate({ force: true }).catch(() => undefined);
                reject(error);
            };
            const timer = setTimeout(
                () => fail(new StompProbeError("timeout", `no STOMP login at ${options.host}:${options.port} within ${options.timeoutMs} ms`)),
                options.timeoutMs,
            );

            client.onConnect = (frame) => {
                if (settled) {
                    return;
                }
                settled = true;
                clearTimeout(timer);
                resolve(new StompProbe(client, frame));
            };
            client.onStompError = (frame) => {
                fail(new StompProbeError("rejected", frame.headers.message ?? "the broker sent an ERROR frame without a message"));
            };
            client.onWebSocketError = (error: unknown) => {
                lastSocketError = error instanceof Error ? error.message : String(error);
            };
            client.onWebSocketClose = (event: SocketCloseEvent | undefined) => {
                const reason = event?.error?.message ?? lastSocketError ?? event?.reason ?? "connection closed";
                fail(new StompProbeError("network", reason));
            };
            client.activate();
        });
    }

    /**
     * Subscribes to `destination` (with its `/queue/` or `/topic/` prefix)
     * with a receipt and unsubscribes again. ActiveMQ responds to a
     * SUBSCRIBE that the user may not read with an ERROR frame and keeps
     * the connection open.
     */
    public checkRead(destination: string, timeoutMs: number): Promise<ReadCheck> {
        const id = `connection-test-${randomBytes(4).toString("hex")}`;
        const receipt = `${id}-subscribed`;
        return new Promise<ReadCheck>((resolve) => {
            let settled = false;
            const finish = (result: ReadCheck) => {
                if (settled) {
                    return;
                }
                settled = true;
                clearTimeout(timer);
                this.errorListener = undefined;
                resolve(result);
            };
            const timer = setTimeout(
                () => finish({ allowed: false, timedOut: true, message: `no RECEIPT for the SUBSCRIBE within ${timeoutMs} ms` }),
                timeoutMs,
            );
            this.errorListener = (frame) => {
                const receiptId = frame.headers["receipt-id"];
                if (receiptId === undefined || receiptId === receipt) {
                    finish({ allowed: false, timedOut: false, message: frame.headers.message ?? "the broker sent an ERROR frame without a message" });
                }
            };
            this.client.watchForReceipt(receipt, () => {
                subscription.unsubscribe();
                finish({ allowed: true });
            });
            // The selector lets no message through. One that came anyway goes back to the broker, because it is never ACKed.
            const subscription = this.client.subscribe(destination, () => undefined, {
                id,
                ack: "client-individual",
                "activemq.prefetchSize": "1",
                selector: MATCH_NOTHING_SELECTOR,
                receipt,
            });
        });
    }

    /** Sends DISCONNECT and destroys the socket if that takes longer than two seconds. */
    public async close(): Promise<void> {
        let timer: NodeJS.Timeout | undefined;
        const forced = new Promise<void>((resolve) => {
            timer = setTimeout(() => {
                void this.client.deactivate({ force: true }).then(resolve, resolve);
            }, CLOSE_TIMEOUT_MS);
        });
        try {
            await Promise.race([this.client.deactivate(), forced]);
        } finally {
            clearTimeout(timer);
        }
    }
}
