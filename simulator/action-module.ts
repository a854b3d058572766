import type { ConnectionOptions } from "node:tls";
import { Client, type IFrame, type IMessage } from "@stomp/stompjs";
import { StompSocket } from "../lib/stomp/socket";
import type { SimulatorLogger } from "./log";

/** Broker address and login of the simulator. The user must be allowed to read and write every queue. */
export interface BrokerConnectionOptions {
    host: string;
    port: number;
    /** TLS settings (for example `{ ca }`); plain TCP when absent. */
    tls?: ConnectionOptions;
    login: string;
    passcode: string;
    /** Delay between reconnect attempts, in milliseconds (default 1000). */
    reconnectDelayMs?: number;
    /** STOMP heart-beat interval in both directions, in milliseconds (default 10000). */
    heartbeatMs?: number;
}

/** A message to SEND: full STOMP destination, headers and a text body. */
export interface OutgoingMessage {
    destination: string;
    headers: Record<string, string>;
    body: string;
}

interface QueuedSend {
    message: OutgoingMessage;
    receiptId: string;
    resolve: () => void;
    reject: (error: Error) => void;
}

/** Callbacks and settings of the platform's side of the broker link. */
export interface ActionModuleLinkOptions extends BrokerConnectionOptions {
    /** Reply queues (`/queue/acks.<org>.<destination>`) to subscribe to after every connect. */
    replyQueues: () => string[];
    /** Called for each reply frame before it is ACKed; exceptions are logged, and the frame is ACKed anyway. */
    onReply: (message: IMessage) => void;
    logger: SimulatorLogger;
}

/**
 * The platform's STOMP link: sends action messages and consumes replies.
 *
 * Sends wait while the broker is unreachable. Each SEND carries
 * `persistent: true` and a receipt, and its promise resolves on the RECEIPT.
 * A SEND whose RECEIPT was lost with the connection is sent again after the
 * reconnect, so in that rare case the broker may hold the message twice.
 * Reply queues are subscribed with `client-individual` acknowledgement and
 * re-subscribed after every reconnect.
 */
export class ActionModuleLink {
    private readonly client: Client;
    private readonly waiting: QueuedSend[] = [];
    private readonly inFlight = new Map<string, QueuedSend>();
    private receiptCounter = 0;
    private failedAttempts = 0;
    private wasConnected = false;
    private stopped = false;
    private connectedWaiters: Array<() => void> = [];

    public constructor(private readonly options: ActionModuleLinkOptions) {
        const heartbeatMs = options.heartbeatMs ?? 10000;
        this.client = new Client({
            webSocketFactory: () => new StompSocket({ host: options.host, port: options.port, tls: options.tls }),
            connectHeaders: { login: options.login, passcode: options.passcode },
            heartbeatIncoming: heartbeatMs,
            heartbeatOutgoing: heartbeatMs,
            reconnectDelay: options.reconnectDelayMs ?? 1000,
            discardWebsocketOnCommFailure: true,
            // stompjs debug lines can include the CONNECT frame and its passcode, so none are forwarded.
            debug: () => undefined,
            onConnect: () => this.handleConnect(),
            onStompError: (frame) => this.handleStompError(frame),
            onWebSocketClose: () => this.handleClose(),
        });
    }

    /** True while the STOMP session is up. */
    public get connected(): boolean {
        return this.client.connected;
    }

    private get brokerName(): string {
        return `${this.options.tls ? "stomp+ssl" : "stomp"}://${this.options.host}:${this.options.port}`;
    }

    /** Starts connecting; reconnects for ever until `stop`. */
    public start(): void {
        this.options.logger.info(`Connecting to the broker at ${this.brokerName} as ${this.options.login}.`);
        this.client.activate();
    }

