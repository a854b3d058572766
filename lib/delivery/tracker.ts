import {
    InvalidMessageError,
    parseMessage,
    type FrameHeaders,
    type ParsedInvocation,
} from "../messages/inbound";
import { buildReplyFrame, MessageType, type OutboundFrame, type ReplyRequest } from "../messages/replies";

/**
 * The broker side the tracker needs: sending with a receipt and ACKing.
 * `generation` changes with every new connection, because an ack id is valid
 * only on the connection that delivered the message.
 */
export interface DeliveryTransport {
    readonly generation: number;
    readonly connected: boolean;
    /**
     * Sends a frame and resolves when the broker's RECEIPT arrives. Rejects if
     * the connection drops first, or with an error whose `refused` is true when
     * the broker refused the frame (sending it again would not help).
     */
    send(frame: OutboundFrame): Promise<void>;
    ack(ackId: string, subscriptionId: string): void;
    /** Resolves once connected; rejects after `timeoutMs` or when the transport closes for good. */
    waitForConnection(timeoutMs: number): Promise<void>;
}

/** Per-subscription delivery settings. */
export interface DeliverySettings {
    subscriptionId: string;
    /** `after-reply` ACKs when the final reply is with the broker; `on-receipt` ACKs on arrival. */
    acknowledge: "after-reply" | "on-receipt";
    /** Milliseconds after which an unanswered invocation gets an error reply; 0 turns it off. */
    processingTimeoutMs: number;
}

/** A MESSAGE frame as the tracker needs it. */
export interface ArrivingFrame {
    headers: FrameHeaders;
    body: string;
    /** The id to ACK with: the `ack` header in STOMP 1.2, else `message-id`. */
    ackId: string;
    /** False when the body bytes were not valid UTF-8. */
    validUtf8?: boolean;
}

/** Outcome of an arriving frame. */
export type Arrival =
    | { outcome: "new"; invocation: ParsedInvocation; messageId: string; key: string }
    | { outcome: "duplicate"; messageId: string }
    | { outcome: "finished"; messageId: string }
    | { outcome: "control"; messageId: string; payloadType: string }
    | { outcome: "invalid"; messageId: string; error: InvalidMessageError; replied: Promise<boolean> };

/** Reason a reply was not sent. */
export type ReplyErrorCode = "unknown-invocation" | "already-complete" | "not-delivered" | "refused";

/** Pause between two attempts to send a final reply after a failure, in milliseconds. */
const RESEND_PAUSE_MS = 200;

/** Key of a message in flight: its broker message-id on one subscription, readable in errors. */
export function trackingKey(subscriptionId: string, messageId: string): string {
    return `${messageId} (subscription ${subscriptionId})`;
}

function isRefusal(error: unknown): boolean {
    return (error as { refused?: unknown } | null)?.refused === true;
}

/** Error raised by `reply()`; `code` is the reason. */
export class ReplyError extends Error {
    public readonly code: ReplyErrorCode;

    public constructor(code: ReplyErrorCode, message: string) {
        super(message);
        this.name = "ReplyError";
        this.code = code;
    }
}

/** Tracker options; the defaults suit production. */
export interface TrackerOptions {
    /** How long a finished message id is remembered, in milliseconds (IBM's framework keeps one hour). */
    finishedTtlMs?: number;
    /** Maximum number of finished message ids remembered. */
    finishedLimit?: number;
    /** How long a final reply waits for a broker connection, in milliseconds. */
    replyTimeoutMs?: number;
    /** Called when an invocation timed out and got an error reply. */
    onTimeout?: (messageId: string, settings: DeliverySettings, correlationId: string) => void;
    /** Called when the in-flight count of a subscription changes. */
    onCountChange?: (subscriptionId: string, count: number) => void;
    /** Called for delivery failures that have no caller to report them to. */
    onError?: (error: Error, messageId: string) => void;
}

