import type { IMessage } from "@stomp/stompjs";
import { ActionModuleLink, type BrokerConnectionOptions } from "./action-module";
import { matchAutomaticRules } from "./automatic-rules";
import { ContextTokenIssuer } from "./context-token";
import { InvocationTracker, type Invocation, type InvocationStatus, type Reply } from "./invocations";
import { SimulatorHttpServer, type HttpServerOptions } from "./http";
import { consoleLogger, type SimulatorLogger } from "./log";
import { buildActionData, buildFunctionData, normalizeActivityProperties, type RuleObject } from "./messages";
import type { Incident, JsonObject, MessageDestination, Rule } from "./model";
import { parseReply } from "./replies";
import { DEFAULT_CREDENTIALS, SessionStore, type RestCredentials } from "./rest/auth";
import type { IncidentChange } from "./rest/context";
import { FaultInjector } from "./rest/faults";
import { restRoutes } from "./rest/index";
import { platformErrorBody } from "./rest/platform-error";
import { InvalidRequestError, NotFoundError, UnavailableError } from "./errors";
import { simRoutes } from "./sim-routes";
import { PlatformState } from "./state";

/** The platform's acknowledgement timeout: 24 hours. */
export const DEFAULT_ACK_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** Settings of a simulator instance. */
export interface SimulatorOptions {
    /** Broker to drive; without it the simulator cannot fire rules or functions. */
    broker?: BrokerConnectionOptions;
    /** HTTP server for the `/sim/` control API and the `/rest/` API; `false` runs none (default: 127.0.0.1, free port). */
    http?: HttpServerOptions | false;
    /**
     * Whether to consume the reply queues (default true). Turn it off for a
     * second simulator on the same broker, which would otherwise take
     * replies meant for the first.
     */
    consumeReplies?: boolean;
    /** Logins of the REST API (default DEFAULT_CREDENTIALS). */
    credentials?: RestCredentials;
    /** Idle timeout of REST sessions in seconds; the orgs' `session_timeout` (1200) when absent. */
    sessionTimeoutSeconds?: number;
    /** How long an invocation that expects an acknowledgement may stay Pending, in milliseconds. */
    ackTimeoutMs?: number;
    /**
     * Id of the first invocation. The default comes from the clock, so a new
     * simulator does not reuse the correlation ids of replies that an earlier
     * run left in the broker's persistent reply queues.
     */
    firstInvocationId?: number;
    /** How long `start` waits for the first broker connection, in milliseconds; 0 does not wait (default 30000). */
    brokerWaitMs?: number;
    logger?: SimulatorLogger;
}

/** Options of `fireRule`. */
export interface FireRuleOptions {
    incidentId: number;
    /** Id of the task, note, artifact or attachment for rules on those objects; the incident's first one when absent. */
    objectId?: number;
    /** Activity-field values by API name; select values as id or label. */
    properties?: JsonObject;
    /** User who fires the rule (default 7, Ada Ops). */
    userId?: number;
}

/** Options of `fireFunction`. */
export interface FireFunctionOptions {
    /** Input values by API name; select values as id, name or `{id, name}`. */
    inputs?: JsonObject;
    /** Org of the function (default 201). */
    orgId?: number;
    /** User the message names as principal (default 7, Ada Ops). */
    userId?: number;
}

/** Options of `sendRaw`, for messages a correct platform would never send. */
export interface RawMessageOptions {
    /** Org of the destination (default 201). */
    orgId?: number;
    /** A programmatic name of the org, or a full STOMP destination such as `/queue/actions.201.ticket`. */
    destination: string;
    body: string;
    /** Headers added to (or replacing) the usual ones. */
    headers?: Record<string, string>;
    /** Usual headers to leave out, e.g. `reply-to`. */
    omitHeaders?: string[];
    /** Send only `headers`, none of the usual ones. */
    bare?: boolean;
}

/** The outcome of one automatic rule that matched an incident change. */
export interface AutomaticRuleEvaluation {
    at: number;
    ruleId: number;
    incidentId: number;
    operation: "created" | "modified";
    /** `fired`, or why not: the change carried the rule's own context token, or no broker is configured. */
    outcome: "fired" | "suppressed by context token" | "no broker";
    /** Ids of the invocations the rule created, when it fired. */
    invocationIds: number[];
}

