import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import { uploadAttachment, type RestClient } from "../../lib/rest";
import type { BrokerDescription } from "../../scripts/broker";
import { demoFlows, exampleFiles, restPortOf, simulatorRestClient, startExampleSimulator } from "../../scripts/demo";
import { startNodeRed, type NodeRedProcess } from "../../scripts/node-red";
import type { Invocation, InvocationStatus } from "../../simulator/invocations";
import { silentLogger } from "../../simulator/log";
import type { JsonObject } from "../../simulator/model";
import type { Simulator } from "../../simulator/simulator";
import { sharedBroker, type TestBroker } from "../support/broker";
import { drainQueue, waitFor } from "../support/wait";

/**
 * Every flow in examples/ in a real Node-RED process, rewritten by the demo's
 * `demoFlows` for the test broker and the simulator (REST over HTTPS with the
 * broker's CA, the broker's `processor` user as API key for both). Each test
 * fires an example's invocation and checks Action Status and what the flow
 * changed on the platform.
 */

const ROOT = path.resolve(__dirname, "..", "..", "..");
const PLATFORM_ID = "a1c0ffee00000001";
const PACKAGE_NAME = "@soarflow/node-red-resilient";
const STATUS_TIMEOUT_MS = 20_000;
/** How long Action Status must stay unchanged before a test takes it as final: automatic rules can fire after a reply. */
const QUIET_MS = 1500;

/** Rule ids of the simulator's seed that the examples answer. */
const RULES = {
    createTicket: 612,
    incidentModified: 613,
    severityRaisedToHigh: 614,
    lookUpArtifact: 616,
    incidentCreated: 618,
    disableAccount: 619,
    detonateInSandbox: 620,
};

type FlowNode = Record<string, unknown>;

function readExample(file: string): unknown {
    return JSON.parse(fs.readFileSync(path.join(ROOT, "examples", file), "utf8"));
}