interface InFlight {
    /** Tracking key from `trackingKey`. */
    messageId: string;
    settings: DeliverySettings;
    replyTo: string;
    correlationId: string;
    ackId: string;
    ackGeneration: number;
    acked: boolean;
    finalReply: OutboundFrame | undefined;
    /** True once the broker confirmed the final reply with a RECEIPT. */
    replyStored: boolean;
    delivering: Promise<void> | undefined;
    timer: NodeJS.Timeout | undefined;
    arrivedAt: number;
}

interface Finished {
    finalReply: OutboundFrame | undefined;
    finishedAt: number;
}

/**
 * Tracks messages by `message-id` from arrival to ACK and makes each
 * invocation get exactly one final reply.
 *
 * - A redelivered copy of a message in flight is not emitted again; the ACK
 *   uses the newest ack id.
 * - The ACK goes out only after the broker's RECEIPT for the final reply.
 *   A drop in between makes the broker redeliver, and the stored reply is
 *   sent again, so the platform may see a duplicate reply but never a missing one.
 * - A recently finished message that comes back is re-answered and ACKed,
 *   not processed again.
 */
export class DeliveryTracker {
    private readonly inFlight = new Map<string, InFlight>();
    private readonly finished = new Map<string, Finished>();
    /** Re-answers and error replies on their way, which have no in-flight entry. */
    private readonly sideDeliveries = new Set<Promise<unknown>>();
    private readonly finishedTtlMs: number;
    private readonly finishedLimit: number;
    private readonly replyTimeoutMs: number;
    private readonly sweepTimer: NodeJS.Timeout;
    private disposed = false;

    public constructor(
        private readonly transport: DeliveryTransport,
        private readonly options: TrackerOptions = {},
    ) {
        this.finishedTtlMs = options.finishedTtlMs ?? 60 * 60 * 1000;
        this.finishedLimit = options.finishedLimit ?? 10000;
        this.replyTimeoutMs = options.replyTimeoutMs ?? 60 * 1000;
        this.sweepTimer = setInterval(() => this.sweep(), Math.min(60000, this.finishedTtlMs));
        this.sweepTimer.unref();
    }

    /** Number of messages in flight for one subscription, or for all when none is given. */
    public count(subscriptionId?: string): number {
        if (subscriptionId === undefined) {
            return this.inFlight.size;
        }
        let count = 0;
        for (const entry of this.inFlight.values()) {
            if (entry.settings.subscriptionId === subscriptionId) {
                count += 1;
            }
        }
        return count;
    }

    /** Returns true while the message waits for its final reply. */
    public isInFlight(key: string): boolean {
        const entry = this.inFlight.get(key);
        return entry !== undefined && entry.finalReply === undefined;
    }

    /**
     * Handles one MESSAGE frame and returns whether the flow should see it.
     * Invalid and control messages are answered (when possible) and ACKed here.
     */
    public arrive(settings: DeliverySettings, frame: ArrivingFrame): Arrival {
        const messageId = frame.headers["message-id"] ?? frame.ackId;
        // Each subscription gets its own copy of a topic message under the same message-id.
        const key = trackingKey(settings.subscriptionId, messageId);

        const current = this.inFlight.get(key);
        if (current) {
            this.handleRedelivery(current, frame.ackId);
            return { outcome: "duplicate", messageId };
        }

        const done = this.finished.get(key);
        if (done) {
            this.reanswer(settings, key, frame.ackId, done);
            return { outcome: "finished", messageId };
        }

        let parsed;
        try {
            parsed = parseMessage(frame.headers, frame.body, { validUtf8: frame.validUtf8 });
        } catch (error) {
            if (!(error instanceof InvalidMessageError)) {
                throw error;
            }
            const replied = this.rejectInvalid(settings, key, frame, error);
            return { outcome: "invalid", messageId, error, replied };
        }

        if (parsed.kind === "control") {
            this.transport.ack(frame.ackId, settings.subscriptionId);
            this.remember(key, undefined);
            return { outcome: "control", messageId, payloadType: parsed.payloadType };
        }

        const entry: InFlight = {
            messageId: key,
            settings,
            replyTo: parsed.replyTo,
            correlationId: parsed.correlationId,
            ackId: frame.ackId,
            ackGeneration: this.transport.generation,
            acked: false,
            finalReply: undefined,
            replyStored: false,
            delivering: undefined,
            timer: undefined,
            arrivedAt: Date.now(),
        };
        if (settings.acknowledge === "on-receipt") {
            this.transport.ack(frame.ackId, settings.subscriptionId);
            entry.acked = true;
        }
        if (settings.processingTimeoutMs > 0) {
            entry.timer = setTimeout(() => this.expire(entry), settings.processingTimeoutMs);
        }
        this.inFlight.set(key, entry);
        this.notifyCount(settings.subscriptionId);
        return { outcome: "new", invocation: parsed, messageId, key };
    }

