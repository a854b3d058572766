import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, type IMessage } from "@stomp/stompjs";

import { StompSocket } from "../lib/stomp/socket";
import { startBroker, type Broker, type BrokerDescription } from "../scripts/broker";
import { Simulator, decodeContextTokenPayload, silentLogger } from "../simulator";

const ACK_TIMEOUT_MS = 4000;

/** Returns the suite's broker when `npm test` started one, else starts a private one. */
async function testBroker(): Promise<{ broker: BrokerDescription; release: () => Promise<void> }> {
    const shared = process.env.RESILIENT_TEST_BROKER;
    if (shared) {
        return { broker: JSON.parse(shared) as BrokerDescription, release: async () => undefined };
    }
    const own: Broker = await startBroker({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "simulator-broker-")) });
    return { broker: own.describe(), release: () => own.stop() };
}

/**
 * A hand-written action processor: a plain stompjs consumer logged in as
 * the broker's `processor` user. Messages that no test waits for (left
 * over from other test files) are ACKed and dropped.
 */
class HandProcessor {
    private readonly client: Client;
    private readonly waiters = new Map<string, (message: IMessage) => void>();
    private readonly early = new Map<string, IMessage>();

    public constructor(broker: BrokerDescription) {
        const user = broker.users.processor;
        this.client = new Client({
            webSocketFactory: () => new StompSocket({ host: broker.host, port: broker.stompPort }),
            connectHeaders: { login: user.login, passcode: user.passcode },
            heartbeatIncoming: 10000,
            heartbeatOutgoing: 10000,
            reconnectDelay: 500,
            debug: () => undefined,
        });
    }

    public async start(destinations: string[]): Promise<void> {
        await new Promise<void>((resolve) => {
            this.client.onConnect = () => {
                for (const destination of destinations) {
                    this.client.subscribe(destination, (message) => this.handle(message), { ack: "client-individual" });
                }
                resolve();
            };
            this.client.activate();
        });
    }

    /** Resolves with the message carrying this correlation id. */
    public next(correlationId: string, timeoutMs = 10000): Promise<IMessage> {
        const early = this.early.get(correlationId);
        if (early) {
            this.early.delete(correlationId);
            return Promise.resolve(early);
        }
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.waiters.delete(correlationId);
                reject(new Error(`No message with correlation-id ${correlationId} within ${timeoutMs} ms.`));
            }, timeoutMs);
            this.waiters.set(correlationId, (message) => {
                clearTimeout(timer);
                resolve(message);
            });
        });
    }

    /** Sends a reply to the message's reply-to, as a persistent message. */
    public reply(message: IMessage, body: string, headers: Record<string, string> = {}): void {
        this.client.publish({
            destination: message.headers["reply-to"],
            headers: { "correlation-id": message.headers["correlation-id"], persistent: "true", ...headers },
            body,
        });
    }

    public async stop(): Promise<void> {
        await this.client.deactivate();
    }

    private handle(message: IMessage): void {
        message.ack();
        const correlationId = message.headers["correlation-id"] ?? "";
        const waiter = this.waiters.get(correlationId);
        if (waiter) {
            this.waiters.delete(correlationId);
            waiter(message);
        } else if (/^invid:\d+$/.test(correlationId)) {
            this.early.set(correlationId, message);
        }
    }
}