describe("example flows", { timeout: 300_000 }, () => {
    let shared: TestBroker;
    let broker: BrokerDescription;
    let simulator: Simulator;
    let rest: RestClient;
    let nodeRed: NodeRedProcess;
    let deployedFrom = 0;

    before(async () => {
        shared = await sharedBroker();
        broker = shared.broker;
        simulator = await startExampleSimulator(broker, silentLogger);
        rest = simulatorRestClient(broker, simulator);
        nodeRed = await startNodeRed();
        deployedFrom = nodeRed.output.length;
        await nodeRed.deploy(demoFlows(broker, nodeRed.port, { restPort: restPortOf(simulator) }));
        await nodeRed.waitForOutput(/Connected to broker/, 30000, deployedFrom);
    });

    after(async () => {
        await settle().catch(() => undefined);
        await nodeRed?.stop();
        await rest?.close();
        await simulator?.stop();
        // Rule 614 sends to `severity`, which no example consumes; later test files must not find its messages.
        await drainQueue(broker, "/queue/actions.201.severity", 500);
        await shared?.release();
    });

    /** Fires a rule and waits for the invocation to reach `status`. */
    async function fireRule(ruleId: number, options: Parameters<Simulator["fireRule"]>[1], status: InvocationStatus = "Completed"): Promise<Invocation> {
        const [invocation] = await simulator.fireRule(ruleId, options);
        return simulator.waitForStatus(invocation.id, status, STATUS_TIMEOUT_MS);
    }

    /** Waits until no invocation is Pending and none was added for QUIET_MS. */
    async function settle(): Promise<void> {
        let count = -1;
        let settledAt = Date.now();
        await waitFor(
            () => {
                const invocations = simulator.invocations();
                if (invocations.some((invocation) => invocation.status === "Pending") || invocations.length !== count) {
                    count = invocations.length;
                    settledAt = Date.now();
                    return false;
                }
                return Date.now() - settledAt >= QUIET_MS;
            },
            STATUS_TIMEOUT_MS,
            "every invocation to finish",
        );
    }

    function lastReply(invocation: Invocation): Invocation["replies"][number] {
        const reply = invocation.replies.at(-1);
        assert.ok(reply, `invocation ${invocation.correlationId} has no reply`);
        return reply;
    }

    function incidentNotes(incidentId: number): JsonObject[] {
        return simulator.state.comments.get(incidentId) ?? [];
    }

    function ruleInvocations(ruleId: number, incidentId: number): Invocation[] {
        return simulator.invocations().filter((invocation) => invocation.ruleId === ruleId && invocation.incidentId === incidentId);
    }

    function evaluationsOf(incidentId: number): Array<[number, string, string]> {
        return simulator
            .automaticRuleEvaluations()
            .filter((evaluation) => evaluation.incidentId === incidentId)
            .map((evaluation) => [evaluation.ruleId, evaluation.operation, evaluation.outcome]);
    }

    async function createIncident(body: JsonObject): Promise<number> {
        const created = await rest.request<{ id: number }>({ method: "POST", path: "/incidents", body: { discovered_date: Date.now(), ...body } });
        return created.body.id;
    }

    describe("files", () => {
        test("every example is a JSON array", () => {
            const files = exampleFiles();
            assert.ok(files.length >= 6, `examples/ has ${files.length} flows`);
            for (const file of files) {
                assert.ok(Array.isArray(readExample(file)), `${file} is not a JSON array`);
            }
        });

        test("every example explains itself in a comment", () => {
            for (const file of exampleFiles()) {
                const nodes = readExample(file) as FlowNode[];
                const explained = nodes.some((node) => node.type === "comment" && typeof node.info === "string" && node.info.length > 200);
                assert.ok(explained, `${file} has no comment node with an explanation in its info`);
            }
        });

        test("every example uses the shared platform node", () => {
            for (const file of exampleFiles()) {
                const nodes = readExample(file) as FlowNode[];
                const platforms = nodes.filter((node) => node.type === "resilient-platform");
                assert.deepEqual(
                    platforms.map((node) => [node.id, node.name]),
                    [[PLATFORM_ID, "SOAR platform"]],
                    `${file} must contain exactly the shared config node`,
                );
                assert.equal(platforms[0].credentials, undefined, `${file} carries credentials`);
                for (const node of nodes.filter((entry) => entry.type === "resilient-in" || entry.type === "resilient-rest")) {
                    assert.equal(node.platform, PLATFORM_ID, `${file}: node ${String(node.id)} uses another platform node`);
                }
            }
        });

        test("stand-ins live on Node-RED's own port", () => {
            for (const file of exampleFiles()) {
                const text = fs.readFileSync(path.join(ROOT, "examples", file), "utf8");
                const urls = text.match(/https?:\/\/[^"\\ ]+/g) ?? [];
                for (const url of urls) {
                    assert.match(url, /^http:\/\/127\.0\.0\.1:1880\//, `${file} calls ${url}`);
                }
            }
        });

        test("node ids are unique across examples", () => {
            const seen = new Map<string, string>();
            for (const file of exampleFiles()) {
                for (const node of readExample(file) as FlowNode[]) {
                    const id = String(node.id);
                    if (id === PLATFORM_ID) {
                        continue;
                    }
                    assert.equal(seen.get(id), undefined, `${file} reuses node id ${id} of ${seen.get(id)}`);
                    seen.set(id, file);
                }
            }
        });
    });

    describe("deployed", () => {
        test("examples use only core and package nodes", async () => {
            const response = await fetch(`${nodeRed.url}/nodes`, { headers: { Accept: "application/json" } });
            assert.equal(response.status, 200);
            const nodeSets = (await response.json()) as Array<{ module: string; types: string[] }>;
            const allowed = new Set(nodeSets.filter((set) => set.module === "node-red" || set.module === PACKAGE_NAME).flatMap((set) => set.types));
            for (const file of exampleFiles()) {
                const foreign = (readExample(file) as FlowNode[]).map((node) => String(node.type)).filter((type) => !allowed.has(type));
                assert.deepEqual(foreign, [], `${file} uses node types from other modules`);
            }
        });

        test("Node-RED runs every example node", async () => {
            const flows = (await nodeRed.admin("GET", "/flows")) as FlowNode[];
            const deployed = new Set(flows.map((node) => String(node.id)));
            for (const file of exampleFiles()) {
                const missing = (readExample(file) as FlowNode[]).map((node) => String(node.id)).filter((id) => !deployed.has(id));
                assert.deepEqual(missing, [], `${file}: nodes not deployed`);
            }
        });
    });

    describe("Create helpdesk ticket from a note", () => {
        test("ticket completes and notes the incident", async () => {
            const notesBefore = incidentNotes(2301).length;

            const done = await fireRule(RULES.createTicket, { incidentId: 2301, properties: { ticket_priority: "Urgent" } });

            assert.equal(done.replies.length, 2);
            assert.equal(done.replies[0].complete, false);
            assert.equal(done.replies[0].text, "Creating a ticket with priority Urgent");
            const completion = lastReply(done);
            assert.equal(completion.messageType, 0);
            const ticket = /^Ticket (HD-\d+) created with priority Urgent for a Medium severity incident, and noted on the incident$/.exec(completion.text);
            assert.ok(ticket, `unexpected completion: ${completion.text}`);
            const added = incidentNotes(2301).slice(notesBefore);
            assert.deepEqual(
                added.map((note) => note.text),
                [`Helpdesk ticket ${ticket[1]} opened with priority Urgent.`],
            );
            assert.equal(added[0].user_fname, "Node-RED processor");
        });

        test("failed note completes with a warning", async () => {
            const notesBefore = incidentNotes(2301).length;
            const org = simulator.state.org(201);
            // A disabled org rejects every REST call with 403, while the broker still delivers the rule.
            org.enabled = false;
            let done: Invocation;
            try {
                done = await fireRule(RULES.createTicket, { incidentId: 2301, properties: { ticket_priority: "Low" } });
            } finally {
                org.enabled = true;
            }

            const completion = lastReply(done);
            assert.equal(completion.messageType, 2);
            assert.match(completion.text, /^Ticket HD-\d+ created with priority Low for a Medium severity incident, but the note on the incident failed: /);
            assert.match(completion.text, /403/);
            assert.equal(incidentNotes(2301).length, notesBefore);
        });
    });

    describe("Enrich an IP address with a function", () => {
        test("function returns the asset", async () => {
            const invocation = await simulator.fireFunction("enrich_ip", { inputs: { artifact_value: "203.0.113.7", incident_id: 2301 } });
            const done = await simulator.waitForStatus(invocation.id, "Completed", STATUS_TIMEOUT_MS);

            const reply = lastReply(done);
            assert.equal(reply.text, "Asset owner of 203.0.113.7: payments");
            const results = reply.results as { success: boolean; content: { owner: string; hostname: string } };
            assert.equal(results.success, true);
            assert.equal(results.content.owner, "payments");
            assert.equal(results.content.hostname, "pay-web-1");
        });
    });

    describe("Set severity of new and modified incidents", () => {
        test("modified incident gets its severity once", async () => {
            const incident = simulator.state.incident(201, 2301);
            const versionBefore = incident.vers;
            assert.equal(incident.severity_code, 51);

            const done = await fireRule(RULES.incidentModified, { incidentId: 2301 });
            await settle();

            assert.equal(
                lastReply(done).text,
                "Reviewed incident 2301 (Suspicious login burst on vpn-gw-2): severity set to High, was Medium, because the incident is escalated",
            );
            assert.equal(incident.severity_code, 52);
            assert.equal(incident.vers, versionBefore + 1);
            // The flow's change carried the token, so "Incident modified" did not fire again; "Severity raised to High" did.
            assert.deepEqual(evaluationsOf(2301), [
                [RULES.incidentModified, "modified", "suppressed by context token"],
                [RULES.severityRaisedToHigh, "modified", "fired"],
            ]);
            assert.equal(ruleInvocations(RULES.incidentModified, 2301).length, 1);
        });

        test("new incident gets its severity once", async () => {
            const incidentId = await createIncident({ name: "Booter traffic on the web shop", incident_type_ids: ["Denial of Service"], severity_code: "Low" });
            const [creation] = simulator.automaticRuleEvaluations().filter((evaluation) => evaluation.incidentId === incidentId);
            assert.ok(creation, "no automatic rule matched the new incident");
            const created = await simulator.waitForStatus(creation.invocationIds[0], "Completed", STATUS_TIMEOUT_MS);
            await settle();

            assert.equal(created.ruleId, RULES.incidentCreated);
            assert.equal(lastReply(created).text, `Reviewed incident ${incidentId} (Booter traffic on the web shop): severity set to High, was Low, because its type is Denial of Service`);
            const incident = simulator.state.incident(201, incidentId);
            assert.equal(incident.severity_code, 52);
            // Created at version 1, then one PUT by the flow; the follow-up run sent none.
            assert.equal(incident.vers, 2);
            // The token names only "Incident created", so the flow's change fires "Incident modified" once.
            // That run finds the severity right and changes nothing, which ends the chain.
            assert.deepEqual(evaluationsOf(incidentId), [
                [RULES.incidentCreated, "created", "fired"],
                [RULES.incidentModified, "modified", "fired"],
                [RULES.severityRaisedToHigh, "modified", "fired"],
            ]);
            const followUps = ruleInvocations(RULES.incidentModified, incidentId);
            assert.equal(followUps.length, 1);
            assert.equal(followUps[0].status, "Completed");
            assert.equal(lastReply(followUps[0]).text, `Reviewed incident ${incidentId} (Booter traffic on the web shop): severity stays High, because its type is Denial of Service`);
        });

        test("incident without a type keeps its severity", async () => {
            const incidentId = await createIncident({ name: "Unclassified report from the help desk", severity_code: "Medium" });
            // "Incident created" requires an incident type.
            assert.deepEqual(evaluationsOf(incidentId), []);
            const incident = simulator.state.incident(201, incidentId);
            const versionBefore = incident.vers;

            const done = await fireRule(RULES.incidentModified, { incidentId });

            assert.equal(lastReply(done).text, `Reviewed incident ${incidentId} (Unclassified report from the help desk): severity stays Medium, because it has no incident type`);
            assert.equal(incident.severity_code, 51);
            assert.equal(incident.vers, versionBefore);
        });
    });

    describe("Disable a user account from a task", () => {
        function taskNotes(): JsonObject[] {
            const task = simulator.state.childObject("tasks", 2301, 4101);
            return (task?.notes as JsonObject[] | undefined) ?? [];
        }

        test("account is disabled and noted on the task", async () => {
            const notesBefore = taskNotes().length;

            const done = await fireRule(RULES.disableAccount, { incidentId: 2301, objectId: 4101, properties: { account_name: " jdoe " } });

            assert.deepEqual(
                done.replies.map((reply) => [reply.messageType, reply.complete, reply.text]),
                [
                    [0, false, "Disabling account jdoe in the directory"],
                    [0, true, "Account jdoe (Jane Doe) disabled in the directory at the request of Ada Ops. Noted on task Collect VPN logs."],
                ],
            );
            const added = taskNotes().slice(notesBefore);
            assert.deepEqual(
                added.map((note) => [note.text, note.type, note.task_id]),
                [["Account jdoe (Jane Doe) disabled in the directory at the request of Ada Ops.", "task", 4101]],
            );
            const listed = await rest.request<JsonObject[]>({ method: "GET", path: "/tasks/4101/comments" });
            assert.ok(listed.body.some((note) => note.id === added[0].id));
        });

        test("unknown account ends with an error", async () => {
            const notesBefore = taskNotes().length;

            const done = await fireRule(RULES.disableAccount, { incidentId: 2301, objectId: 4101, properties: { account_name: "nobody" } }, "Error");

            assert.equal(lastReply(done).text, "The directory has no account nobody.");
            assert.equal(taskNotes().length, notesBefore);
        });

        test("missing account ends with an error", async () => {
            const done = await fireRule(RULES.disableAccount, { incidentId: 2301, objectId: 4101 }, "Error");

            assert.equal(done.replies.length, 1);
            assert.equal(lastReply(done).text, "No account name was entered. Run the rule again and enter the account to disable.");
        });
    });

    describe("Search a SIEM for an artifact", () => {
        test("IP address events become a note", async () => {
            const notesBefore = incidentNotes(2301).length;

            const done = await fireRule(RULES.lookUpArtifact, { incidentId: 2301, objectId: 3101, properties: { lookup_reason: "Check the source" } });

            assert.equal(lastReply(done).text, "Found 3 SIEM events for IP Address 198.51.100.23 and added them as a note to incident 2301");
            const added = incidentNotes(2301).slice(notesBefore);
            assert.equal(added.length, 1);
            const lines = String(added[0].text).split("\n");
            assert.deepEqual(lines.slice(0, 2), ["SIEM search for IP Address 198.51.100.23, last 24 hours: 3 events.", "Reason for the lookup: Check the source"]);
            assert.equal(lines.length, 5);
            assert.match(lines[2], /^- 2025-01-01T02:14:05Z Failed VPN login on vpn-gw-2 \(412x\)$/);
        });

        test("DNS name events become a note", async () => {
            const notesBefore = incidentNotes(2301).length;

            const done = await fireRule(RULES.lookUpArtifact, { incidentId: 2301, objectId: 3103 });

            assert.equal(lastReply(done).text, "Found 2 SIEM events for DNS Name login-portal.example.net and added them as a note to incident 2301");
            const added = incidentNotes(2301).slice(notesBefore);
            assert.equal(added.length, 1);
            assert.match(String(added[0].text), /^SIEM search for DNS Name login-portal\.example\.net, last 24 hours: 2 events\.\n- /);
        });

        test("unsupported type completes with a warning", async () => {
            const notesBefore = incidentNotes(2303).length;

            const done = await fireRule(RULES.lookUpArtifact, { incidentId: 2303, objectId: 3102 });

            assert.equal(done.replies.length, 1);
            const reply = lastReply(done);
            assert.equal(reply.messageType, 2);
            assert.equal(reply.text, "Artifact type Email Sender is not supported: the SIEM lookup takes IP Address and DNS Name artifacts.");
            assert.equal(incidentNotes(2303).length, notesBefore);
        });
    });

    describe("Detonate a malware sample in a sandbox", () => {
        interface Attachment extends JsonObject {
            id: number;
            name: string;
            content_type: string;
        }

        async function attachments(): Promise<Attachment[]> {
            return (await rest.request<Attachment[]>({ method: "GET", path: "/incidents/2301/attachments" })).body;
        }

        async function upload(name: string, contentType: string, data: Buffer): Promise<Attachment> {
            return (await uploadAttachment(rest, { incidentId: 2301, fileName: name, contentType, data })) as Attachment;
        }

        /** Fires the sandbox rule on a new sample and returns the invocation and the report the flow attached. */
        async function detonate(name: string, contentType: string, data: Buffer): Promise<{ done: Invocation; report: JsonObject; attachment: Attachment }> {
            const sample = await upload(name, contentType, data);
            const before = (await attachments()).length;

            const done = await fireRule(RULES.detonateInSandbox, { incidentId: 2301, objectId: sample.id });

            const added = (await attachments()).slice(before);
            assert.deepEqual(
                added.map((attachment) => [attachment.name, attachment.content_type]),
                [[`sandbox-report-${name}.json`, "application/json"]],
            );
            const contents = await rest.request<JsonObject>({ method: "GET", path: `/incidents/2301/attachments/${added[0].id}/contents` });
            return { done, report: contents.body, attachment: added[0] };
        }

        test("executable sample is reported malicious", async () => {
            const sample = Buffer.concat([Buffer.from("MZ", "latin1"), Buffer.from([0x90, 0x00, 0x03, 0xff]), Buffer.alloc(100)]);

            const { done, report } = await detonate("payroll-update.exe", "application/octet-stream", sample);

            assert.equal(done.replies[0].text, "Sending payroll-update.exe to the sandbox");
            assert.equal(lastReply(done).text, "Sandbox verdict for payroll-update.exe: malicious (score 92). Report attached as sandbox-report-payroll-update.exe.json");
            assert.equal(report.sample, "payroll-update.exe");
            assert.equal(report.size_bytes, sample.length);
            assert.equal(report.file_type, "Windows executable");
            assert.equal(report.verdict, "malicious");
        });

        test("text sample is reported harmless", async () => {
            const sample = Buffer.from("Dear customer, please find the invoice attached.\n", "utf8");

            const { done, report } = await detonate("mail-body.txt", "text/plain", sample);

            assert.equal(lastReply(done).text, "Sandbox verdict for mail-body.txt: no threat found (score 3). Report attached as sandbox-report-mail-body.txt.json");
            assert.equal(report.size_bytes, sample.length);
            assert.equal(report.verdict, "no threat found");
        });
    });

    test("Node-RED logged no errors", async () => {
        await settle();
        const errors = nodeRed.output.slice(deployedFrom).filter((line) => /\[(error|warn)\]/.test(line));
        assert.deepEqual(errors, []);
    });
});
