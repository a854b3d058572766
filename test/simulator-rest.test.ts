import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Agent, request } from "undici";

import { startBroker, type Broker, type BrokerDescription } from "../scripts/broker";
import { DEFAULT_CREDENTIALS, Simulator, silentLogger } from "../simulator";

const KEY = DEFAULT_CREDENTIALS.apiKeys[0];
const BASIC = `Basic ${Buffer.from(`${KEY.keyId}:${KEY.secret}`).toString("base64")}`;
const ADA = { email: "ada@example.test", password: DEFAULT_CREDENTIALS.passwords["ada@example.test"] };

interface HttpResult {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: any; // The tests read many response shapes, and each check names the keys it needs.
    raw: Buffer;
}

/** Calls a simulator over HTTP(S) and parses a JSON response body. */
async function call(base: string, method: string, urlPath: string, options: { body?: unknown; headers?: Record<string, string>; raw?: Buffer; dispatcher?: Agent } = {}): Promise<HttpResult> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    let body: string | Buffer | undefined = options.raw;
    if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers["content-type"] = "application/json";
    }
    const response = await request(`${base}${urlPath}`, { method: method as "GET", headers, body, dispatcher: options.dispatcher });
    const raw = Buffer.from(await response.body.arrayBuffer());
    let parsed: unknown = undefined;
    if ((response.headers["content-type"] ?? "").toString().includes("json") && raw.length > 0) {
        parsed = JSON.parse(raw.toString("utf8"));
    }
    return { status: response.statusCode, headers: response.headers, body: parsed, raw };
}

/** Logs in with email and password and returns the headers later calls need. */
async function login(base: string, dispatcher?: Agent): Promise<Record<string, string>> {
    const answer = await call(base, "POST", "/session", { body: ADA, dispatcher });
    assert.equal(answer.status, 200);
    const cookie = String(answer.headers["set-cookie"]).split(";")[0];
    return { cookie, "x-sess-id": answer.body.csrf_token };
}

async function testBroker(): Promise<{ broker: BrokerDescription; release: () => Promise<void> }> {
    const shared = process.env.RESILIENT_TEST_BROKER;
    if (shared) {
        return { broker: JSON.parse(shared) as BrokerDescription, release: async () => undefined };
    }
    const own: Broker = await startBroker({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "simulator-rest-broker-")) });
    return { broker: own.describe(), release: () => own.stop() };
}

