import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import helper from "node-red-node-test-helper";

import { silentLogger } from "../../simulator/log";
import { DEFAULT_CREDENTIALS } from "../../simulator/rest/auth";
import { Simulator } from "../../simulator/simulator";
import { sharedBroker, type TestBroker } from "../support/broker";
import { nodeModules } from "../support/flows";
import { nodeOutputs, waitFor } from "../support/wait";

helper.init(require.resolve("node-red"));

const API_KEY = DEFAULT_CREDENTIALS.apiKeys[0];
const EMAIL = "ada@example.test";
const PASSWORD = DEFAULT_CREDENTIALS.passwords[EMAIL];

type AuthMode = "apikey" | "password";

/** How the test flow's platform node reaches the simulator. */
interface PlatformSetup {
    port: number;
    auth?: AuthMode;
    org?: string;
    /** CA file for HTTPS; plain HTTP without it. */
    caFile?: string;
    /** Replaces the password of the email/password login. */
    password?: string;
}

/** A msg as the flow would pass it on, and whatever the helper nodes saw. */
interface Outcome {
    msg?: Record<string, unknown> & { payload: unknown; statusCode: number; headers: Record<string, unknown>; changed?: boolean };
    error?: { message: string; cause?: Record<string, unknown> };
}

function modules(): unknown[] {
    return [...nodeModules(), require("../../nodes/resilient-rest")];
}

/** Returns a `resilient-rest` node (id `rest`) with every setting at its editor default, then `settings`. */
function restNode(settings: Record<string, unknown>): Record<string, unknown> {
    return {
        id: "rest",
        type: "resilient-rest",
        z: "tab",
        platform: "platform",
        operation: "request",
        method: "GET",
        path: "/incidents/{{payload.incident.id}}",
        querySource: "list",
        query: [],
        queryProperty: "query",
        headers: [],
        bodySource: "none",
        body: "payload",
        bodyType: "msg",
        bodyTemplate: "",
        handleFormat: "none",
        useContextToken: true,
        changes: "changes",
        changesType: "msg",
        maxTries: 5,
        attachTo: "incident",
        incidentId: "{{payload.incident.id}}",
        taskId: "",
        fileProperty: "payload",
        fileName: "",
        contentType: "",
        artifactType: "",
        artifactValue: "",
        artifactDescription: "",
        wires: [["out"]],
        ...settings,
    };
}

/** Loads platform node, rest node, a helper node `out` for its output and a catch node feeding `caught`. */
async function loadFlow(platform: PlatformSetup, settings: Record<string, unknown>): Promise<void> {
    const auth = platform.auth ?? "apikey";
    const flow: Array<Record<string, unknown>> = [
        { id: "tab", type: "tab" },
        {
            id: "platform",
            type: "resilient-platform",
            name: "simulator",
            // The test certificate lists 127.0.0.1 as well as localhost.
            host: "127.0.0.1",
            restPort: platform.port,
            stompPort: 65001,
            org: platform.org ?? "201",
            authType: auth,
            usetls: Boolean(platform.caFile),
            tls: platform.caFile ? "tls" : "",
            heartbeat: 15,
            reconnectMaxDelay: 1,
        },
        restNode(settings),
        { id: "out", type: "helper", z: "tab", wires: [] },
        { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
        { id: "caught", type: "helper", z: "tab", wires: [] },
    ];
    if (platform.caFile) {
        flow.push({ id: "tls", type: "tls-config", name: "test CA", cert: "", key: "", ca: platform.caFile, verifyservercert: true });
    }
    const credentials =
        auth === "apikey"
            ? { platform: { apiKeyId: API_KEY.keyId, apiKeySecret: API_KEY.secret } }
            : { platform: { email: EMAIL, password: platform.password ?? PASSWORD } };
    await helper.load(modules(), flow, credentials);
}

/**
 * Sends one msg to the rest node and waits for it to come out, or for the
 * catch node to get its error.
 */
async function send(msg: Record<string, unknown>, timeoutMs = 10000): Promise<Outcome> {
    const outputs = nodeOutputs(helper.getNode("out"));
    const errors = nodeOutputs(helper.getNode("caught"));
    helper.getNode("rest").receive(msg);
    await waitFor(() => outputs.length + errors.length > 0, timeoutMs, "the rest node's output or error");
    if (errors.length > 0) {
        return { error: (errors[0] as { error: Outcome["error"] }).error };
    }
    return { msg: outputs[0] as Outcome["msg"] };
}

/** Records the status texts and warnings of the rest node from now on. */
function watchRestNode(): { statuses: string[]; warnings: unknown[] } {
    const statuses: string[] = [];
    const warnings: unknown[] = [];
    const rest = helper.getNode("rest");
    rest.on("call:status", (call: { args: Array<{ text?: string }> }) => statuses.push(call.args[0].text ?? ""));
    rest.on("call:warn", (call: { args: unknown[] }) => warnings.push(call.args[0]));
    return { statuses, warnings };
}

async function startSimulator(tlsFiles?: { cert: Buffer; key: Buffer }): Promise<{ simulator: Simulator; port: number }> {
    const simulator = new Simulator({ logger: silentLogger, http: tlsFiles ? { tls: tlsFiles } : {} });
    await simulator.start();
    return { simulator, port: Number(new URL(simulator.url).port) };
}

/** Builds a msg as resilient-in would emit it for an incident, with a context token the simulator issued. */
function incidentMsg(simulator: Simulator, incidentId: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        payload: { incident: { id: incidentId } },
        resilient: { contextToken: simulator.tokens.issue(1, []) },
        ...extra,
    };
}