/** An invocation whose message is on its way to the broker. */
export interface StartedInvocation {
    invocation: Invocation;
    /** Resolves when the broker has confirmed the message; rejects when sending failed. */
    sent: Promise<void>;
}

const OBJECT_STORES: Record<number, { key: RuleObject["key"]; store: "tasks" | "comments" | "artifacts" | "attachments" }> = {
    1: { key: "task", store: "tasks" },
    2: { key: "note", store: "comments" },
    4: { key: "artifact", store: "artifacts" },
    5: { key: "attachment", store: "attachments" },
};

/**
 * A stand-in for the platform's Action Module: builds rule and function
 * messages, sends them to `actions.<org>.<destination>` on a real broker,
 * and keeps Action Status from the replies on `acks.<org>.<destination>`.
 */
export class Simulator {
    /** Orgs, incidents, rules and the rest of the simulated platform's data. */
    public readonly state = new PlatformState();
    /** Issues and recognizes the messages' context tokens. */
    public readonly tokens = new ContextTokenIssuer();
    /** REST sessions; tests may expire them. */
    public readonly sessions: SessionStore;
    /** Faults for tests of REST clients. */
    public readonly faults = new FaultInjector();

    private readonly tracker: InvocationTracker;
    private readonly link: ActionModuleLink | undefined;
    private readonly server: SimulatorHttpServer | undefined;
    private readonly logger: SimulatorLogger;
    private readonly orphans: Reply[] = [];
    private readonly seenReplyIds = new Set<string>();
    private readonly evaluations: AutomaticRuleEvaluation[] = [];

    public constructor(private readonly options: SimulatorOptions = {}) {
        this.logger = options.logger ?? consoleLogger;
        this.sessions = new SessionStore(this.state, options.credentials ?? DEFAULT_CREDENTIALS, options.sessionTimeoutSeconds);
        this.tracker = new InvocationTracker(options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS, options.firstInvocationId ?? clockBasedFirstId(), this.logger);
        if (options.broker) {
            this.link = new ActionModuleLink({
                ...options.broker,
                logger: this.logger,
                replyQueues: () => (options.consumeReplies === false ? [] : this.replyQueues()),
                onReply: (message) => this.handleReply(message),
            });
        }
        if (options.http !== false) {
            this.server = new SimulatorHttpServer(options.http ?? {}, this.logger);
            this.server.mount({ prefix: "/sim", router: simRoutes(this), errorBody: (_status, message) => ({ error: message }) });
            const rest = restRoutes({
                state: this.state,
                sessions: this.sessions,
                tokens: this.tokens,
                faults: this.faults,
                logger: this.logger,
                onIncidentChange: (change) => this.fireAutomaticRules(change),
            });
            this.server.mount({ prefix: "/rest", router: rest, errorBody: (_status, message) => platformErrorBody(message) });
        }
    }

    /** Base URL of the HTTP server, e.g. `http://127.0.0.1:40123`; valid after `start`. */
    public get url(): string {
        if (!this.server) {
            throw new Error("The simulator runs without an HTTP server.");
        }
        return this.server.url;
    }

    /** True while the broker link is up. */
    public get brokerConnected(): boolean {
        return this.link?.connected ?? false;
    }

    /** Starts the HTTP server, connects to the broker and, unless `brokerWaitMs` is 0, waits for the first connection. */
    public async start(): Promise<void> {
        await this.server?.listen();
        if (!this.link) {
            return;
        }
        this.link.start();
        const waitMs = this.options.brokerWaitMs ?? 30000;
        if (waitMs > 0) {
            await this.link.whenConnected(waitMs);
        }
    }

    /** Closes the HTTP server, disconnects from the broker and stops the timeout timers. */
    public async stop(): Promise<void> {
        this.tracker.dispose();
        await Promise.all([this.server?.close(), this.link?.stop()]);
    }

    /**
     * Fires a rule on an incident (or one of its objects) and resolves, once
     * the broker has each message, with one invocation per destination.
     */
    public async fireRule(ruleId: number, options: FireRuleOptions): Promise<Invocation[]> {
        const started = this.startRule(ruleId, options);
        await Promise.all(started.map((entry) => entry.sent));
        return started.map((entry) => this.invocation(entry.invocation.id) as Invocation);
    }