describe("simulator action module", () => {
    let release: () => Promise<void>;
    let broker: BrokerDescription;
    let simulator: Simulator;
    let processor: HandProcessor;

    before(async () => {
        ({ broker, release } = await testBroker());
        simulator = new Simulator({
            broker: {
                host: broker.host,
                port: broker.stompSslPort,
                tls: { ca: fs.readFileSync(broker.caFile) },
                login: broker.users.platform.login,
                passcode: broker.users.platform.passcode,
            },
            ackTimeoutMs: ACK_TIMEOUT_MS,
            logger: silentLogger,
        });
        await simulator.start();
        processor = new HandProcessor(broker);
        await processor.start(["/queue/actions.201.ticket", "/queue/actions.201.fn_enrich"]);
    });

    after(async () => {
        await processor?.stop();
        await simulator?.stop();
        await release?.();
    });

    it("sends a rule message with platform headers", async () => {
        const [invocation] = await simulator.fireRule(612, {
            incidentId: 2301,
            properties: { ticket_priority: "High", ticket_note: "call the vendor", notify_teams: [902, 903] },
        });
        const message = await processor.next(invocation.correlationId);

        assert.equal(message.headers.destination, "/queue/actions.201.ticket");
        assert.equal(message.headers["reply-to"], "/queue/acks.201.ticket");
        assert.equal(message.headers["correlation-id"], `invid:${invocation.id}`);
        assert.equal(message.headers.Co3MessagePayload, "ActionDataDTO");
        assert.equal(message.headers.Co3ContentType, "application/json");
        assert.equal(message.headers.persistent, "true");
        assert.match(message.headers.Co3ContextToken, /^eyJhbGciOiJIUzI1NiJ9\.[\w-]+\.[\w-]+$/);
        const claims = decodeContextTokenPayload(message.headers.Co3ContextToken) as { actions: number[]; expirationDate: number };
        assert.deepEqual(claims.actions, [612]);
        assert.ok(claims.expirationDate > Date.now());
        assert.equal(simulator.tokens.recognize(message.headers.Co3ContextToken)?.invocationId, invocation.id);
        assert.equal(invocation.message.body, message.body);
        assert.equal(invocation.message.headers.Co3ContextToken, message.headers.Co3ContextToken);
    });

    it("builds the ActionDataDTO body with type_info", async () => {
        const [invocation] = await simulator.fireRule(612, {
            incidentId: 2301,
            properties: { ticket_priority: "High", notify_teams: ["Network", 903] },
        });
        const body = JSON.parse((await processor.next(invocation.correlationId)).body);

        assert.deepEqual(Object.keys(body), [
            "action_id", "object_type", "operation_type", "incident", "task", "artifact", "note",
            "milestone", "attachment", "row", "properties", "user", "type_info",
        ]);
        assert.equal(body.action_id, 612);
        assert.equal(body.object_type, 2);
        assert.equal(body.operation_type, null);
        assert.equal(body.incident.id, 2301);
        assert.equal(body.incident.vers, 5);
        assert.equal(body.note.id, 88);
        assert.equal(body.task, null);
        assert.deepEqual(body.properties, { ticket_priority: 7002, ticket_note: null, notify_teams: [902, 903] });
        assert.equal(body.user.email, "ada@example.test");

        const activity = body.type_info.actioninvocation;
        assert.equal(activity.type_id, 6);
        assert.deepEqual(Object.keys(activity.fields.ticket_priority.values), ["7002"]);
        assert.equal(activity.fields.ticket_priority.values["7002"].label, "High");
        assert.deepEqual(activity.fields.ticket_note.values, {});
        assert.deepEqual(Object.keys(activity.fields.notify_teams.values), ["902", "903"]);

        const incident = body.type_info.incident.fields;
        assert.deepEqual(Object.keys(incident.severity_code.values), ["51"]);
        assert.equal(incident.severity_code.values["51"].label, "Medium");
        assert.deepEqual(Object.keys(incident.plan_status.values), ["A"]);
        assert.deepEqual(Object.keys(incident.incident_type_ids.values), ["19", "23"]);
        assert.equal(incident.business_unit.values["305"].label, "Retail banking");
        assert.deepEqual(Object.keys(incident.affected_regions.values), ["401", "403"]);
        assert.deepEqual(incident.siem_offense_id.values, {});
    });

    it("turns Completed on a JSON completion reply", async () => {
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301 });
        const message = await processor.next(invocation.correlationId);
        assert.equal(simulator.invocation(invocation.id)?.status, "Pending");

        processor.reply(message, JSON.stringify({ message_type: 0, message: "Ticket HD-1042 created", complete: true }));
        const done = await simulator.waitForStatus(invocation.id, "Completed", 10000);

        assert.equal(done.replies.length, 1);
        assert.equal(done.replies[0].format, "json");
        assert.equal(done.replies[0].text, "Ticket HD-1042 created");
        assert.equal(done.replies[0].headers["correlation-id"], invocation.correlationId);
        assert.equal(done.completions, 1);
        assert.deepEqual(done.statusHistory.map((change) => change.status), ["Pending", "Completed"]);
    });

    it("counts a second completion without a second status change", async () => {
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301 });
        const message = await processor.next(invocation.correlationId);

        processor.reply(message, JSON.stringify({ message_type: 0, message: "Started processing", complete: false }));
        const interim = await simulator.waitForReplies(invocation.id, 1, 10000);
        assert.equal(interim.status, "Pending");

        processor.reply(message, JSON.stringify({ message_type: 0, message: "Done", complete: true }));
        processor.reply(message, JSON.stringify({ message_type: 1, message: "Done again, but failed", complete: true }));
        const done = await simulator.waitForReplies(invocation.id, 3, 10000);

        assert.equal(done.status, "Completed");
        assert.equal(done.completions, 2);
        assert.deepEqual(done.statusHistory.map((change) => change.status), ["Pending", "Completed"]);
    });

    it("keeps a text reply with Co3InvocationComplete false Pending", async () => {
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301 });
        const message = await processor.next(invocation.correlationId);

        processor.reply(message, "Still working on it", { Co3InvocationComplete: "false" });
        const interim = await simulator.waitForReplies(invocation.id, 1, 10000);
        assert.equal(interim.status, "Pending");
        assert.equal(interim.replies[0].format, "text");
        assert.equal(interim.replies[0].complete, false);
        assert.equal(interim.replies[0].text, "Still working on it");

        processor.reply(message, "Ticket created");
        const done = await simulator.waitForStatus(invocation.id, "Completed", 10000);
        assert.equal(done.replies[1].complete, true);
    });

    it("turns Error on an error reply", async () => {
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301 });
        const message = await processor.next(invocation.correlationId);

        processor.reply(message, JSON.stringify({ message_type: 1, message: "Helpdesk answered 503", complete: true }));
        const failed = await simulator.waitForStatus(invocation.id, "Error", 10000);

        assert.equal(failed.replies[0].messageType, 1);
        assert.equal(failed.replies[0].text, "Helpdesk answered 503");
    });

    it("records an invalid JSON reply without a status change", async () => {
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301 });
        const message = await processor.next(invocation.correlationId);

        processor.reply(message, JSON.stringify({ message_type: 7, message: "odd", complete: true }));
        const recorded = await simulator.waitForReplies(invocation.id, 1, 10000);

        assert.equal(recorded.status, "Pending");
        assert.match(recorded.replies[0].problem ?? "", /message_type must be 0, 1 or 2/);
        assert.equal(recorded.completions, 0);
    });

    it("sends a function message and records results", async () => {
        const invocation = await simulator.fireFunction("enrich_ip", {
            inputs: {
                incident_id: 2301,
                artifact_value: "198.51.100.23",
                verbose: true,
                lookup_mode: "fast",
                sources: [55, "SIEM"],
                analyst_note: "check the VPN logs first",
                since: 1735600000000,
            },
        });
        const message = await processor.next(invocation.correlationId);
        const body = JSON.parse(message.body);

        assert.equal(message.headers.destination, "/queue/actions.201.fn_enrich");
        assert.equal(message.headers["reply-to"], "/queue/acks.201.fn_enrich");
        assert.equal(message.headers.Co3MessagePayload, "FunctionDataDTO");
        assert.equal(decodeContextTokenPayload(message.headers.Co3ContextToken), null);
        assert.equal(body.function.name, "enrich_ip");
        assert.equal(body.incident, undefined);
        assert.equal(body.type_info, undefined);
        assert.deepEqual(body.inputs.lookup_mode, { id: 53, name: "fast" });
        assert.deepEqual(body.inputs.sources, [{ id: 55, name: "asset database" }, { id: 56, name: "SIEM" }]);
        assert.deepEqual(body.inputs.analyst_note, { format: "text", content: "check the VPN logs first" });
        assert.equal(body.workflow_instance.workflow_instance_id, invocation.id);

        const results = { version: 2.0, success: true, reason: null, content: { known_asset: true }, raw: null, inputs: {}, metrics: {} };
        processor.reply(message, JSON.stringify({ message_type: 0, message: "Completed", complete: true, results }));
        const done = await simulator.waitForStatus(invocation.id, "Completed", 10000);
        assert.deepEqual(done.replies[0].results, results);
    });

    it("times out an unanswered invocation", async () => {
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301 });
        await processor.next(invocation.correlationId);

        const timedOut = await simulator.waitForStatus(invocation.id, "Timed Out", ACK_TIMEOUT_MS + 5000);
        assert.deepEqual(timedOut.statusHistory.map((change) => change.status), ["Pending", "Timed Out"]);
    });

    it("completes on send when no acknowledgement is expected", async () => {
        const [invocation] = await simulator.fireRule(615, { incidentId: 2301 });

        assert.equal(invocation.brokerDestination, "/topic/actions.201.broadcast");
        assert.equal(invocation.status, "Completed");
        assert.notEqual(invocation.sentAt, null);
    });

    it("sends a raw message without reply-to", async () => {
        const invocation = await simulator.sendRaw({ destination: "ticket", body: "this is not JSON", omitHeaders: ["reply-to"] });
        const message = await processor.next(invocation.correlationId);

        assert.equal(message.headers["reply-to"], undefined);
        assert.equal(message.headers.Co3MessagePayload, "ActionDataDTO");
        assert.equal(message.body, "this is not JSON");
        assert.equal(invocation.replyTo, null);
    });

    it("sends a raw control message", async () => {
        const body = JSON.stringify({ subscribe: ["actions.201.extra"], unsubscribe: [] });
        const invocation = await simulator.sendRaw({
            destination: "ticket",
            body,
            headers: { Co3MessagePayload: "ConnectorSubscriptionUpdateDTO" },
        });
        const message = await processor.next(invocation.correlationId);

        assert.equal(message.headers.Co3MessagePayload, "ConnectorSubscriptionUpdateDTO");
        assert.equal(message.body, body);
    });

    it("keeps replies with unknown correlation ids apart", async () => {
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301 });
        const message = await processor.next(invocation.correlationId);

        processor.reply(message, "Done", { "correlation-id": "invid:1" });
        const deadline = Date.now() + 10000;
        while (!simulator.orphanReplies().some((reply) => reply.headers["correlation-id"] === "invid:1") && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(simulator.orphanReplies().some((reply) => reply.headers["correlation-id"] === "invid:1"));
        assert.equal(simulator.invocation(invocation.id)?.replies.length, 0);
    });

    it("rejects unknown activity fields", async () => {
        assert.throws(() => simulator.startRule(612, { incidentId: 2301, properties: { nope: 1 } }), /no activity field "nope"/);
        assert.throws(() => simulator.startRule(612, { incidentId: 2301, properties: { ticket_priority: "Extreme" } }), /no value "Extreme"/);
        assert.throws(() => simulator.startRule(612, { incidentId: 2401 }), /Unable to find object with ID 2,401/);
    });

    it("fires rules and reads invocations over HTTP", async () => {
        const fired = await fetch(`${simulator.url}/sim/rules/612/fire`, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ incidentId: 2301, properties: { ticket_priority: 7003 } }),
        });
        assert.equal(fired.status, 201);
        const { invocations } = (await fired.json()) as { invocations: Array<{ id: number; correlationId: string }> };
        const message = await processor.next(invocations[0].correlationId);
        processor.reply(message, JSON.stringify({ message_type: 2, message: "Created with a warning", complete: true }));
        await simulator.waitForStatus(invocations[0].id, "Completed", 10000);

        const read = await fetch(`${simulator.url}/sim/invocations/${invocations[0].id}`);
        assert.equal(read.status, 200);
        const invocation = (await read.json()) as { status: string; replies: unknown[] };
        assert.equal(invocation.status, "Completed");
        assert.equal(invocation.replies.length, 1);

        const list = (await (await fetch(`${simulator.url}/sim/invocations`)).json()) as { invocations: unknown[] };
        assert.ok(list.invocations.length >= 1);
    });

    it("answers HTTP errors with a message", async () => {
        const unknownRule = await fetch(`${simulator.url}/sim/rules/999/fire`, { method: "POST", body: JSON.stringify({ incidentId: 2301 }) });
        assert.equal(unknownRule.status, 404);
        assert.match(((await unknownRule.json()) as { error: string }).error, /Rule 999 not found/);

        const badBody = await fetch(`${simulator.url}/sim/rules/612/fire`, { method: "POST", body: "{" });
        assert.equal(badBody.status, 400);
        assert.match(((await badBody.json()) as { error: string }).error, /not valid JSON/);

        const missingIncident = await fetch(`${simulator.url}/sim/rules/612/fire`, { method: "POST", body: "{}" });
        assert.equal(missingIncident.status, 400);
        assert.match(((await missingIncident.json()) as { error: string }).error, /"incidentId" must be an integer/);

        const wrongMethod = await fetch(`${simulator.url}/sim/invocations`, { method: "DELETE" });
        assert.equal(wrongMethod.status, 405);
    });
});