describe("resilient-rest against the simulator", () => {
    let shared: TestBroker;
    let tlsFiles: { cert: Buffer; key: Buffer };
    let caFile: string;
    let simulator: Simulator;
    let port: number;

    before(async () => {
        // The broker's test CA signed a certificate for localhost and 127.0.0.1, which the simulator's HTTPS server reuses.
        shared = await sharedBroker();
        const tlsDir = path.join(shared.broker.dataDir, "tls");
        tlsFiles = { cert: fs.readFileSync(path.join(tlsDir, "server.pem")), key: fs.readFileSync(path.join(tlsDir, "server.key")) };
        caFile = shared.broker.caFile;
    });

    afterEach(async () => {
        await helper.unload();
        await simulator?.stop();
    });

    after(async () => {
        await shared.release();
    });

    for (const auth of ["apikey", "password"] as const) {
        for (const scheme of ["http", "https"] as const) {
            test(`${auth} login over ${scheme} reads an incident`, async () => {
                ({ simulator, port } = await startSimulator(scheme === "https" ? tlsFiles : undefined));
                await loadFlow({ port, auth, caFile: scheme === "https" ? caFile : undefined }, {});

                const { msg, error } = await send(incidentMsg(simulator, 2301));

                assert.equal(error, undefined);
                assert.equal(msg?.statusCode, 200);
                assert.equal((msg?.payload as { id: number }).id, 2301);
                assert.equal((msg?.payload as { name: string }).name, "Suspicious login burst on vpn-gw-2");
            });
        }
    }

    for (const org of ["201", "Blue Team"]) {
        test(`org "${org}" resolves to org 201`, async () => {
            ({ simulator, port } = await startSimulator());
            await loadFlow({ port, org }, { path: "/incidents" });

            const { msg } = await send(incidentMsg(simulator, 2301));

            const incidents = msg?.payload as Array<{ id: number; org_id: number }>;
            assert.ok(incidents.length > 0);
            assert.deepEqual([...new Set(incidents.map((incident) => incident.org_id))], [201]);
        });
    }

    test("expired session logs in again once", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port, auth: "password" }, {});
        const first = await send(incidentMsg(simulator, 2301));
        assert.equal(first.msg?.statusCode, 200);

        assert.equal(simulator.expireSessions(), 1);
        const second = await send(incidentMsg(simulator, 2301));

        assert.equal(second.error, undefined);
        assert.equal(second.msg?.statusCode, 200);
        // One session exists again: the node logged in once more, not once per retry.
        assert.equal(simulator.expireSessions(), 1);
    });

    test("wrong password fails without the password", async () => {
        ({ simulator, port } = await startSimulator());
        const wrong = `wrong-${PASSWORD}-canary`;
        await loadFlow({ port, auth: "password", password: wrong }, {});
        const { statuses } = watchRestNode();

        const { error } = await send(incidentMsg(simulator, 2301));

        assert.match(error?.message ?? "", /HTTP 401/);
        assert.equal(error?.message.includes(wrong), false);
        assert.equal(JSON.stringify(error?.cause).includes(wrong), false);
        assert.equal(statuses.some((text) => text.includes(wrong)), false);
    });

    test("update succeeds after four conflicts", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "update", changes: '{"properties": {"siem_offense_id": "4711"}}', changesType: "json" });
        const before = structuredClone(simulator.state.incident(201, 2303));
        simulator.forceIncidentConflicts(2303, 4);
        // The first forced conflict stands for another user who saved a different field just before our PUT.
        const takeConflict = simulator.faults.takeIncidentConflict.bind(simulator.faults);
        let conflicts = 0;
        simulator.faults.takeIncidentConflict = (incidentId: number) => {
            const conflictTaken = takeConflict(incidentId);
            if (conflictTaken && ++conflicts === 1) {
                simulator.state.incident(201, incidentId).properties.vpn_gateway = "vpn-gw-7";
            }
            return conflictTaken;
        };

        const { msg, error } = await send(incidentMsg(simulator, 2303));

        assert.equal(error, undefined);
        assert.equal(conflicts, 4);
        assert.equal(msg?.changed, true);
        assert.equal(msg?.statusCode, 200);
        const after = simulator.state.incident(201, 2303);
        assert.equal(after.properties.siem_offense_id, "4711");
        assert.equal(after.properties.vpn_gateway, "vpn-gw-7");
        // Four conflicts moved the version by one each, and the one PUT that passed by one more.
        assert.equal(after.vers, before.vers + 5);
        const unchanged = (incident: Record<string, unknown>): Record<string, unknown> => {
            const copy = structuredClone(incident) as Record<string, unknown> & { properties: Record<string, unknown> };
            delete copy.vers;
            delete copy.inc_last_modified_date;
            delete copy.properties.siem_offense_id;
            delete copy.properties.vpn_gateway;
            return copy;
        };
        assert.deepEqual(unchanged(after), unchanged(before));
    });

    test("update already in place sends no PUT", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "update", changes: '{"plan_status": "A"}', changesType: "json" });
        const versionBefore = simulator.state.incident(201, 2301).vers;
        simulator.forceIncidentConflicts(2301, 1);

        const { msg } = await send(incidentMsg(simulator, 2301));

        assert.equal(msg?.changed, false);
        assert.equal(simulator.state.incident(201, 2301).vers, versionBefore);
        // The forced conflict is still pending, so no PUT reached the incident.
        assert.equal(simulator.faults.takeIncidentConflict(2301), true);
    });

    test("endless conflicts stop at max tries", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "update", changes: '{"properties": {"siem_offense_id": "4711"}}', changesType: "json", maxTries: 5 });
        const versionBefore = simulator.state.incident(201, 2303).vers;
        simulator.forceIncidentConflicts(2303, 1000);
        const { statuses } = watchRestNode();

        const { msg, error } = await send(incidentMsg(simulator, 2303));

        assert.equal(msg, undefined);
        assert.match(error?.message ?? "", /^RestError: PUT \/rest\/orgs\/201\/incidents\/2303 failed with HTTP 409 Conflict after 5 tries/);
        assert.equal(error?.cause?.statusCode, 409);
        assert.equal(error?.cause?.tries, 5);
        assert.equal(simulator.state.incident(201, 2303).vers, versionBefore + 5);
        assert.equal(simulator.state.incident(201, 2303).properties.siem_offense_id, null);
        assert.equal(statuses.at(-1), "resilient-rest.status.after-tries");
    });

    test("PATCH field failures reach the catch node", async () => {
        ({ simulator, port } = await startSimulator());
        // Another user raises the severity between the node's GET and its PATCH.
        const forwarder = await startForwarder(port, (method, url) => {
            if (method === "PATCH" && url.endsWith("/incidents/2301")) {
                const incident = simulator.state.incident(201, 2301);
                incident.severity_code = 52;
                incident.vers += 1;
            }
        });
        try {
            await loadFlow({ port: forwarder.port }, { operation: "patch", changes: '{"severity_code": 50}', changesType: "json" });
            const { statuses } = watchRestNode();

            const { msg, error } = await send(incidentMsg(simulator, 2301));

            assert.equal(msg, undefined);
            assert.match(error?.message ?? "", /^RestError: PATCH \/rest\/orgs\/201\/incidents\/2301 failed/);
            assert.match(error?.message ?? "", /severity_code \(read 51, now 52\)/);
            const failures = error?.cause?.fieldFailures as Array<{ field: string; your_original_value: unknown; actual_current_value: unknown }>;
            assert.deepEqual(failures, [{ field: "severity_code", your_original_value: 51, actual_current_value: 52 }]);
            assert.equal(simulator.state.incident(201, 2301).severity_code, 52);
            assert.equal(statuses.at(-1), "resilient-rest.status.patch-rejected");
        } finally {
            await forwarder.close();
        }
    });

    test("PATCH sets a custom field", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "patch", changes: '{"properties": {"escalated": true}}', changesType: "json" });

        const { msg, error } = await send(incidentMsg(simulator, 2303));

        assert.equal(error, undefined);
        assert.equal(msg?.changed, true);
        assert.equal((msg?.payload as { success: boolean }).success, true);
        assert.equal(simulator.state.incident(201, 2303).properties.escalated, true);
    });

    test("GET on a closed keep-alive socket is retried", async () => {
        ({ simulator, port } = await startSimulator());
        const relay = await LateCloseRelay.start(port, 2000);
        try {
            await loadFlow({ port: relay.port }, {});
            await send(incidentMsg(simulator, 2301));
            simulator.closeConnectionsAfterResponses(1);
            await send(incidentMsg(simulator, 2301));
            // Let the relay see the server's FIN, which it keeps from the client.
            await new Promise((resolve) => setTimeout(resolve, 100));
            const sentBefore = relay.count("GET /rest/orgs/201/incidents/2301");

            const { msg, error } = await send(incidentMsg(simulator, 2301));

            assert.equal(error, undefined);
            assert.equal(msg?.statusCode, 200);
            assert.equal(relay.dropped, 1);
            assert.equal(relay.count("GET /rest/orgs/201/incidents/2301") - sentBefore, 2);
        } finally {
            await relay.close();
        }
    });

    test("POST on a closed keep-alive socket is not resent", async () => {
        ({ simulator, port } = await startSimulator());
        const relay = await LateCloseRelay.start(port, 2000);
        const note = (text: string): Record<string, unknown> => incidentMsg(simulator, 2301, { payload: { incident: { id: 2301 }, note: text } });
        try {
            await loadFlow({ port: relay.port }, {
                method: "POST",
                path: "/incidents/{{payload.incident.id}}/comments",
                bodySource: "template",
                bodyTemplate: '{"text": {"format": "text", "content": "{{payload.note}}"}}',
            });
            const commentsBefore = simulator.state.comments.get(2301)?.length ?? 0;
            await send(note("first"));
            simulator.closeConnectionsAfterResponses(1);
            await send(note("second"));
            await new Promise((resolve) => setTimeout(resolve, 100));
            const postsBefore = relay.count("POST /rest/orgs/201/incidents/2301/comments");

            const { msg, error } = await send(note("third"));

            assert.equal(msg, undefined);
            assert.match(error?.message ?? "", /not sent again/);
            assert.equal(relay.dropped, 1);
            assert.equal(relay.count("POST /rest/orgs/201/incidents/2301/comments") - postsBefore, 1);
            const texts = (simulator.state.comments.get(2301) ?? []).slice(commentsBefore).map((comment) => comment.text);
            assert.deepEqual(texts, ["first", "second"]);
        } finally {
            await relay.close();
        }
    });

    test("body template escapes strings for JSON", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, {
            method: "POST",
            path: "/incidents/{{payload.incident.id}}/comments",
            bodySource: "template",
            bodyTemplate: '{"text": {"format": "text", "content": "{{payload.note}}"}}',
        });
        const note = 'Ticket "INC-7" created\nby the "helpdesk" flow \\ 100%';

        const { msg } = await send(incidentMsg(simulator, 2303, { payload: { incident: { id: 2303 }, note } }));

        assert.equal(msg?.statusCode, 200);
        assert.equal((msg?.payload as { text: unknown }).text, note);
        assert.equal(simulator.state.comments.get(2303)?.at(-1)?.text, note);
    });

    test("query list and handle format names", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { query: [{ name: "handle_format", value: "{{format}}" }] });

        const { msg } = await send(incidentMsg(simulator, 2301, { format: "names" }));

        assert.equal(typeof (msg?.payload as { severity_code: unknown }).severity_code, "string");
    });

    test("handle format setting returns names", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { handleFormat: "names" });

        const { msg } = await send(incidentMsg(simulator, 2301));

        assert.equal(typeof (msg?.payload as { severity_code: unknown }).severity_code, "string");
    });

    test("missing path value makes no call", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { method: "DELETE" });

        const { msg, error } = await send({ payload: {}, resilient: { contextToken: simulator.tokens.issue(1, []) } });

        assert.equal(msg, undefined);
        assert.equal(error?.message, "Error: resilient-rest.errors.missing-template-value");
        assert.equal(simulator.state.incidents.size, 3);
    });

    test("404 names method, path and hint", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, {});
        const { statuses } = watchRestNode();

        const { error } = await send(incidentMsg(simulator, 9999));

        assert.match(error?.message ?? "", /^RestError: GET \/rest\/orgs\/201\/incidents\/9999 failed with HTTP 404 Not Found/);
        assert.match(error?.message ?? "", /Check the incident or object id and the org/);
        assert.equal(error?.cause?.statusCode, 404);
        assert.equal(statuses.at(-1), "404 Not Found");
    });

    test("msg without a token warns once", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { path: "/rest/const" });
        const { warnings } = watchRestNode();

        const first = await send({ payload: "from an inject node" });
        const second = await send({ payload: "again" });

        assert.equal(first.msg?.statusCode, 200);
        assert.equal(second.msg?.statusCode, 200);
        assert.deepEqual(warnings, ["resilient-rest.warnings.missing-context-token"]);
    });

    test("token off sends no warning", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { path: "/rest/const", useContextToken: false });
        const { warnings } = watchRestNode();

        const { msg } = await send({ payload: "from an inject node" });

        assert.equal(msg?.statusCode, 200);
        assert.deepEqual(warnings, []);
    });

    test("attachment from a Buffer", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "attachment", fileName: "evidence-{{payload.incident.id}}.txt", contentType: "text/plain", fileProperty: "file" });
        const content = Buffer.from("login burst evidence\n");

        const { msg, error } = await send(incidentMsg(simulator, 2301, { file: content }));

        assert.equal(error, undefined);
        assert.equal((msg?.payload as { name: string }).name, "evidence-2301.txt");
        const stored = simulator.state.attachments.get(2301)?.at(-1);
        assert.equal(stored?.name, "evidence-2301.txt");
        assert.equal(stored?.size, content.length);
        assert.equal(stored?.content_type, "text/plain");
    });

    test("attachment from a file path", async () => {
        ({ simulator, port } = await startSimulator());
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "resilient-rest-"));
        const file = path.join(dir, "gateway.log");
        fs.writeFileSync(file, "02:14 login burst\n02:15 login burst\n");
        try {
            await loadFlow({ port }, { operation: "attachment", fileSource: "path", incidentId: "{{incidentId}}" });

            const { msg, error } = await send({ payload: file, incidentId: 2303, resilient: { contextToken: simulator.tokens.issue(1, []) } });

            assert.equal(error, undefined);
            assert.equal((msg?.payload as { name: string }).name, "gateway.log");
            assert.equal(simulator.state.attachments.get(2303)?.at(-1)?.size, fs.statSync(file).size);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("missing file fails with its path", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "attachment", fileSource: "path", fileProperty: "file" });

        const { error } = await send(incidentMsg(simulator, 2303, { file: "/nonexistent/resilient-rest/evidence.txt" }));

        assert.equal(error?.message, "Error: resilient-rest.errors.unreadable-file");
        assert.equal(simulator.state.attachments.get(2303), undefined);
    });

    test("dot segment in path is refused", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "request", method: "DELETE", path: "/incidents/2303/artifacts/{{segment}}" });

        const { error } = await send(incidentMsg(simulator, 2303, { segment: ".." }));

        assert.equal(error?.message, "Error: resilient-rest.errors.invalid-rendered-path");
        assert.ok(simulator.state.incidents.get(2303));
    });

    test("reserved header row is refused", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "request", method: "GET", path: "/incidents/2303", headers: [{ name: "Host", value: "elsewhere.example" }] });

        const { error } = await send(incidentMsg(simulator, 2303));

        assert.equal(error?.message, "Error: resilient-rest.errors.reserved-header");
    });

    test("device path is not read", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "attachment", fileSource: "path", fileProperty: "file" });

        const { error } = await send(incidentMsg(simulator, 2303, { file: "/dev/zero" }));

        assert.equal(error?.message, "Error: resilient-rest.errors.not-a-file");
        assert.equal(simulator.state.attachments.get(2303), undefined);
    });

    test("string is content by default", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, { operation: "attachment", fileName: "note.txt", fileProperty: "file" });

        const { error } = await send(incidentMsg(simulator, 2303, { file: "/etc/hostname" }));

        assert.equal(error, undefined);
        assert.equal(simulator.state.attachments.get(2303)?.at(-1)?.size, Buffer.byteLength("/etc/hostname"));
    });

    test("artifact is created and returned as a list", async () => {
        ({ simulator, port } = await startSimulator());
        await loadFlow({ port }, {
            operation: "artifact",
            artifactType: "IP Address",
            artifactValue: "{{payload.ip}}",
            artifactDescription: "Seen in {{payload.source}}",
        });

        const { msg, error } = await send(incidentMsg(simulator, 2303, { payload: { incident: { id: 2303 }, ip: "203.0.113.9", source: "the gateway log" } }));

        assert.equal(error, undefined);
        const artifacts = msg?.payload as Array<{ value: string; inc_id: number }>;
        assert.equal(Array.isArray(artifacts), true);
        assert.equal(artifacts[0].value, "203.0.113.9");
        assert.equal(artifacts[0].inc_id, 2303);
        assert.equal(simulator.state.artifacts.get(2303)?.at(-1)?.description, "Seen in the gateway log");
    });
});