    /**
     * Sends a reply for an invocation in flight. A final reply (`complete`)
     * resolves once it is with the broker; the message is ACKed after that.
     * `key` comes from `trackingKey`. Throws `ReplyError` for an unknown
     * invocation, for any reply after the final one, when the broker refuses
     * the reply, and when the broker stays unreachable.
     */
    public async reply(key: string, request: ReplyRequest): Promise<void> {
        const entry = this.inFlight.get(key);
        if (!entry) {
            if (this.finished.has(key)) {
                throw new ReplyError("already-complete", `The invocation of message ${key} is already complete.`);
            }
            throw new ReplyError(
                "unknown-invocation",
                `No invocation for message ${key} is in flight; it timed out, was handled by another ` +
                    "connection, or the platform connection was restarted.",
            );
        }
        if (entry.finalReply) {
            throw new ReplyError(
                "already-complete",
                `The invocation ${entry.correlationId} already has its final reply; a second one is not sent.`,
            );
        }

        const frame = buildReplyFrame(entry.replyTo, entry.correlationId, request);
        if (!request.complete) {
            await this.sendInterim(entry, frame);
            return;
        }

        entry.finalReply = frame;
        if (entry.timer) {
            clearTimeout(entry.timer);
            entry.timer = undefined;
        }
        await this.deliverFinal(entry);
    }