    /** Fires a function and resolves with its invocation once the broker has the message. */
    public async fireFunction(name: string, options: FireFunctionOptions = {}): Promise<Invocation> {
        const started = this.startFunction(name, options);
        await started.sent;
        return this.invocation(started.invocation.id) as Invocation;
    }

    /** Sends a hand-made message, tracked like an invocation, and resolves once the broker has it. */
    public async sendRaw(options: RawMessageOptions): Promise<Invocation> {
        const started = this.startRaw(options);
        await started.sent;
        return this.invocation(started.invocation.id) as Invocation;
    }

    /** Builds and queues the messages of a rule; `sent` resolves when the broker has them. */
    public startRule(ruleId: number, options: FireRuleOptions, operation: "created" | "modified" | null = null): StartedInvocation[] {
        return this.startRuleAs(ruleId, options, this.state.userDto(options.userId ?? 7), operation);
    }

    private startRuleAs(ruleId: number, options: FireRuleOptions, user: JsonObject, operation: "created" | "modified" | null): StartedInvocation[] {
        const rule = this.state.rule(ruleId);
        if (!rule.enabled) {
            throw new InvalidRequestError(`Rule ${rule.id} "${rule.name}" is disabled.`);
        }
        const incident = this.state.incident(rule.org_id, options.incidentId);
        const object = this.ruleObject(rule, incident, options.objectId);
        const properties = normalizeActivityProperties(rule, this.state.catalog, options.properties);
        const body = buildActionData({ rule, catalog: this.state.catalog, incident, object, properties, user, operation });

        return rule.message_destinations.map((destinationId) =>
            this.dispatch(this.state.destination(destinationId), JSON.stringify(body), "ActionDataDTO", [rule.id], {
                kind: "rule",
                ruleId: rule.id,
                ruleName: rule.name,
                incidentId: incident.id,
            }),
        );
    }

    /** Builds and queues a function message; `sent` resolves when the broker has it. */
    public startFunction(name: string, options: FireFunctionOptions = {}): StartedInvocation {
        const fn = this.state.functionByName(options.orgId ?? 201, name);
        const destination = this.state.destination(fn.destination_handle);
        const user = this.state.user(options.userId ?? 7);
        const principal = { id: user.id, type: "user", name: user.email, display_name: `${user.fname} ${user.lname}` };
        const id = this.tracker.reserveId();
        const body = buildFunctionData({
            fn,
            destination,
            catalog: this.state.catalog,
            inputs: options.inputs ?? {},
            workflowInstanceId: id,
            principal,
        });
        return this.dispatch(destination, JSON.stringify(body), "FunctionDataDTO", [], { kind: "function", functionName: fn.name }, id);
    }

    /** Builds and queues a hand-made message; `sent` resolves when the broker has it. */
    public startRaw(options: RawMessageOptions): StartedInvocation {
        const orgId = options.orgId ?? 201;
        const fullPath = options.destination.startsWith("/");
        const destination = fullPath ? undefined : this.state.destinationByName(orgId, options.destination);
        if (!fullPath && !destination) {
            throw new NotFoundError(`Org ${orgId} has no message destination "${options.destination}".`);
        }
        const programmaticName = destination?.programmatic_name ?? options.destination.replace(/^\/(queue|topic)\/(actions\.\d+\.)?/, "");
        const brokerDestination = destination ? brokerPath(destination) : options.destination;
        const id = this.tracker.reserveId();

        let headers: Record<string, string> = {};
        if (!options.bare) {
            headers = this.usualHeaders(id, orgId, programmaticName, "ActionDataDTO", []);
        }
        for (const name of options.omitHeaders ?? []) {
            delete headers[name];
        }
        Object.assign(headers, options.headers ?? {});

        return this.send(id, brokerDestination, headers, options.body, {
            kind: "raw",
            orgId,
            destination: programmaticName,
            expectAck: destination?.expect_ack ?? false,
        });
    }

    /** Returns a copy of one invocation, or undefined. */
    public invocation(id: number): Invocation | undefined {
        return this.tracker.get(id);
    }

    /** Returns copies of all invocations, oldest first. */
    public invocations(): Invocation[] {
        return this.tracker.list();
    }

    /** Replies whose `correlation-id` matched no invocation, oldest first. */
    public orphanReplies(): Reply[] {
        return structuredClone(this.orphans);
    }

