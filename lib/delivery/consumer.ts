import { isUtf8 } from "node:buffer";
import { EventEmitter } from "node:events";
import type * as tls from "node:tls";
import type { IMessage } from "@stomp/stompjs";

import type { FrameHeaders, InvalidMessageError, ParsedInvocation } from "../messages/inbound";
import type { ReplyRequest } from "../messages/replies";
import { BrokerConnection, type BrokerError, type ConnectionState } from "../stomp/connection";
import { DeliveryTracker, trackingKey, type DeliverySettings } from "./tracker";

/** Programmatic names: letters, digits and underscores; IBM's client also accepts dots. */
export const PROGRAMMATIC_NAME = /^[A-Za-z0-9_.]+$/;

/** Broker settings of one platform and org. */
export interface ConsumerSettings {
    host: string;
    stompPort: number;
    orgId: number;
    tls?: tls.ConnectionOptions;
    login: string;
    passcode: string;
    heartbeatIncomingMs?: number;
    connectTimeoutMs?: number;
    reconnectInitialMs?: number;
    reconnectMaxMs?: number;
    replyTimeoutMs?: number;
}

/** State of one destination's subscription, for node status. */
export type SubscriptionState = "connecting" | "subscribed" | "disconnected" | "refused" | "unauthorized";

/** ActiveMQ's ERROR texts for a failed login, e.g. "User name [x] or password is invalid." */
const LOGIN_REFUSED = /password is invalid|not authori[sz]ed|authentication failed/i;

/** One message destination a node consumes, and where its messages go. */
export interface DestinationListener {
    /** Unique id; the node id of the `resilient-in` node. */
    id: string;
    programmaticName: string;
    destinationType: "queue" | "topic";
    prefetch: number;
    acknowledge: DeliverySettings["acknowledge"];
    processingTimeoutMs: number;
    onInvocation: (invocation: ParsedInvocation, headers: FrameHeaders, messageId: string) => void;
    /** Receives a message that could not be handled, after its error reply (when possible) and ACK. */
    onInvalid: (error: InvalidMessageError, headers: FrameHeaders) => void;
    /** An invocation the flow did not finish in time; it got an error reply. */
    onTimeout: (correlationId: string) => void;
    onState: (state: SubscriptionState, detail?: string) => void;
    onCount: (count: number) => void;
}

/** Events: `state` (connection state, reason), `error` (errors not tied to one listener). */
export interface ActionConsumerEvents {
    state: [ConnectionState, string | undefined];
    error: [Error];
}

/**
 * Consumes a platform's message destinations over one shared broker
 * connection and sends the replies, with the delivery guarantees of
 * `DeliveryTracker`. Knows nothing of Node-RED.
 */
export class ActionConsumer extends EventEmitter<ActionConsumerEvents> {
    public readonly connection: BrokerConnection;
    private readonly tracker: DeliveryTracker;
    private readonly destinations = new Map<string, DestinationListener>();

    public constructor(private readonly settings: ConsumerSettings) {
        super();
        this.connection = new BrokerConnection({
            host: settings.host,
            port: settings.stompPort,
            tls: settings.tls,
            login: settings.login,
            passcode: settings.passcode,
            heartbeatIncomingMs: settings.heartbeatIncomingMs,
            connectTimeoutMs: settings.connectTimeoutMs,
            reconnectInitialMs: settings.reconnectInitialMs,
            reconnectMaxMs: settings.reconnectMaxMs,
        });
        this.tracker = new DeliveryTracker(this.connection, {
            replyTimeoutMs: settings.replyTimeoutMs,
            onCountChange: (id, count) => this.destinations.get(id)?.onCount(count),
            onTimeout: (_messageId, delivery, correlationId) =>
                this.destinations.get(delivery.subscriptionId)?.onTimeout(correlationId),
            onError: (error) => this.emit("error", error),
        });

        this.connection.on("state", (state, reason) => {
            let subscriptionState = state === "connected" ? "connecting" : toSubscriptionState(state);
            if (state === "disconnected" && reason !== undefined && LOGIN_REFUSED.test(reason)) {
                subscriptionState = "unauthorized";
            }
            for (const listener of this.destinations.values()) {
                listener.onState(subscriptionState, reason);
            }
            this.emit("state", state, reason);
        });
        this.connection.on("error", (error) => this.emit("error", error));
    }

