import { EventEmitter } from "node:events";
import type { SimulatorLogger } from "./log";

/** Action Status values, as the platform's Action Status page names them. */
export type InvocationStatus = "Pending" | "Completed" | "Error" | "Timed Out";

/** One reply a processor sent to the invocation's `reply-to` queue. */
export interface Reply {
    /** Epoch milliseconds at which the simulator recorded the reply. */
    receivedAt: number;
    /** `json` for an ActionAcknowledgementDTO body, `text` for a plain-text reply. */
    format: "json" | "text";
    /** 0 information, 1 error, 2 warning; null when the reply was invalid. */
    messageType: 0 | 1 | 2 | null;
    /** The message shown on Action Status. */
    text: string;
    complete: boolean;
    /** Function results, when the reply carried them. */
    results?: unknown;
    /** Reason the reply was rejected as invalid. An invalid reply changes no status. */
    problem?: string;
    /** The reply frame's headers as received. */
    headers: Record<string, string>;
    /** The reply body as received. */
    body: string;
}

/** One change of an invocation's status. */
export interface StatusChange {
    status: InvocationStatus;
    at: number;
    reason: string;
}

/** An action invocation: one message sent to one destination, and what came back. */
export interface Invocation {
    id: number;
    /** `invid:<id>`, the message's `correlation-id`. */
    correlationId: string;
    kind: "rule" | "function" | "raw";
    orgId: number;
    ruleId?: number;
    ruleName?: string;
    functionName?: string;
    incidentId?: number;
    /** Programmatic name of the message destination. */
    destination: string;
    /** Full STOMP destination the message went to, e.g. `/queue/actions.201.ticket`. */
    brokerDestination: string;
    /** The message's `reply-to`, or null when it was sent without one. */
    replyTo: string | null;
    expectAck: boolean;
    contextToken: string | null;
    /** The message as sent: custom headers (without the broker's `persistent` and `receipt`) and body. */
    message: { headers: Record<string, string>; body: string };
    createdAt: number;
    /** When the broker confirmed the message with a RECEIPT; null until then. */
    sentAt: number | null;
    status: InvocationStatus;
    statusHistory: StatusChange[];
    replies: Reply[];
    /** Number of replies with `complete: true`, including ones after the first. */
    completions: number;
}

/** Fields the creator of an invocation supplies. */
export type NewInvocation = Omit<Invocation, "id" | "correlationId" | "createdAt" | "sentAt" | "status" | "statusHistory" | "replies" | "completions">;

/**
 * Keeps the simulator's Action Status: invocations, their replies and
 * status changes, the timeout of unanswered ones, and waiters for tests.
 *
 * Status rules: an invocation starts Pending. On a destination that expects
 * no acknowledgement it turns Completed once the broker has the message. On
 * one that does, the first complete reply decides: message_type 1 is Error,
 * 0 and 2 are Completed. Later complete replies are recorded and counted in
 * `completions` but change nothing. With no complete reply within the
 * timeout the status turns Timed Out.
 */
export class InvocationTracker {
    private readonly invocations = new Map<number, Invocation>();
    private readonly timers = new Map<number, NodeJS.Timeout>();
    private readonly events = new EventEmitter();
    private nextId: number;

    /**
     * @param timeoutMs how long an invocation on a destination that expects
     *   an acknowledgement may stay Pending after it was sent.
     * @param firstId id of the first invocation.
     */
    public constructor(private readonly timeoutMs: number, firstId: number, private readonly logger: SimulatorLogger) {
        this.nextId = firstId;
        this.events.setMaxListeners(0);
    }

    /** Reserves the next invocation id, used in the correlation id and the context token. */
    public reserveId(): number {
        return this.nextId++;
    }

    /** Records a new Pending invocation under an id from `reserveId`. */
    public create(id: number, fields: NewInvocation): Invocation {
        const now = Date.now();
        const invocation: Invocation = {
            ...fields,
            id,
            correlationId: `invid:${id}`,
            createdAt: now,
            sentAt: null,
            status: "Pending",
            statusHistory: [{ status: "Pending", at: now, reason: "created" }],
            replies: [],
            completions: 0,
        };
        this.invocations.set(id, invocation);
        this.emitChange(invocation);
        return invocation;
    }

