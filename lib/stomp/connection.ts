import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type * as tls from "node:tls";
import { Client, Versions, type IFrame, type IMessage, type StompSubscription } from "@stomp/stompjs";

import type { DeliveryTransport } from "../delivery/tracker";
import type { OutboundFrame } from "../messages/replies";
import { StompSocket, type SocketCloseEvent } from "./socket";

/** Connection settings for one platform's broker. */
export interface ConnectionOptions {
    host: string;
    port: number;
    /** TLS settings, or `undefined` for plain TCP (an explicit user choice). */
    tls?: tls.ConnectionOptions;
    login: string;
    passcode: string;
    /** Heart-beat the broker should send, in milliseconds (IBM's client asks for 15000). */
    heartbeatIncomingMs?: number;
    /** Heart-beat we send, in milliseconds; 0 sends none, as IBM's client does. */
    heartbeatOutgoingMs?: number;
    /** How long TCP, TLS and the STOMP CONNECT may take, in milliseconds. */
    connectTimeoutMs?: number;
    /** First reconnect delay, in milliseconds; it doubles per failed attempt. */
    reconnectInitialMs?: number;
    /** Maximum reconnect delay, in milliseconds. */
    reconnectMaxMs?: number;
    /** Delay before a subscription the broker refused is tried again, in milliseconds. */
    resubscribeDelayMs?: number;
}

/** Connection states, as shown on node status. */
export type ConnectionState = "connecting" | "connected" | "disconnected" | "closed";

/** A subscription kept across reconnects. */
export interface SubscriptionSpec {
    id: string;
    /** Broker destination with its STOMP prefix, e.g. `/queue/actions.201.ticket`. */
    destination: string;
    /** Number of unACKed messages the broker may hand us (`activemq.prefetchSize`). */
    prefetch: number;
    onMessage: (message: IMessage) => void;
    /** Called when the broker refuses the subscription (ERROR frame), e.g. no read permission. */
    onError: (error: BrokerError) => void;
    /** Called when the broker confirmed the subscription. */
    onSubscribed: () => void;
}

/** An ERROR frame from the broker. */
export class BrokerError extends Error {
    public readonly details: string;
    public readonly unauthorized: boolean;
    /** Always true: the broker received the frame and refused it, so sending it again would not help. */
    public readonly refused = true;

    public constructor(message: string, details: string) {
        super(message);
        this.name = "BrokerError";
        this.details = details;
        this.unauthorized = /not authori[sz]ed|invalid|auth/i.test(message);
    }
}

/** Events: `state` (state, reason?), `error` (Error). */
export interface BrokerConnectionEvents {
    state: [ConnectionState, string | undefined];
    error: [Error];
}

/**
 * One STOMP connection to a platform's broker, shared by every node that
 * uses the platform. Reconnects for ever with capped, jittered exponential
 * backoff, re-subscribes on every connect, and tears a dead link down at
 * once, because a graceful close would wait for a peer that stopped responding.
 */
export class BrokerConnection extends EventEmitter<BrokerConnectionEvents> implements DeliveryTransport {
    private readonly client: Client;
    private readonly subscriptions = new Map<string, SubscriptionSpec>();
    private readonly active = new Map<string, StompSubscription>();
    private readonly pendingReceipts = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
    private readonly resubscribeTimers = new Set<NodeJS.Timeout>();
    private connectionWaiters: Array<{ resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout }> = [];
    private receiptCounter = 0;
    /** Keeps receipt ids unique across connections, which makes broker logs and captures unambiguous. */
    private readonly receiptPrefix = randomBytes(4).toString("hex");
    private attempts = 0;
    private backoffTimer: NodeJS.Timeout | undefined;
    private backoffWake: (() => void) | undefined;
    private stateValue: ConnectionState = "disconnected";
    private generationValue = 0;
    private lastError: string | undefined;

    public constructor(private readonly options: ConnectionOptions) {
        super();
        this.client = new Client({
            webSocketFactory: () =>
                new StompSocket({
                    host: options.host,
                    port: options.port,
                    tls: options.tls,
                    connectTimeoutMs: options.connectTimeoutMs ?? 10000,
                }),
            connectHeaders: { login: options.login, passcode: options.passcode, host: options.host },
            stompVersions: new Versions([Versions.V1_2, Versions.V1_1]),
            heartbeatIncoming: options.heartbeatIncomingMs ?? 15000,
            heartbeatOutgoing: options.heartbeatOutgoingMs ?? 0,
            // ActiveMQ can be late on beats, up to about twice the interval.
            heartbeatToleranceMultiplier: 2,
            connectionTimeout: options.connectTimeoutMs ?? 10000,
            // The backoff runs in beforeConnect; stompjs only needs to try again at all.
            reconnectDelay: 1,
            discardWebsocketOnCommFailure: true,
            // stompjs debug output includes whole frames, the CONNECT passcode among them.
            debug: () => undefined,
            beforeConnect: () => this.waitBeforeConnect(),
            onConnect: () => this.handleConnect(),
            onStompError: (frame) => this.handleStompError(frame),
            onWebSocketClose: (event) => this.handleClose(event as SocketCloseEvent | undefined),
            onWebSocketError: (error) => {
                this.lastError = error instanceof Error ? error.message : String(error);
            },
            onUnhandledReceipt: () => undefined,
            onUnhandledMessage: () => undefined,
        });
    }