    /** Broker destination name, e.g. `/queue/actions.201.ticket`. */
    public destinationFor(programmaticName: string, destinationType: "queue" | "topic"): string {
        return `/${destinationType}/actions.${this.settings.orgId}.${programmaticName}`;
    }

    public get orgId(): number {
        return this.settings.orgId;
    }

    /** Starts consuming a destination; the connection opens with the first listener. */
    public listen(listener: DestinationListener): void {
        if (!PROGRAMMATIC_NAME.test(listener.programmaticName)) {
            throw new TypeError(
                `Invalid programmatic name "${listener.programmaticName}": use letters, digits, underscores and dots, as shown on the platform's message destination.`,
            );
        }
        this.destinations.set(listener.id, listener);
        const delivery: DeliverySettings = {
            subscriptionId: listener.id,
            acknowledge: listener.acknowledge,
            processingTimeoutMs: listener.processingTimeoutMs,
        };
        this.connection.subscribe({
            id: listener.id,
            destination: this.destinationFor(listener.programmaticName, listener.destinationType),
            prefetch: listener.prefetch,
            onMessage: (message) => this.handleMessage(listener, delivery, message),
            onError: (error: BrokerError) => listener.onState("refused", error.message),
            onSubscribed: () => listener.onState("subscribed"),
        });
        listener.onState(this.connection.connected ? "connecting" : toSubscriptionState(this.connection.state));
        this.connection.start();
    }

    /**
     * Stops consuming a destination. Final replies on their way get `drainMs`
     * to be confirmed and ACKed first; messages still in flight are
     * redelivered by the broker later.
     */
    public async unlisten(id: string, drainMs = 2000): Promise<void> {
        this.destinations.delete(id);
        // Replies still waiting for their RECEIPT would ACK after the UNSUBSCRIBE, which the broker ignores.
        await this.tracker.drain(drainMs, id);
        this.connection.unsubscribe(id);
    }

    /** Sends a reply for an invocation in flight on one subscription; see `DeliveryTracker.reply`. */
    public reply(subscriptionId: string, messageId: string, request: ReplyRequest): Promise<void> {
        return this.tracker.reply(trackingKey(subscriptionId, messageId), request);
    }

    /** Returns true while an invocation waits for its final reply. */
    public isInFlight(subscriptionId: string, messageId: string): boolean {
        return this.tracker.isInFlight(trackingKey(subscriptionId, messageId));
    }

    /**
     * Closes the connection within about `drainMs + closeMs`: final replies on
     * their way get `drainMs` to be confirmed and ACKed, then the connection
     * closes. Messages still not ACKed are redelivered by the broker later.
     */
    public async close(drainMs = 2000, closeMs = 3000): Promise<void> {
        this.destinations.clear();
        await this.tracker.drain(drainMs);
        this.tracker.dispose();
        await this.connection.close(closeMs);
    }

    private handleMessage(listener: DestinationListener, delivery: DeliverySettings, message: IMessage): void {
        const headers = message.headers as FrameHeaders;
        const ackId = headers.ack ?? headers["message-id"] ?? "";
        const validUtf8 = message.isBinaryBody ? isUtf8(message.binaryBody) : true;
        const arrival = this.tracker.arrive(delivery, { headers, body: message.body, ackId, validUtf8 });
        switch (arrival.outcome) {
            case "new":
                listener.onInvocation(arrival.invocation, headers, arrival.messageId);
                break;
            case "invalid":
                listener.onInvalid(arrival.error, headers);
                break;
            case "duplicate":
            case "finished":
            case "control":
                break;
        }
    }
}

function toSubscriptionState(state: ConnectionState): SubscriptionState {
    return state === "connecting" ? "connecting" : "disconnected";
}