describe("simulator REST API", () => {
    let simulator: Simulator;
    let base: string;

    before(async () => {
        simulator = new Simulator({ logger: silentLogger });
        await simulator.start();
        base = `${simulator.url}/rest`;
    });

    after(async () => {
        await simulator?.stop();
    });

    describe("sessions and API keys", () => {
        it("logs in with email and password", async () => {
            const answer = await call(base, "POST", "/session", { body: ADA });

            assert.equal(answer.status, 200);
            assert.match(answer.body.csrf_token, /^[0-9a-f]{32}$/);
            assert.equal(answer.body.user_email, "ada@example.test");
            assert.match(String(answer.headers["set-cookie"]), /^JSESSIONID=[0-9A-F]+; Path=\/; HttpOnly$/);
            const orgs = answer.body.orgs.map((org: Record<string, unknown>) => [org.id, org.name, org.enabled, typeof org.uuid, org.cloud_account]);
            assert.deepEqual(orgs, [[201, "Blue Team", true, "string", null], [202, "Red Team", false, "string", null]]);
        });

        it("rejects a wrong password with 401", async () => {
            const answer = await call(base, "POST", "/session", { body: { email: ADA.email, password: "wrong" } });

            assert.equal(answer.status, 401);
            assert.equal(answer.body.success, false);
        });

        it("requires the cookie and X-sess-id", async () => {
            const headers = await login(base);

            const both = await call(base, "GET", "/orgs/201/incidents/2301", { headers });
            assert.equal(both.status, 200);
            const cookieOnly = await call(base, "GET", "/orgs/201/incidents/2301", { headers: { cookie: headers.cookie } });
            assert.equal(cookieOnly.status, 403);
            const wrongToken = await call(base, "GET", "/orgs/201/incidents/2301", { headers: { ...headers, "x-sess-id": "0".repeat(32) } });
            assert.equal(wrongToken.status, 403);
            const neither = await call(base, "GET", "/orgs/201/incidents/2301");
            assert.equal(neither.status, 401);
            assert.deepEqual(Object.keys(neither.body), ["success", "title", "message", "hints", "error_code"]);
            assert.equal(neither.body.error_code, "generic");
        });

        it("returns the session with GET and ends it with DELETE", async () => {
            const headers = await login(base);

            const session = await call(base, "GET", "/session", { headers: { cookie: headers.cookie } });
            assert.equal(session.status, 200);
            assert.equal(session.body.csrf_token, headers["x-sess-id"]);

            const logout = await call(base, "DELETE", "/session", { headers });
            assert.equal(logout.status, 200);
            const afterLogout = await call(base, "GET", "/orgs/201/incidents/2301", { headers });
            assert.equal(afterLogout.status, 401);
        });

        it("expires sessions on request", async () => {
            const headers = await login(base);

            assert.ok(simulator.expireSessions() >= 1);
            const answer = await call(base, "GET", "/orgs/201/incidents/2301", { headers });
            assert.equal(answer.status, 401);
        });

        it("accepts API keys with HTTP Basic", async () => {
            const session = await call(base, "GET", "/session", { headers: { authorization: BASIC } });
            assert.equal(session.status, 200);
            assert.equal(session.body.api_key_handle, 101);
            assert.equal(session.headers["set-cookie"], undefined);
            assert.deepEqual(session.body.orgs.map((org: { id: number }) => org.id), [201, 202]);

            const incident = await call(base, "GET", "/orgs/201/incidents/2301", { headers: { authorization: BASIC } });
            assert.equal(incident.status, 200);

            const wrongSecret = `Basic ${Buffer.from(`${KEY.keyId}:nope`).toString("base64")}`;
            const rejected = await call(base, "GET", "/orgs/201/incidents/2301", { headers: { authorization: wrongSecret } });
            assert.equal(rejected.status, 401);
        });

        it("rejects orgs the caller cannot use", async () => {
            const notMember = await call(base, "GET", "/orgs/203/incidents/2301", { headers: { authorization: BASIC } });
            assert.equal(notMember.status, 403);
            assert.equal(notMember.body.success, false);

            const disabled = await call(base, "GET", "/orgs/202/incidents/2401", { headers: { authorization: BASIC } });
            assert.equal(disabled.status, 403);
            assert.match(disabled.body.message, /disabled/);
        });
    });

    describe("incidents", () => {
        const auth = { authorization: BASIC };

        it("returns 404 with the platform's message", async () => {
            const answer = await call(base, "GET", "/orgs/201/incidents/2302", { headers: auth });

            assert.equal(answer.status, 404);
            assert.deepEqual(answer.body, { success: false, title: null, message: "Unable to find object with ID 2,302", hints: [], error_code: "generic" });
        });

        it("returns names with handle_format=names", async () => {
            const byQuery = await call(base, "GET", "/orgs/201/incidents/2301?handle_format=names", { headers: auth });
            assert.equal(byQuery.body.severity_code, "Medium");
            assert.equal(byQuery.body.owner_id, "ada@example.test");
            assert.deepEqual(byQuery.body.incident_type_ids, ["Phishing", "Malware"]);
            assert.equal(byQuery.body.properties.business_unit, "Retail banking");
            assert.equal(byQuery.body.phase_id, "Respond");

            const byHeader = await call(base, "GET", "/orgs/201/incidents/2301", { headers: { ...auth, handle_format: "names" } });
            assert.equal(byHeader.body.severity_code, "Medium");

            const ids = await call(base, "GET", "/orgs/201/incidents/2301", { headers: auth });
            assert.equal(ids.body.severity_code, 51);
            assert.equal(ids.body.description, "<div>Seen by the SIEM at 02:14. Source 198.51.100.23</div>");
        });

        it("returns rich text in the requested format", async () => {
            const objects = await call(base, "GET", "/orgs/201/incidents/2301?text_content_output_format=objects_convert", { headers: auth });
            assert.deepEqual(objects.body.description, { format: "html", content: "<div>Seen by the SIEM at 02:14. Source 198.51.100.23</div>" });

            const text = await call(base, "GET", "/orgs/201/incidents/2301", { headers: { ...auth, text_content_output_format: "always_text" } });
            assert.equal(text.body.description, "Seen by the SIEM at 02:14. Source 198.51.100.23");

            const unchanged = await call(base, "GET", "/orgs/201/incidents/2301?vers=5", { headers: auth });
            assert.equal(unchanged.status, 304);
        });

        it("puts with the current vers", async () => {
            const read = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
            const incident = read.body;
            incident.severity_code = "Medium";

            const saved = await call(base, "PUT", "/orgs/201/incidents/2303", { headers: auth, body: incident });
            assert.equal(saved.status, 200);
            assert.equal(saved.body.vers, read.body.vers + 1);
            assert.equal(saved.body.severity_code, 51);
        });

        it("rejects a stale vers with 409", async () => {
            const read = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
            const stale = { ...read.body, vers: read.body.vers - 1, description: "stale write" };

            const answer = await call(base, "PUT", "/orgs/201/incidents/2303", { headers: auth, body: stale });
            assert.equal(answer.status, 409);
            assert.equal(answer.body.success, false);
            assert.equal(answer.body.error_code, "generic");
        });

        it("forces conflicts on the next PUTs", async () => {
            simulator.forceIncidentConflicts(2303, 2);
            const statuses: number[] = [];
            for (let attempt = 0; attempt < 3; attempt++) {
                const read = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
                const answer = await call(base, "PUT", "/orgs/201/incidents/2303", { headers: auth, body: { ...read.body, name: `Retry ${attempt}` } });
                statuses.push(answer.status);
            }
            assert.deepEqual(statuses, [409, 409, 200]);
        });

        it("patches with object values", async () => {
            const read = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
            const patch = {
                changes: [{ field: "severity_code", old_value: { object: read.body.severity_code }, new_value: { object: 50 } }],
                version: read.body.vers - 1,
            };

            const answer = await call(base, "PATCH", "/orgs/201/incidents/2303", { headers: auth, body: patch });
            assert.equal(answer.status, 200);
            assert.equal(answer.body.success, true);
            const after = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
            assert.equal(after.body.severity_code, 50);
            assert.equal(after.body.vers, read.body.vers + 1);
        });

        it("reports PATCH conflicts as field_failures", async () => {
            const read = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
            const patch = {
                changes: [
                    { field: "severity_code", old_value: { object: 52 }, new_value: { object: 51 } },
                    { field: { name: "escalated" }, old_value: { object: read.body.properties.escalated }, new_value: { boolean: true } },
                ],
                version: read.body.vers - 1,
            };

            const answer = await call(base, "PATCH", "/orgs/201/incidents/2303", { headers: auth, body: patch });
            assert.equal(answer.status, 200);
            assert.equal(answer.body.success, false);
            assert.deepEqual(answer.body.field_failures, [{ field: "severity_code", your_original_value: 52, actual_current_value: 50 }]);
            const unchanged = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
            assert.equal(unchanged.body.vers, read.body.vers);
            assert.equal(unchanged.body.properties.escalated, read.body.properties.escalated);
        });

        it("patches unchecked when the version matches", async () => {
            const read = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
            const patch = {
                changes: [
                    { field: "severity_code", old_value: { object: 52 }, new_value: { id: 52 } },
                    { field: "siem_offense_id", new_value: { text: "90210" } },
                    { field: "affected_regions", new_value: { ids: [401, "Americas"] } },
                ],
                version: read.body.vers,
            };

            const answer = await call(base, "PATCH", "/orgs/201/incidents/2303", { headers: auth, body: patch });
            assert.equal(answer.body.success, true);
            const after = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth });
            assert.equal(after.body.severity_code, 52);
            assert.equal(after.body.properties.siem_offense_id, "90210");
            assert.deepEqual(after.body.properties.affected_regions, [401, 402]);
        });

        it("rejects unknown PATCH fields with 400", async () => {
            const patch = { changes: [{ field: "no_such_field", new_value: { object: 1 } }] };

            const answer = await call(base, "PATCH", "/orgs/201/incidents/2303", { headers: auth, body: patch });
            assert.equal(answer.status, 400);
            assert.match(answer.body.message, /no field "no_such_field"/);
        });
    });

    describe("incident children", () => {
        const auth = { authorization: BASIC };

        it("adds and lists notes", async () => {
            const created = await call(base, "POST", "/orgs/201/incidents/2301/comments", {
                headers: auth,
                body: { text: { format: "text", content: "Ticket HD-1042 opened" } },
            });
            assert.equal(created.status, 200);
            assert.equal(created.body.text, "Ticket HD-1042 opened");
            assert.equal(typeof created.body.id, "number");

            const listed = await call(base, "GET", "/orgs/201/incidents/2301/comments", { headers: auth });
            assert.ok(listed.body.some((comment: { id: number }) => comment.id === created.body.id));
        });

        it("returns a list from artifact POST", async () => {
            const created = await call(base, "POST", "/orgs/201/incidents/2301/artifacts", {
                headers: auth,
                body: { type: "DNS Name", value: "vpn-gw-2.example.test", description: "Gateway" },
            });
            assert.equal(created.status, 200);
            assert.ok(Array.isArray(created.body));
            assert.equal(created.body[0].type, 2);
            assert.equal(created.body[0].value, "vpn-gw-2.example.test");

            const unknownType = await call(base, "POST", "/orgs/201/incidents/2301/artifacts", { headers: auth, body: { type: "Banana", value: "x" } });
            assert.equal(unknownType.status, 400);
        });

        it("stores multipart attachments", async () => {
            const boundary = "----simulator-test-boundary";
            const content = Buffer.from([0, 1, 2, 250, 251, 252]);
            const raw = Buffer.concat([
                Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="dump.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
                content,
                Buffer.from(`\r\n--${boundary}--\r\n`),
            ]);
            const created = await call(base, "POST", "/orgs/201/incidents/2301/attachments", {
                headers: { ...auth, "content-type": `multipart/form-data; boundary=${boundary}` },
                raw,
            });
            assert.equal(created.status, 200);
            assert.equal(created.body.name, "dump.bin");
            assert.equal(created.body.size, 6);
            assert.equal(created.body.inc_id, 2301);

            const contents = await call(base, "GET", `/orgs/201/incidents/2301/attachments/${created.body.id}/contents`, { headers: auth });
            assert.deepEqual(contents.raw, content);
        });

        it("rejects an attachment without a file part", async () => {
            const boundary = "b";
            const raw = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--${boundary}--\r\n`);
            const answer = await call(base, "POST", "/orgs/201/incidents/2301/attachments", {
                headers: { ...auth, "content-type": `multipart/form-data; boundary=${boundary}` },
                raw,
            });
            assert.equal(answer.status, 400);
            assert.match(answer.body.message, /part named "file"/);
        });

        it("returns only the id from task POST", async () => {
            const created = await call(base, "POST", "/orgs/201/incidents/2301/tasks", {
                headers: auth,
                body: { name: "Reset VPN credentials", instr_text: "All users of vpn-gw-2", phase_id: "Respond" },
            });
            assert.equal(created.status, 200);
            assert.deepEqual(Object.keys(created.body), ["id"]);

            const task = await call(base, "GET", `/orgs/201/tasks/${created.body.id}`, { headers: auth });
            assert.equal(task.body.name, "Reset VPN credentials");
            assert.equal(task.body.phase_id, 1004);
        });

        it("adds and lists task notes", async () => {
            const created = await call(base, "POST", "/orgs/201/tasks/4101/comments", {
                headers: auth,
                body: { text: { format: "text", content: "Account jdoe disabled" } },
            });
            assert.equal(created.status, 200);
            assert.equal(created.body.text, "Account jdoe disabled");
            assert.equal(created.body.type, "task");
            assert.equal(created.body.task_id, 4101);
            assert.equal(created.body.inc_id, 2301);

            const listed = await call(base, "GET", "/orgs/201/tasks/4101/comments", { headers: auth });
            assert.deepEqual(listed.body.map((note: { id: number }) => note.id), [created.body.id]);
            const task = await call(base, "GET", "/orgs/201/tasks/4101", { headers: auth });
            assert.equal(task.body.notes_count, 1);
            const incidentNotes = await call(base, "GET", "/orgs/201/incidents/2301/comments", { headers: auth });
            assert.equal(incidentNotes.body.some((note: { id: number }) => note.id === created.body.id), false);

            const unknownTask = await call(base, "POST", "/orgs/201/tasks/999999/comments", { headers: auth, body: { text: "x" } });
            assert.equal(unknownTask.status, 404);
            const otherOrg = await call(base, "POST", "/orgs/203/tasks/4101/comments", { headers: auth, body: { text: "x" } });
            assert.equal(otherOrg.status, 403);
        });
    });

    describe("metadata", () => {
        const auth = { authorization: BASIC };

        it("lists types and fields", async () => {
            const types = await call(base, "GET", "/orgs/201/types", { headers: auth });
            assert.equal(types.body.incident.type_id, 0);
            assert.equal(types.body.actioninvocation.type_id, 6);

            const fields = await call(base, "GET", "/orgs/201/types/incident/fields", { headers: auth });
            assert.ok(Array.isArray(fields.body));
            const severity = fields.body.find((field: { name: string }) => field.name === "severity_code");
            assert.deepEqual(severity.values.map((value: { value: number; label: string }) => [value.value, value.label]), [[50, "Low"], [51, "Medium"], [52, "High"]]);

            const byName = await call(base, "GET", "/orgs/201/types/incident/fields/severity_code", { headers: auth });
            assert.equal(byName.body.id, 1257);
            const byId = await call(base, "GET", "/orgs/201/types/incident/fields/1257", { headers: auth });
            assert.equal(byId.body.name, "severity_code");
            const missing = await call(base, "GET", "/orgs/201/types/incident/fields/nope", { headers: auth });
            assert.equal(missing.status, 404);
        });

        it("lists message destinations and rules", async () => {
            const destinations = await call(base, "GET", "/orgs/201/message_destinations", { headers: auth });
            const ticket = destinations.body.entities.find((entry: { programmatic_name: string }) => entry.programmatic_name === "ticket");
            assert.deepEqual(
                [ticket.id, ticket.name, ticket.destination_type, ticket.expect_ack, ticket.users, ticket.api_keys],
                [1, "Tickets", 0, true, [7], [101]],
            );
            assert.equal(ticket.org_id, undefined);

            const rules = await call(base, "GET", "/orgs/201/actions", { headers: auth });
            const createTicket = rules.body.entities.find((rule: { id: number }) => rule.id === 612);
            assert.equal(createTicket.type, 1);
            assert.deepEqual(createTicket.message_destinations, [1]);
            assert.deepEqual(createTicket.view_items.map((item: { content: string }) => item.content), ["ticket_priority", "ticket_note", "notify_teams"]);
        });

        it("returns the constants", async () => {
            const constants = await call(base, "GET", "/const", { headers: auth });
            assert.equal(constants.status, 200);
            assert.deepEqual(constants.body.actions_framework.action_invocation_statuses.map((entry: { name: string }) => entry.name), ["Complete", "Pending", "Error", "Timed Out"]);
        });
    });

    describe("connection faults", () => {
        it("closes the connection after a response", async () => {
            const { port } = new URL(simulator.url);
            const socket = net.connect(Number(port), "127.0.0.1");
            const request = `GET /rest/orgs/201/incidents/2301 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${BASIC}\r\nConnection: keep-alive\r\n\r\n`;

            simulator.closeConnectionsAfterResponses(1);
            let received = "";
            const ended = new Promise<void>((resolve) => socket.once("end", () => resolve()));
            socket.on("data", (chunk) => {
                received += chunk.toString("latin1");
            });
            socket.write(request);
            await ended;
            socket.destroy();

            assert.match(received, /^HTTP\/1\.1 200 OK/);
            assert.doesNotMatch(received, /connection: close/i);
        });

        it("keeps the connection open without the fault", async () => {
            const { port } = new URL(simulator.url);
            const socket = net.connect(Number(port), "127.0.0.1");
            let ended = false;
            socket.once("end", () => {
                ended = true;
            });
            let received = "";
            const gotResponse = new Promise<void>((resolve) => socket.on("data", (chunk) => {
                received += chunk.toString("latin1");
                if (received.includes("\r\n\r\n")) resolve();
            }));
            socket.write(`GET /rest/orgs/201/incidents/2301 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${BASIC}\r\n\r\n`);
            await gotResponse;
            await new Promise((resolve) => setTimeout(resolve, 300));
            socket.destroy();

            assert.equal(ended, false);
        });
    });
});

describe("simulator REST session timeout", () => {
    it("expires an idle session with 401", async () => {
        const simulator = new Simulator({ logger: silentLogger, sessionTimeoutSeconds: 1 });
        await simulator.start();
        try {
            const base = `${simulator.url}/rest`;
            const headers = await login(base);
            const fresh = await call(base, "GET", "/orgs/201/incidents/2301", { headers });
            assert.equal(fresh.status, 200);

            await new Promise((resolve) => setTimeout(resolve, 1500));
            const idle = await call(base, "GET", "/orgs/201/incidents/2301", { headers });
            assert.equal(idle.status, 401);
        } finally {
            await simulator.stop();
        }
    });
});

describe("simulator REST with a broker", () => {
    let release: () => Promise<void>;
    let broker: BrokerDescription;
    let simulator: Simulator;
    let agent: Agent;
    let base: string;

    before(async () => {
        ({ broker, release } = await testBroker());
        const tlsDir = path.join(broker.dataDir, "tls");
        simulator = new Simulator({
            broker: {
                host: broker.host,
                port: broker.stompPort,
                login: broker.users.platform.login,
                passcode: broker.users.platform.passcode,
            },
            http: { tls: { cert: fs.readFileSync(path.join(tlsDir, "server.pem")), key: fs.readFileSync(path.join(tlsDir, "server.key")) } },
            // Another simulator on the same broker may be waiting for replies; this one needs none.
            consumeReplies: false,
            logger: silentLogger,
        });
        await simulator.start();
        agent = new Agent({ connect: { ca: fs.readFileSync(broker.caFile) } });
        base = `${simulator.url}/rest`;
    });

    after(async () => {
        await agent?.close();
        await simulator?.stop();
        await release?.();
    });

    it("serves HTTPS with the given certificate", async () => {
        assert.match(base, /^https:\/\/127\.0\.0\.1:\d+\/rest$/);
        const answer = await call(base, "POST", "/session", { body: ADA, dispatcher: agent });

        assert.equal(answer.status, 200);
        assert.match(String(answer.headers["set-cookie"]), /; Secure$/);
    });

    it("refuses a client that does not trust the certificate", async () => {
        const untrusting = new Agent({ connect: { ca: fs.readFileSync(broker.untrustedCaFile) } });
        try {
            await assert.rejects(call(base, "GET", "/session", { headers: { authorization: BASIC }, dispatcher: untrusting }));
        } finally {
            await untrusting.close();
        }
    });

    it("fires automatic rules on a change", async () => {
        const headers = await login(base, agent);
        const read = await call(base, "GET", "/orgs/201/incidents/2301", { headers, dispatcher: agent });
        const before = simulator.automaticRuleEvaluations().length;

        const saved = await call(base, "PUT", "/orgs/201/incidents/2301", { headers, dispatcher: agent, body: { ...read.body, severity_code: "High" } });
        assert.equal(saved.status, 200);

        const evaluations = simulator.automaticRuleEvaluations().slice(before);
        assert.deepEqual(evaluations.map((entry) => [entry.ruleId, entry.outcome]), [[613, "fired"], [614, "fired"]]);
        const invocation = await simulator.waitForStatus(evaluations[1].invocationIds[0], "Completed", 10000);
        assert.equal(invocation.brokerDestination, "/queue/actions.201.severity");
    });

    it("skips the rule named by the context token", async () => {
        const auth = { authorization: BASIC };
        const before = simulator.automaticRuleEvaluations().length;
        const read = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth, dispatcher: agent });
        await call(base, "PUT", "/orgs/201/incidents/2303", { headers: auth, dispatcher: agent, body: { ...read.body, description: "first edit" } });
        const fired = simulator.automaticRuleEvaluations().slice(before);
        assert.deepEqual(fired.map((entry) => [entry.ruleId, entry.outcome]), [[613, "fired"]]);
        const token = simulator.invocation(fired[0].invocationIds[0])?.contextToken as string;

        const reread = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth, dispatcher: agent });
        const guarded = await call(base, "PUT", "/orgs/201/incidents/2303", {
            headers: { ...auth, "X-Co3ContextToken": token },
            dispatcher: agent,
            body: { ...reread.body, description: "edit by the processor" },
        });
        assert.equal(guarded.status, 200);
        const afterGuarded = simulator.automaticRuleEvaluations().slice(before + 1);
        assert.deepEqual(afterGuarded.map((entry) => [entry.ruleId, entry.outcome]), [[613, "suppressed by context token"]]);

        const third = await call(base, "GET", "/orgs/201/incidents/2303", { headers: auth, dispatcher: agent });
        await call(base, "PUT", "/orgs/201/incidents/2303", { headers: auth, dispatcher: agent, body: { ...third.body, description: "edit by a user" } });
        const afterUser = simulator.automaticRuleEvaluations().slice(before + 2);
        assert.deepEqual(afterUser.map((entry) => [entry.ruleId, entry.outcome]), [[613, "fired"]]);
    });

    it("fires created rules for a new incident", async () => {
        const before = simulator.automaticRuleEvaluations().length;
        const created = await call(base, "POST", "/orgs/201/incidents", {
            headers: { authorization: BASIC },
            dispatcher: agent,
            body: { name: "Ransomware note on file server", discovered_date: Date.now(), severity_code: "High" },
        });
        assert.equal(created.status, 200);
        assert.equal(created.body.vers, 1);

        const evaluations = simulator.automaticRuleEvaluations().slice(before);
        assert.deepEqual(evaluations.map((entry) => [entry.ruleId, entry.operation, entry.outcome]), [[614, "created", "fired"]]);
    });
});