/**
 * Starts an HTTP proxy on 127.0.0.1 in front of the simulator. It calls
 * `beforeForward` with each request's method and URL before it passes the
 * request on, so a test can change the platform's data in between two calls
 * of one node.
 */
async function startForwarder(targetPort: number, beforeForward: (method: string, url: string) => void): Promise<{ port: number; close(): Promise<void> }> {
    const server = http.createServer((request, response) => {
        beforeForward(request.method ?? "GET", request.url ?? "/");
        const upstream = http.request(
            { host: "127.0.0.1", port: targetPort, method: request.method, path: request.url, headers: request.headers },
            (answer) => {
                response.writeHead(answer.statusCode ?? 502, answer.headers);
                answer.pipe(response);
            },
        );
        upstream.on("error", () => response.destroy());
        request.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        port: (server.address() as net.AddressInfo).port,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}

/**
 * A TCP relay on 127.0.0.1 that holds back the server's end of a
 * connection for `holdMs`, so the client still sees an open keep-alive
 * connection that the server has closed. A request the client writes in
 * that window cannot reach the server, and the relay drops the client's
 * connection without a response, as a server does when the close and the
 * request cross. Without the relay, whether the client notices the close
 * before it reuses the connection depends on timing.
 */
class LateCloseRelay {
    /** Request lines seen from clients, e.g. `GET /rest/orgs/201/incidents/2301`. */
    public readonly requests: string[] = [];
    /** Client connections dropped because a request arrived after the server's close. */
    public dropped = 0;

    private readonly sockets = new Set<net.Socket>();
    private readonly timers = new Set<NodeJS.Timeout>();

    private constructor(private readonly server: net.Server, public readonly port: number) {}

    public static async start(targetPort: number, holdMs: number): Promise<LateCloseRelay> {
        let relay: LateCloseRelay | undefined;
        const server = net.createServer((client) => relay?.connect(client, targetPort, holdMs));
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        relay = new LateCloseRelay(server, (server.address() as net.AddressInfo).port);
        return relay;
    }

    public count(requestLine: string): number {
        return this.requests.filter((line) => line === requestLine).length;
    }

    public close(): Promise<void> {
        for (const timer of this.timers) {
            clearTimeout(timer);
        }
        for (const socket of this.sockets) {
            socket.destroy();
        }
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    private connect(client: net.Socket, targetPort: number, holdMs: number): void {
        const upstream = net.connect(targetPort, "127.0.0.1");
        let serverClosed = false;
        this.sockets.add(client).add(upstream);

        client.on("data", (chunk: Buffer) => {
            for (const match of chunk.toString("latin1").matchAll(/^(GET|POST|PUT|PATCH|DELETE) (\S+?)(?:\?\S*)? HTTP\/1\.1\r$/gm)) {
                this.requests.push(`${match[1]} ${match[2]}`);
            }
            if (serverClosed) {
                this.dropped += 1;
                client.destroy();
                return;
            }
            upstream.write(chunk);
        });
        upstream.on("data", (chunk: Buffer) => client.write(chunk));
        upstream.on("end", () => {
            serverClosed = true;
            const timer = setTimeout(() => {
                this.timers.delete(timer);
                client.end();
            }, holdMs);
            this.timers.add(timer);
        });
        client.on("end", () => upstream.end());
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
        client.on("close", () => {
            this.sockets.delete(client);
            upstream.destroy();
        });
        upstream.on("close", () => this.sockets.delete(upstream));
    }
}