    /** Resolves once connected and subscribed; rejects after `timeoutMs`. */
    public whenConnected(timeoutMs: number): Promise<void> {
        if (this.client.connected) {
            return Promise.resolve();
        }
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.connectedWaiters = this.connectedWaiters.filter((waiter) => waiter !== done);
                reject(new Error(`The broker at ${this.brokerName} was not reachable within ${timeoutMs} ms.`));
            }, timeoutMs);
            const done = (): void => {
                clearTimeout(timer);
                resolve();
            };
            this.connectedWaiters.push(done);
        });
    }

    /** Sends a message with `persistent: true` and resolves when the broker confirms it. */
    public send(message: OutgoingMessage): Promise<void> {
        if (this.stopped) {
            return Promise.reject(new Error("The simulator's broker link is stopped."));
        }
        return new Promise((resolve, reject) => {
            const receiptId = `sim-send-${++this.receiptCounter}`;
            this.waiting.push({ message, receiptId, resolve, reject });
            this.flush();
        });
    }

    /** Disconnects and rejects sends that have not been confirmed. */
    public async stop(): Promise<void> {
        this.stopped = true;
        const unsent = [...this.waiting, ...this.inFlight.values()];
        this.waiting.length = 0;
        this.inFlight.clear();
        for (const entry of unsent) {
            entry.reject(new Error("The simulator stopped before the broker confirmed the message."));
        }
        await this.client.deactivate({ force: true });
    }

    private handleConnect(): void {
        const retries = this.failedAttempts > 0 ? ` after ${this.failedAttempts} failed attempts` : "";
        this.options.logger.info(`Connected to the broker at ${this.brokerName}${retries}.`);
        this.failedAttempts = 0;
        this.wasConnected = true;
        for (const queue of this.options.replyQueues()) {
            this.client.subscribe(queue, (message) => this.handleReply(message), {
                ack: "client-individual",
                "activemq.prefetchSize": "100",
            });
        }
        this.flush();
        const waiters = this.connectedWaiters;
        this.connectedWaiters = [];
        for (const waiter of waiters) {
            waiter();
        }
    }

    private handleReply(message: IMessage): void {
        try {
            this.options.onReply(message);
        } catch (error) {
            this.options.logger.error(`Recording a reply from ${message.headers.destination} failed: ${String(error)}`);
        }
        message.ack();
    }

    private handleStompError(frame: IFrame): void {
        const text = frame.headers.message ?? frame.body;
        const receiptId = frame.headers["receipt-id"];
        const failed = receiptId ? this.inFlight.get(receiptId) : undefined;
        if (failed) {
            this.inFlight.delete(failed.receiptId);
            this.options.logger.error(`The broker rejected a message to ${failed.message.destination}: ${text}`);
            failed.reject(new Error(`The broker rejected the message to ${failed.message.destination}: ${text}`));
            return;
        }
        this.options.logger.error(`The broker sent an ERROR frame: ${text}`);
    }

    private handleClose(): void {
        // Sends whose RECEIPT did not arrive go out again, in their original order, after the reconnect.
        if (this.inFlight.size > 0) {
            this.waiting.unshift(...this.inFlight.values());
            this.inFlight.clear();
        }
        if (this.stopped) {
            return;
        }
        if (this.wasConnected) {
            this.wasConnected = false;
            this.options.logger.warn(`Lost the connection to the broker at ${this.brokerName}; reconnecting.`);
            return;
        }
        this.failedAttempts += 1;
        if (this.failedAttempts === 1 || this.failedAttempts % 30 === 0) {
            this.options.logger.warn(`Connecting to the broker at ${this.brokerName} failed (attempt ${this.failedAttempts}); retrying.`);
        }
    }

    private flush(): void {
        while (this.client.connected && this.waiting.length > 0) {
            const entry = this.waiting.shift() as QueuedSend;
            this.inFlight.set(entry.receiptId, entry);
            this.client.watchForReceipt(entry.receiptId, () => {
                if (this.inFlight.delete(entry.receiptId)) {
                    entry.resolve();
                }
            });
            try {
                this.client.publish({
                    destination: entry.message.destination,
                    headers: { ...entry.message.headers, persistent: "true", receipt: entry.receiptId },
                    body: entry.message.body,
                    // Without content-length ActiveMQ stores a text message, as the platform's JMS sender does.
                    skipContentLengthHeader: !entry.message.body.includes("\0"),
                });
            } catch (error) {
                // The link dropped between the check and the publish; the close handler re-queues the entry.
                this.options.logger.warn(`Sending to ${entry.message.destination} failed, will retry: ${String(error)}`);
                return;
            }
        }
    }
}