    public get state(): ConnectionState {
        return this.stateValue;
    }

    public get generation(): number {
        return this.generationValue;
    }

    public get connected(): boolean {
        return this.stateValue === "connected";
    }

    /** Broker address for logs, e.g. `stomp+ssl://soar.example.com:65001`. */
    public get address(): string {
        return `${this.options.tls ? "stomp+ssl" : "stomp"}://${this.options.host}:${this.options.port}`;
    }

    /** Starts connecting; safe to call more than once. */
    public start(): void {
        if (this.stateValue === "closed") {
            throw new Error("The broker connection was closed and cannot be started again.");
        }
        if (!this.client.active) {
            this.setState("connecting");
            this.client.activate();
        }
    }

    /** Adds a subscription, sent now when connected and again after every reconnect. */
    public subscribe(spec: SubscriptionSpec): void {
        this.subscriptions.set(spec.id, spec);
        if (this.connected) {
            this.sendSubscribe(spec);
        }
    }

    /**
     * Removes a subscription; unACKed messages go back to the broker for
     * redelivery. An ACK sent after the UNSUBSCRIBE is void, so callers
     * first let final replies on their way finish (`DeliveryTracker.drain`).
     */
    public unsubscribe(id: string): void {
        this.subscriptions.delete(id);
        const active = this.active.get(id);
        this.active.delete(id);
        if (active && this.connected) {
            active.unsubscribe();
        }
    }

    public async send(frame: OutboundFrame): Promise<void> {
        if (!this.connected) {
            throw new Error(`Not connected to the broker at ${this.address}.`);
        }
        this.receiptCounter += 1;
        const receipt = `send-${this.receiptPrefix}-${this.generationValue}-${this.receiptCounter}`;
        const confirmed = new Promise<void>((resolve, reject) => {
            this.pendingReceipts.set(receipt, { resolve, reject });
        });
        this.client.watchForReceipt(receipt, () => {
            const pending = this.pendingReceipts.get(receipt);
            this.pendingReceipts.delete(receipt);
            pending?.resolve();
        });
        this.client.publish({
            destination: frame.destination,
            headers: { ...frame.headers, receipt },
            body: frame.body,
            // Without content-length ActiveMQ delivers a TextMessage, which every platform release reads.
            skipContentLengthHeader: !frame.body.includes("\u0000"),
        });
        return confirmed;
    }

    /**
     * Sends an ACK without a receipt. The broker handles the frames of one
     * connection in order, and a receipt per ACK cost about 45 ms per message
     * at prefetch 1 on ActiveMQ 5.17 with default TCP settings.
     */
    public ack(ackId: string, subscriptionId: string): void {
        if (this.connected) {
            this.client.ack(ackId, subscriptionId);
        }
    }

    public waitForConnection(timeoutMs: number): Promise<void> {
        if (this.connected) {
            return Promise.resolve();
        }
        if (this.stateValue === "closed") {
            return Promise.reject(new Error("The broker connection is closed."));
        }
        return new Promise<void>((resolve, reject) => {
            const waiter = {
                resolve,
                reject,
                timer: setTimeout(() => {
                    this.connectionWaiters = this.connectionWaiters.filter((other) => other !== waiter);
                    reject(new Error(`not connected to the broker at ${this.address} (${this.lastError ?? "no connection"})`));
                }, timeoutMs),
            };
            this.connectionWaiters.push(waiter);
        });
    }

    /**
     * Closes the connection. A live link gets a graceful DISCONNECT; the socket
     * is destroyed if that takes longer than `timeoutMs`. Messages not ACKed
     * go back to the broker for redelivery.
     */
    public async close(timeoutMs = 3000): Promise<void> {
        if (this.stateValue === "closed") {
            return;
        }
        this.setState("closed");
        for (const timer of this.resubscribeTimers) {
            clearTimeout(timer);
        }
        this.resubscribeTimers.clear();
        this.subscriptions.clear();
        this.active.clear();
        this.backoffWake?.();
        for (const waiter of this.connectionWaiters) {
            clearTimeout(waiter.timer);
            waiter.reject(new Error("The broker connection closed."));
        }
        this.connectionWaiters = [];

        let timer: NodeJS.Timeout | undefined;
        const forced = new Promise<void>((resolve) => {
            timer = setTimeout(() => {
                void this.client.deactivate({ force: true }).then(resolve, resolve);
            }, timeoutMs);
        });
        try {
            await Promise.race([this.client.deactivate(), forced]);
        } finally {
            clearTimeout(timer);
            this.rejectPendingReceipts(new Error("The broker connection closed."));
        }
    }