    /** Marks the message as accepted by the broker and starts the acknowledgement timeout. */
    public markSent(id: number): void {
        const invocation = this.invocations.get(id);
        if (!invocation) {
            return;
        }
        invocation.sentAt = Date.now();
        if (!invocation.expectAck) {
            this.setStatus(invocation, "Completed", "sent to a destination that expects no acknowledgement");
            return;
        }
        if (invocation.status === "Pending") {
            const timer = setTimeout(() => this.timeOut(id), this.timeoutMs);
            timer.unref();
            this.timers.set(id, timer);
        }
    }

    /** Marks an invocation whose message could not be sent. */
    public markSendFailed(id: number, reason: string): void {
        const invocation = this.invocations.get(id);
        if (invocation && invocation.status === "Pending") {
            this.setStatus(invocation, "Error", `sending failed: ${reason}`);
        }
    }

    /** Looks up an invocation by its `correlation-id` header value. */
    public byCorrelationId(correlationId: string | undefined): Invocation | undefined {
        const match = /^invid:(\d+)$/.exec(correlationId ?? "");
        return match ? this.invocations.get(Number(match[1])) : undefined;
    }

    /** Records a reply and applies the status rules. */
    public recordReply(invocation: Invocation, reply: Reply): void {
        invocation.replies.push(reply);
        if (!reply.problem && reply.complete) {
            invocation.completions += 1;
            if (invocation.status === "Pending") {
                const status = reply.messageType === 1 ? "Error" : "Completed";
                this.setStatus(invocation, status, `complete reply with message_type ${reply.messageType}`);
            }
        }
        this.emitChange(invocation);
    }

    /** Returns a copy of one invocation. */
    public get(id: number): Invocation | undefined {
        const invocation = this.invocations.get(id);
        return invocation ? structuredClone(invocation) : undefined;
    }

    /** Returns copies of every invocation, oldest first. */
    public list(): Invocation[] {
        return [...this.invocations.values()].map((invocation) => structuredClone(invocation));
    }

    /** Resolves with the invocation once `done` holds for it; rejects after `timeoutMs`. */
    public waitFor(id: number, done: (invocation: Invocation) => boolean, what: string, timeoutMs: number): Promise<Invocation> {
        return new Promise((resolve, reject) => {
            const check = (invocation: Invocation): boolean => {
                if (invocation.id !== id || !done(invocation)) {
                    return false;
                }
                cleanup();
                resolve(structuredClone(invocation));
                return true;
            };
            const onChange = (invocation: Invocation): void => {
                check(invocation);
            };
            const timer = setTimeout(() => {
                cleanup();
                const current = this.invocations.get(id);
                const state = current ? `status ${current.status}, ${current.replies.length} replies` : "no such invocation";
                reject(new Error(`Timed out after ${timeoutMs} ms waiting for invocation ${id} to reach ${what} (${state}).`));
            }, timeoutMs);
            const cleanup = (): void => {
                clearTimeout(timer);
                this.events.off("change", onChange);
            };
            this.events.on("change", onChange);
            const current = this.invocations.get(id);
            if (current) {
                check(current);
            }
        });
    }

    /** Stops every timeout timer; pending invocations keep their status. */
    public dispose(): void {
        for (const timer of this.timers.values()) {
            clearTimeout(timer);
        }
        this.timers.clear();
    }

    private timeOut(id: number): void {
        this.timers.delete(id);
        const invocation = this.invocations.get(id);
        if (invocation && invocation.status === "Pending") {
            this.setStatus(invocation, "Timed Out", `no complete reply within ${this.timeoutMs} ms`);
            this.logger.warn(`${invocation.correlationId} timed out: no complete reply within ${this.timeoutMs} ms.`);
        }
    }

    private setStatus(invocation: Invocation, status: InvocationStatus, reason: string): void {
        invocation.status = status;
        invocation.statusHistory.push({ status, at: Date.now(), reason });
        const timer = this.timers.get(invocation.id);
        if (timer && status !== "Pending") {
            clearTimeout(timer);
            this.timers.delete(invocation.id);
        }
        this.emitChange(invocation);
    }

    private emitChange(invocation: Invocation): void {
        this.events.emit("change", invocation);
    }
}