    /** Automatic rules that matched REST changes, with whether they fired, oldest first (the last 1000). */
    public automaticRuleEvaluations(): AutomaticRuleEvaluation[] {
        return structuredClone(this.evaluations);
    }

    /** Makes the next `count` REST PUTs on the incident fail with 409, as if another user saved it first. */
    public forceIncidentConflicts(incidentId: number, count: number): void {
        this.faults.forceIncidentConflicts(incidentId, count);
    }

    /** Makes the HTTP server close the connection after each of the next `count` REST responses. */
    public closeConnectionsAfterResponses(count: number): void {
        this.faults.closeConnectionsAfterResponses(count);
    }

    /** Expires every REST session now and returns how many there were. */
    public expireSessions(): number {
        return this.sessions.expireAll();
    }

    /** Resolves when the invocation has the status; rejects after `timeoutMs`. */
    public waitForStatus(id: number, status: InvocationStatus, timeoutMs = 10000): Promise<Invocation> {
        return this.tracker.waitFor(id, (invocation) => invocation.status === status, `status ${status}`, timeoutMs);
    }

    /** Resolves when the invocation has at least `count` replies; rejects after `timeoutMs`. */
    public waitForReplies(id: number, count: number, timeoutMs = 10000): Promise<Invocation> {
        return this.tracker.waitFor(id, (invocation) => invocation.replies.length >= count, `${count} replies`, timeoutMs);
    }

    /**
     * Fires the automatic rules that match a REST change of an incident,
     * except rules named in the change's context token: that is the
     * platform's guard against a processor re-firing its own rule.
     */
    private fireAutomaticRules(change: IncidentChange): void {
        const incident = this.state.incident(change.orgId, change.incidentId);
        for (const rule of matchAutomaticRules(this.state, change, incident)) {
            const evaluation: AutomaticRuleEvaluation = {
                at: Date.now(),
                ruleId: rule.id,
                incidentId: incident.id,
                operation: change.operation,
                outcome: "fired",
                invocationIds: [],
            };
            if (change.claims?.ruleIds.includes(rule.id)) {
                evaluation.outcome = "suppressed by context token";
                this.logger.info(`Rule ${rule.id} "${rule.name}" not fired for incident ${incident.id}: the change carried the context token of its own invocation ${change.claims.invocationId}.`);
            } else if (!this.link) {
                evaluation.outcome = "no broker";
                this.logger.warn(`Rule ${rule.id} "${rule.name}" matched incident ${incident.id}, but the simulator has no broker to send to.`);
            } else {
                const started = this.startRuleAs(rule.id, { incidentId: incident.id }, this.changeAuthor(change), change.operation);
                evaluation.invocationIds = started.map((entry) => entry.invocation.id);
            }
            this.evaluations.push(evaluation);
            if (this.evaluations.length > 1000) {
                this.evaluations.shift();
            }
        }
    }

    private changeAuthor(change: IncidentChange): JsonObject {
        if (change.principal.kind === "user") {
            return this.state.userDto(change.principal.user.id);
        }
        const key = change.principal.key;
        return { ...this.state.userDto(7), id: key.handle, fname: key.displayName, lname: "", email: null };
    }

    private ruleObject(rule: Rule, incident: Incident, objectId: number | undefined): RuleObject | undefined {
        if (rule.object_type === 0) {
            return undefined;
        }
        const mapping = OBJECT_STORES[rule.object_type];
        if (!mapping) {
            throw new InvalidRequestError(`Rule ${rule.id} is on object type ${rule.object_type}, which the simulator cannot fire.`);
        }
        const objects = this.state[mapping.store].get(incident.id) ?? [];
        const value = objectId === undefined ? objects[0] : objects.find((entry) => entry.id === objectId);
        if (!value) {
            const missing = objectId === undefined ? mapping.key : `${mapping.key} ${objectId}`;
            throw new NotFoundError(`Incident ${incident.id} has no ${missing} for rule ${rule.id} "${rule.name}".`);
        }
        return { key: mapping.key, value };
    }

    private dispatch(
        destination: MessageDestination,
        body: string,
        payloadType: string,
        ruleIds: number[],
        meta: { kind: "rule" | "function"; ruleId?: number; ruleName?: string; functionName?: string; incidentId?: number },
        reservedId?: number,
    ): StartedInvocation {
        const id = reservedId ?? this.tracker.reserveId();
        const headers = this.usualHeaders(id, destination.org_id, destination.programmatic_name, payloadType, ruleIds);
        return this.send(id, brokerPath(destination), headers, body, {
            ...meta,
            orgId: destination.org_id,
            destination: destination.programmatic_name,
            expectAck: destination.expect_ack,
        });
    }