    private async waitBeforeConnect(): Promise<void> {
        if (this.attempts === 0) {
            this.attempts = 1;
            return;
        }
        const initial = this.options.reconnectInitialMs ?? 1000;
        const max = this.options.reconnectMaxMs ?? 30000;
        const ceiling = Math.min(max, initial * 2 ** Math.min(this.attempts - 1, 20));
        // "Equal jitter": half fixed, half random, so many processors do not retry in step.
        const delay = ceiling / 2 + Math.random() * (ceiling / 2);
        this.attempts += 1;
        await new Promise<void>((resolve) => {
            this.backoffWake = resolve;
            this.backoffTimer = setTimeout(resolve, delay);
        });
        clearTimeout(this.backoffTimer);
        this.backoffTimer = undefined;
        this.backoffWake = undefined;
        // After close(), the client is inactive, so stompjs skips this attempt.
        if (this.stateValue !== "closed") {
            this.setState("connecting", this.lastError);
        }
    }

    private handleConnect(): void {
        this.attempts = 1;
        this.lastError = undefined;
        this.generationValue += 1;
        this.active.clear();
        this.setState("connected");
        for (const spec of this.subscriptions.values()) {
            this.sendSubscribe(spec);
        }
        const waiters = this.connectionWaiters;
        this.connectionWaiters = [];
        for (const waiter of waiters) {
            clearTimeout(waiter.timer);
            waiter.resolve();
        }
    }

    private sendSubscribe(spec: SubscriptionSpec): void {
        const receipt = `subscribe-${spec.id}-${this.receiptPrefix}-${this.generationValue}`;
        this.client.watchForReceipt(receipt, () => spec.onSubscribed());
        const subscription = this.client.subscribe(
            spec.destination,
            (message) => {
                try {
                    spec.onMessage(message);
                } catch (error) {
                    // stompjs would swallow a throw here with only a console.log.
                    this.emit("error", error as Error);
                }
            },
            {
                id: spec.id,
                ack: "client-individual",
                "activemq.prefetchSize": String(spec.prefetch),
                receipt,
            },
        );
        this.active.set(spec.id, subscription);
    }

    private handleStompError(frame: IFrame): void {
        const message = frame.headers.message ?? "ERROR frame without a message";
        const error = new BrokerError(message, frame.body);
        const receiptId = frame.headers["receipt-id"] ?? "";
        const subscription = [...this.subscriptions.values()].find((spec) =>
            receiptId.startsWith(`subscribe-${spec.id}-`),
        );
        if (subscription) {
            this.active.delete(subscription.id);
            subscription.onError(error);
            this.scheduleResubscribe(subscription);
            return;
        }
        // ActiveMQ names the frame's receipt when it refuses a SEND, e.g. to a reply-to the user may not write.
        const pendingSend = this.pendingReceipts.get(receiptId);
        if (pendingSend) {
            this.pendingReceipts.delete(receiptId);
            pendingSend.reject(error);
            return;
        }
        this.lastError = message;
        this.emit("error", error);
    }

    /** Tries a refused subscription again later, since access can be granted on the platform at any time. */
    private scheduleResubscribe(spec: SubscriptionSpec): void {
        const timer = setTimeout(() => {
            this.resubscribeTimers.delete(timer);
            if (this.connected && this.subscriptions.get(spec.id) === spec && !this.active.has(spec.id)) {
                this.sendSubscribe(spec);
            }
        }, this.options.resubscribeDelayMs ?? 60000);
        timer.unref();
        this.resubscribeTimers.add(timer);
    }

    private handleClose(event: SocketCloseEvent | undefined): void {
        if (event?.error) {
            this.lastError = event.error.message;
        }
        this.active.clear();
        this.rejectPendingReceipts(new Error(`The connection to ${this.address} dropped before the broker confirmed the frame.`));
        if (this.stateValue !== "closed") {
            this.setState("disconnected", this.lastError);
        }
    }

    private rejectPendingReceipts(error: Error): void {
        const pending = [...this.pendingReceipts.values()];
        this.pendingReceipts.clear();
        for (const entry of pending) {
            entry.reject(error);
        }
    }

    private setState(state: ConnectionState, reason?: string): void {
        if (this.stateValue === state && state !== "connecting") {
            return;
        }
        this.stateValue = state;
        this.emit("state", state, reason);
    }
}