    /**
     * Waits up to `timeoutMs` for final replies already on their way to get
     * their RECEIPT and ACK, so that a clean shutdown does not make the broker
     * redeliver invocations that are finished. With a `subscriptionId`, waits
     * only for that subscription's final replies (plus every error reply and
     * re-answer, which are short).
     */
    public async drain(timeoutMs: number, subscriptionId?: string): Promise<void> {
        const deliveries = [...this.inFlight.values()]
            .filter((entry) => subscriptionId === undefined || entry.settings.subscriptionId === subscriptionId)
            .map((entry) => entry.delivering as Promise<unknown> | undefined)
            .concat([...this.sideDeliveries])
            .filter((delivering): delivering is Promise<unknown> => delivering !== undefined)
            .map((delivering) => delivering.catch(() => undefined));
        if (deliveries.length === 0) {
            return;
        }
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, timeoutMs);
        });
        await Promise.race([Promise.all(deliveries), expired]);
        clearTimeout(timer);
    }

    /** Stops timers and drops the messages in flight, which the broker redelivers after the connection closes. */
    public dispose(): void {
        this.disposed = true;
        clearInterval(this.sweepTimer);
        for (const entry of this.inFlight.values()) {
            if (entry.timer) {
                clearTimeout(entry.timer);
            }
        }
        const subscriptions = new Set([...this.inFlight.values()].map((entry) => entry.settings.subscriptionId));
        this.inFlight.clear();
        for (const subscriptionId of subscriptions) {
            this.notifyCount(subscriptionId);
        }
    }

    private handleRedelivery(entry: InFlight, ackId: string): void {
        entry.ackId = ackId;
        entry.ackGeneration = this.transport.generation;
        if (entry.settings.acknowledge === "on-receipt") {
            // The earlier ACK was lost with its connection.
            this.transport.ack(ackId, entry.settings.subscriptionId);
            entry.acked = true;
        } else {
            entry.acked = false;
        }
        if (entry.finalReply && !entry.delivering) {
            this.startDelivery(entry);
        }
    }

    private reanswer(settings: DeliverySettings, messageId: string, ackId: string, done: Finished): void {
        const generation = this.transport.generation;
        const send = done.finalReply ? this.transport.send(done.finalReply) : Promise.resolve();
        this.trackSide(send);
        send.then(
            () => {
                if (this.transport.generation === generation) {
                    this.transport.ack(ackId, settings.subscriptionId);
                }
            },
            (error: Error) => {
                if (isRefusal(error) && this.transport.generation === generation) {
                    this.transport.ack(ackId, settings.subscriptionId);
                }
                this.options.onError?.(error, messageId);
            },
        );
    }

    private rejectInvalid(
        settings: DeliverySettings,
        messageId: string,
        frame: ArrivingFrame,
        error: InvalidMessageError,
    ): Promise<boolean> {
        const replyTo = frame.headers["reply-to"];
        const correlationId = frame.headers["correlation-id"];
        if (!replyTo || !correlationId) {
            this.transport.ack(frame.ackId, settings.subscriptionId);
            this.remember(messageId, undefined);
            return Promise.resolve(false);
        }
        const reply = buildReplyFrame(replyTo, correlationId, {
            messageType: MessageType.Error,
            message: `The action processor could not handle this message: ${error.message}`,
            complete: true,
        });
        const generation = this.transport.generation;
        this.remember(messageId, reply);
        return this.trackSide(this.transport.send(reply)).then(
            () => {
                if (this.transport.generation === generation) {
                    this.transport.ack(frame.ackId, settings.subscriptionId);
                }
                return true;
            },
            (sendError: Error) => {
                if (isRefusal(sendError) && this.transport.generation === generation) {
                    // The error reply can never be delivered; ACK so that the message does not loop.
                    this.transport.ack(frame.ackId, settings.subscriptionId);
                    this.remember(messageId, undefined);
                }
                // Otherwise not ACKed: the broker redelivers the message, and the finished entry re-answers it.
                this.options.onError?.(sendError, messageId);
                return false;
            },
        );
    }

    private trackSide<T>(promise: Promise<T>): Promise<T> {
        this.sideDeliveries.add(promise);
        const forget = () => this.sideDeliveries.delete(promise);
        promise.then(forget, forget);
        return promise;
    }

    private async sendInterim(entry: InFlight, frame: OutboundFrame): Promise<void> {
        try {
            await this.transport.waitForConnection(this.replyTimeoutMs);
            await this.transport.send(frame);
        } catch (error) {
            throw new ReplyError(
                "not-delivered",
                `The status reply for ${entry.correlationId} was not delivered: ${(error as Error).message}`,
            );
        }
    }

    private startDelivery(entry: InFlight): Promise<void> {
        const delivering = this.deliverFinal(entry);
        delivering.catch((error: Error) => this.options.onError?.(error, entry.messageId));
        return delivering;
    }

    private deliverFinal(entry: InFlight): Promise<void> {
        if (!entry.delivering) {
            entry.delivering = this.runDelivery(entry).finally(() => {
                entry.delivering = undefined;
            });
        }
        return entry.delivering;
    }

    private async runDelivery(entry: InFlight): Promise<void> {
        const frame = entry.finalReply as OutboundFrame;
        const deadline = Date.now() + this.replyTimeoutMs;
        while (!entry.replyStored) {
            if (this.disposed) {
                throw new ReplyError("not-delivered", `The final reply for ${entry.correlationId} was not sent because the platform connection closed.`);
            }
            const remaining = deadline - Date.now();
            try {
                await this.transport.waitForConnection(Math.max(remaining, 1));
            } catch (error) {
                throw new ReplyError(
                    "not-delivered",
                    `The final reply for ${entry.correlationId} was not delivered within ${Math.round(this.replyTimeoutMs / 1000)} s: ` +
                        `${(error as Error).message}. It is kept and sent when the broker redelivers the message.`,
                );
            }
            try {
                await this.transport.send(frame);
                entry.replyStored = true;
            } catch (error) {
                if (isRefusal(error)) {
                    this.abandonRefused(entry);
                    throw new ReplyError(
                        "refused",
                        `The broker refused the final reply for ${entry.correlationId} to ${entry.replyTo}: ${(error as Error).message}. ` +
                            "The message was acknowledged so that it does not loop; grant the API key write access to the reply queue.",
                    );
                }
                // The connection dropped before the RECEIPT; send again on the next connection.
                await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS));
            }
        }
        this.acknowledgeFinished(entry);
    }

    /** ACKs and drops a message whose final reply the broker refused, as IBM's framework ACKs failed work. */
    private abandonRefused(entry: InFlight): void {
        if (!entry.acked && entry.ackGeneration === this.transport.generation) {
            this.transport.ack(entry.ackId, entry.settings.subscriptionId);
            entry.acked = true;
        }
        this.inFlight.delete(entry.messageId);
        this.remember(entry.messageId, undefined);
        this.notifyCount(entry.settings.subscriptionId);
    }

    private acknowledgeFinished(entry: InFlight): void {
        if (!entry.acked) {
            if (entry.ackGeneration !== this.transport.generation || !this.transport.connected) {
                // The ack id belongs to a closed connection. The broker redelivers the
                // message, and handleRedelivery ACKs the new copy: the reply is already stored.
                return;
            }
            this.transport.ack(entry.ackId, entry.settings.subscriptionId);
            entry.acked = true;
        }
        this.inFlight.delete(entry.messageId);
        this.remember(entry.messageId, entry.finalReply);
        this.notifyCount(entry.settings.subscriptionId);
    }

    private expire(entry: InFlight): void {
        entry.timer = undefined;
        if (entry.finalReply || !this.inFlight.has(entry.messageId)) {
            return;
        }
        const seconds = Math.round(entry.settings.processingTimeoutMs / 1000);
        this.reply(entry.messageId, {
            messageType: MessageType.Error,
            message: `The action processor did not finish within ${seconds} s, so the invocation was ended with this error.`,
            complete: true,
        }).catch((error: Error) => this.options.onError?.(error, entry.messageId));
        this.options.onTimeout?.(entry.messageId, entry.settings, entry.correlationId);
    }

    private remember(messageId: string, finalReply: OutboundFrame | undefined): void {
        this.finished.delete(messageId);
        this.finished.set(messageId, { finalReply, finishedAt: Date.now() });
        while (this.finished.size > this.finishedLimit) {
            const oldest = this.finished.keys().next().value as string;
            this.finished.delete(oldest);
        }
    }

    private sweep(): void {
        const now = Date.now();
        for (const [messageId, done] of this.finished) {
            if (now - done.finishedAt < this.finishedTtlMs) {
                break;
            }
            this.finished.delete(messageId);
        }
        // Two kinds of entry would otherwise stay for ever: a stored reply whose message went to
        // another consumer after a reconnect, and a message ACKed on receipt that the flow never answered.
        for (const entry of this.inFlight.values()) {
            const orphaned = entry.replyStored && !entry.acked;
            const abandoned = entry.acked && entry.finalReply === undefined;
            if ((orphaned || abandoned) && now - entry.arrivedAt > this.finishedTtlMs) {
                if (entry.timer) {
                    clearTimeout(entry.timer);
                }
                this.inFlight.delete(entry.messageId);
                if (orphaned) {
                    this.remember(entry.messageId, entry.finalReply);
                }
                this.notifyCount(entry.settings.subscriptionId);
            }
        }
    }

    private notifyCount(subscriptionId: string): void {
        this.options.onCountChange?.(subscriptionId, this.count(subscriptionId));
    }
}