    private usualHeaders(id: number, orgId: number, programmaticName: string, payloadType: string, ruleIds: number[]): Record<string, string> {
        return {
            "reply-to": `/queue/acks.${orgId}.${programmaticName}`,
            "correlation-id": `invid:${id}`,
            Co3ContextToken: this.tokens.issue(id, ruleIds),
            Co3MessagePayload: payloadType,
            Co3ContentType: "application/json",
        };
    }

    private send(
        id: number,
        brokerDestination: string,
        headers: Record<string, string>,
        body: string,
        meta: Pick<Invocation, "kind" | "orgId" | "destination" | "expectAck"> & Partial<Pick<Invocation, "ruleId" | "ruleName" | "functionName" | "incidentId">>,
    ): StartedInvocation {
        if (!this.link) {
            throw new UnavailableError("The simulator was started without a broker, so it cannot send messages.");
        }
        const invocation = this.tracker.create(id, {
            ...meta,
            brokerDestination,
            replyTo: headers["reply-to"] ?? null,
            contextToken: headers.Co3ContextToken ?? null,
            message: { headers: { ...headers }, body },
        });
        const sent = this.link.send({ destination: brokerDestination, headers, body }).then(
            () => {
                this.tracker.markSent(id);
                this.logger.info(`Sent ${invocation.correlationId} (${describe(invocation)}) to ${brokerDestination}.`);
            },
            (error: Error) => {
                this.tracker.markSendFailed(id, error.message);
                throw error;
            },
        );
        // The caller may not await `sent`; a failure is already on the invocation and in the log.
        sent.catch((error: Error) => this.logger.error(`Sending ${invocation.correlationId} to ${brokerDestination} failed: ${error.message}`));
        return { invocation: structuredClone(invocation), sent };
    }

    private replyQueues(): string[] {
        return [...this.state.destinations.values()].map((destination) => `/queue/acks.${destination.org_id}.${destination.programmatic_name}`);
    }

    private handleReply(message: IMessage): void {
        const messageId = message.headers["message-id"];
        if (messageId && this.seenReplyIds.has(messageId)) {
            // A redelivery of a reply already recorded; the link ACKs it again.
            return;
        }
        if (messageId) {
            this.rememberReplyId(messageId);
        }
        const reply = parseReply(message.headers, message.body);
        const correlationId = message.headers["correlation-id"];
        const invocation = this.tracker.byCorrelationId(correlationId);
        if (!invocation) {
            this.orphans.push(reply);
            this.logger.warn(`Reply on ${message.headers.destination} with correlation-id ${correlationId ?? "(missing)"} matches no invocation.`);
            return;
        }
        this.tracker.recordReply(invocation, reply);
        const state = reply.problem ? `invalid reply: ${reply.problem}` : `${reply.complete ? "complete" : "interim"} reply, status ${invocation.status}`;
        this.logger.info(`${invocation.correlationId}: ${state}.`);
    }

    private rememberReplyId(messageId: string): void {
        this.seenReplyIds.add(messageId);
        if (this.seenReplyIds.size > 10000) {
            const oldest = this.seenReplyIds.values().next().value as string;
            this.seenReplyIds.delete(oldest);
        }
    }
}

/** Returns the STOMP destination of a message destination, e.g. `/queue/actions.201.ticket`. */
export function brokerPath(destination: MessageDestination): string {
    const kind = destination.destination_type === 1 ? "topic" : "queue";
    return `/${kind}/actions.${destination.org_id}.${destination.programmatic_name}`;
}

/**
 * Returns milliseconds since 2025-01-01, so ids of a later run start above
 * those of an earlier one unless it fired more than one invocation per
 * millisecond it ran.
 */
function clockBasedFirstId(): number {
    return Date.now() - Date.UTC(2025, 0, 1);
}

function describe(invocation: Invocation): string {
    if (invocation.kind === "rule") {
        return `rule ${invocation.ruleId} "${invocation.ruleName}" on incident ${invocation.incidentId}`;
    }
    if (invocation.kind === "function") {
        return `function ${invocation.functionName}`;
    }
    return "raw message";
}
