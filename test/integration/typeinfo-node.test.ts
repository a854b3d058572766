import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

import helper from "node-red-node-test-helper";

import type { Broker, BrokerDescription } from "../../scripts/broker";
import { demoFlows } from "../../scripts/demo";
import { startNodeRed, type NodeRedProcess } from "../../scripts/node-red";
import type { JsonObject } from "../../simulator/model";
import { silentLogger } from "../../simulator/log";
import { DEFAULT_CREDENTIALS } from "../../simulator/rest/auth";
import { Simulator } from "../../simulator/simulator";
import { readSample, ruleMessage, selectField, TABLE_TYPE, typeInfoOf, withMoreObjects } from "../fixtures/typeinfo-samples";
import { sharedBroker, type TestBroker } from "../support/broker";
import { ackNode, inNode, nodeModules, platformNodes, processorCredentials } from "../support/flows";
import { nodeOutputs, waitFor } from "../support/wait";

helper.init(require.resolve("node-red"));

type Msg = Record<string, unknown>;

/** Reads a dotted path from a msg, or returns `undefined` where a part is missing. */
function at(root: unknown, path: string): unknown {
    let current = root;
    for (const key of path.split(".")) {
        if (typeof current !== "object" || current === null) {
            return undefined;
        }
        current = (current as Record<string, unknown>)[key];
    }
    return current;
}

function warningCodes(msg: Msg | undefined): unknown {
    const warnings = msg?.typeinfoWarnings;
    return Array.isArray(warnings) ? warnings.map((warning: { code: string }) => warning.code) : warnings;
}

function typeinfoModules(): unknown[] {
    return [...nodeModules(), require("../../nodes/resilient-typeinfo")];
}

/** A `resilient-typeinfo` node with the editor's defaults, wired to the helper node `out`. */
function typeinfoNode(settings: Msg, id = "typeinfo", wires: string[] = ["out"]): Msg {
    return {
        id,
        type: "resilient-typeinfo",
        z: "tab",
        name: "",
        mode: "beside",
        keepPayload: false,
        property: "",
        field: "",
        tableType: "",
        labelsProperty: "label",
        dateInputs: "",
        platform: "",
        wires: [wires],
        ...settings,
    };
}

/** What a Catch node reports for an error raised with `done(err)`. */
interface CaughtError {
    message: string;
    source: { id: string };
}

/** A loaded flow of typeinfo nodes, with everything they sent, logged and raised. */
interface TypeInfoFlow {
    outputs: Msg[];
    caught: Msg[];
    completed: Msg[];
    warnings: Map<string, unknown[]>;
    /** Sends a msg into one node and resolves with its output msg or the error a Catch node received. */
    run(msg: Msg, nodeId?: string): Promise<{ output?: Msg; error?: CaughtError }>;
}

/**
 * Loads typeinfo nodes with a Catch node, a Complete node scoped to
 * them, and the helper node `out`. `extra` adds nodes such as a platform.
 */
async function loadTypeInfoFlow(nodes: Msg[], extra: Msg[] = [], credentials: Record<string, unknown> = {}): Promise<TypeInfoFlow> {
    const ids = nodes.map((node) => String(node.id));
    const flow = [
        { id: "tab", type: "tab" },
        ...extra,
        ...nodes,
        { id: "out", type: "helper", z: "tab" },
        { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
        { id: "caught", type: "helper", z: "tab" },
        { id: "completer", type: "complete", z: "tab", scope: ids, uncaught: false, wires: [["completed"]] },
        { id: "completed", type: "helper", z: "tab" },
    ];
    await helper.load(typeinfoModules(), flow, credentials);

    const outputs = nodeOutputs(helper.getNode("out")) as Msg[];
    const caught = nodeOutputs(helper.getNode("caught")) as Msg[];
    const completed = nodeOutputs(helper.getNode("completed")) as Msg[];
    const warnings = new Map<string, unknown[]>();
    for (const id of ids) {
        const logged: unknown[] = [];
        helper.getNode(id).on("call:warn", (call: { args: unknown[] }) => logged.push(call.args[0]));
        warnings.set(id, logged);
    }

    return {
        outputs,
        caught,
        completed,
        warnings,
        run: async (msg, nodeId = ids[0]) => {
            const outputCount = outputs.length;
            const caughtCount = caught.length;
            helper.getNode(nodeId).receive(msg);
            await waitFor(() => outputs.length > outputCount || caught.length > caughtCount, 15000, `node ${nodeId} to send or raise`);
            if (caught.length > caughtCount) {
                return { error: caught[caughtCount].error as CaughtError };
            }
            return { output: outputs[outputCount] };
        },
    };
}

/**
 * Starts a loopback HTTP proxy in front of the simulator that records the
 * method and path of each request, so a test can count the platform calls.
 */
async function startCountingProxy(target: string): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
        requests.push(`${req.method ?? "GET"} ${req.url ?? "/"}`);
        const upstream = http.request(new URL(req.url ?? "/", target), { method: req.method, headers: req.headers }, (response) => {
            res.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(res);
        });
        upstream.on("error", (error) => {
            res.writeHead(502, { "content-type": "text/plain" });
            res.end(`Proxy request failed: ${error.message}`);
        });
        req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
        port: (server.address() as AddressInfo).port,
        requests,
        close: () =>
            new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
            }),
    };
}

async function closedPort(): Promise<number> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

/** Values of the rule fired by the tests: the same as in the fixture rule message. */
const TICKET_PROPERTIES = { ticket_priority: "High", ticket_note: "call the vendor", notify_teams: ["Network", "Identity"] };
/** Inputs of the function called by the tests: the same as in the fixture function message. */
const ENRICH_INPUTS = {
    incident_id: 2301,
    artifact_value: "198.51.100.23",
    verbose: true,
    lookup_mode: "fast",
    sources: ["asset database", "SIEM"],
    analyst_note: "check the VPN logs first",
    since: 1735600000000,
};

describe("resilient-typeinfo", () => {
    let shared: TestBroker;
    let broker: BrokerDescription;
    let simulator: Simulator;
    let proxy: Awaited<ReturnType<typeof startCountingProxy>>;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    /** Bodies of a rule message and a function message as the simulator sent them through the broker. */
    const captured: { rule?: Msg; fn?: Msg } = {};

    /** Returns the platform node `platform`, with STOMP to the broker and REST to the simulator through the counting proxy. */
    function platform(restPort = proxy.port): Msg {
        return { ...platformNodes({ port: broker.stompPort })[0], restPort };
    }

    function fieldRequests(type: string, field: string): number {
        return proxy.requests.filter((request) => request === `GET /rest/orgs/201/types/${type}/fields/${field}`).length;
    }

    before(async () => {
        process.on("unhandledRejection", onUnhandled);
        shared = await sharedBroker();
        broker = shared.broker;
        // The platform node uses one API key for STOMP and REST, so the simulator accepts the broker's processor login.
        simulator = new Simulator({
            broker: { host: broker.host, port: broker.stompPort, ...broker.users.platform },
            credentials: {
                passwords: DEFAULT_CREDENTIALS.passwords,
                apiKeys: [
                    ...DEFAULT_CREDENTIALS.apiKeys,
                    {
                        keyId: broker.users.processor.login,
                        secret: broker.users.processor.passcode,
                        handle: 102,
                        displayName: "Node-RED test processor",
                        orgIds: [201],
                    },
                ],
            },
            logger: silentLogger,
        });
        await simulator.start();
        proxy = await startCountingProxy(simulator.url);

        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: broker.stompPort }),
            inNode("ticket", ["ack", "capture"]),
            { ...inNode("fn_enrich", ["ack-fn", "capture"]), id: "in-fn" },
            ackNode("captured", []),
            { ...ackNode("captured", [], { reply: "result" }), id: "ack-fn" },
            { id: "capture", type: "helper", z: "tab" },
        ];
        await helper.load(typeinfoModules(), flow, processorCredentials(broker));
        const received = nodeOutputs(helper.getNode("capture")) as Msg[];
        const [rule] = await simulator.fireRule(612, { incidentId: 2301, properties: TICKET_PROPERTIES });
        const fn = await simulator.fireFunction("enrich_ip", { inputs: ENRICH_INPUTS });
        await simulator.waitForStatus(rule.id, "Completed", 15000);
        await simulator.waitForStatus(fn.id, "Completed", 15000);
        await waitFor(() => received.length === 2, 5000, "both messages at the capture node");
        for (const msg of received) {
            const kind = (msg.resilient as { kind: string }).kind;
            captured[kind === "function" ? "fn" : "rule"] = structuredClone(msg.payload) as Msg;
        }
        await helper.unload();
    });

    afterEach(async () => {
        await helper.unload();
    });

    after(async () => {
        process.off("unhandledRejection", onUnhandled);
        await proxy?.close();
        await simulator?.stop();
        await shared?.release();
    });

    const ruleSamples: Array<{ name: string; payload: () => Msg }> = [
        { name: "fixture", payload: () => ruleMessage() as Msg },
        { name: "simulator", payload: () => structuredClone(captured.rule) as Msg },
    ];
    const functionSamples: Array<{ name: string; payload: () => Msg }> = [
        { name: "fixture", payload: () => (readSample("function-message.json") as { body: Msg }).body },
        { name: "simulator", payload: () => structuredClone(captured.fn) as Msg },
    ];

    describe("modes on realistic payloads", () => {
        interface ModeCase {
            name: string;
            settings: Msg;
            /** Other msg properties the case sends along with the payload. */
            extra?: Msg;
            /** Paths in the output msg and the values expected there. */
            expected: Array<[string, unknown]>;
        }

        const ruleCases: ModeCase[] = [
            {
                name: "beside writes msg.labels",
                settings: { mode: "beside" },
                expected: [
                    ["labels.incident.severity_code", "Medium"],
                    ["labels.incident.plan_status", "Active"],
                    ["labels.incident.incident_type_ids", ["Phishing", "Malware"]],
                    ["labels.incident.properties.business_unit", "Retail banking"],
                    ["labels.incident.properties.affected_regions", ["EMEA", "APAC"]],
                    ["labels.properties.ticket_priority", "High"],
                    ["labels.properties.notify_teams", ["Network", "Identity"]],
                    ["payload.incident.severity_code", 51],
                    ["payload.properties.ticket_priority", 7002],
                ],
            },
            {
                name: "beside writes chosen property",
                settings: { mode: "beside", property: "ticket.labels" },
                expected: [
                    ["ticket.labels.properties.ticket_priority", "High"],
                    ["labels", undefined],
                ],
            },
            {
                name: "labels replace ids in payload",
                settings: { mode: "labels" },
                expected: [
                    ["payload.incident.severity_code", "Medium"],
                    ["payload.incident.plan_status", "Active"],
                    ["payload.incident.properties.affected_regions", ["EMEA", "APAC"]],
                    ["payload.properties.ticket_priority", "High"],
                    ["payload.properties.notify_teams", ["Network", "Identity"]],
                    ["payload.incident.id", 2301],
                    ["labelled", undefined],
                ],
            },
            {
                name: "labels keeping payload write a copy",
                settings: { mode: "labels", keepPayload: true },
                expected: [
                    ["payload.incident.severity_code", 51],
                    ["payload.properties.ticket_priority", 7002],
                    ["labelled.incident.severity_code", "Medium"],
                    ["labelled.properties.ticket_priority", "High"],
                    ["labelled.incident.id", 2301],
                ],
            },
            {
                name: "field severity_code",
                settings: { mode: "field", field: "incident.severity_code" },
                expected: [["label", "Medium"]],
            },
            {
                name: "field activity field",
                settings: { mode: "field", field: "properties.ticket_priority" },
                expected: [["label", "High"]],
            },
            {
                name: "field custom multiselect",
                settings: { mode: "field", field: "incident.properties.affected_regions", property: "regions" },
                expected: [["regions", ["EMEA", "APAC"]]],
            },
            {
                name: "field letter key",
                settings: { mode: "field", field: "incident.plan_status" },
                expected: [["label", "Active"]],
            },
            {
                name: "ids from type_info",
                settings: { mode: "ids", field: "properties.ticket_priority" },
                extra: { label: "High" },
                expected: [["id", 7002]],
            },
            {
                name: "ids for letter key",
                settings: { mode: "ids", field: "incident.plan_status", property: "status" },
                extra: { label: "Active" },
                expected: [["status", "A"]],
            },
            {
                name: "ids for custom field",
                settings: { mode: "ids", field: "incident.properties.business_unit", labelsProperty: "unit.name" },
                extra: { unit: { name: "Retail banking" } },
                expected: [["id", 305]],
            },
            {
                name: "ids keep list order",
                settings: { mode: "ids", field: "properties.notify_teams" },
                extra: { label: ["Identity", "Network"] },
                expected: [["id", [903, 902]]],
            },
            {
                name: "ids for null label",
                settings: { mode: "ids", field: "properties.ticket_priority" },
                extra: { label: null },
                expected: [["id", null]],
            },
        ];

        for (const sample of ruleSamples) {
            for (const modeCase of ruleCases) {
                test(`${sample.name}: ${modeCase.name}`, async () => {
                    const flow = await loadTypeInfoFlow([typeinfoNode(modeCase.settings)]);
                    const { output, error } = await flow.run({ payload: sample.payload(), ...modeCase.extra });
                    assert.equal(error, undefined);
                    for (const [path, value] of modeCase.expected) {
                        assert.deepEqual(at(output, path), value, path);
                    }
                    assert.deepEqual(output?.typeinfoWarnings, []);
                });
            }
        }

        const inputCases: ModeCase[] = [
            {
                name: "inputs become plain",
                settings: { mode: "inputs", dateInputs: "since" },
                expected: [
                    ["inputs.incident_id", 2301],
                    ["inputs.artifact_value", "198.51.100.23"],
                    ["inputs.verbose", true],
                    ["inputs.lookup_mode", "fast"],
                    ["inputs.sources", ["asset database", "SIEM"]],
                    ["inputs.analyst_note", "check the VPN logs first"],
                    ["inputs.since", "2024-12-30T23:06:40.000Z"],
                    ["payload.inputs.lookup_mode", { id: 53, name: "fast" }],
                    ["payload.inputs.since", 1735600000000],
                ],
            },
            {
                name: "unlisted date stays number",
                settings: { mode: "inputs", property: "plain" },
                expected: [["plain.since", 1735600000000]],
            },
        ];

        for (const sample of functionSamples) {
            for (const inputCase of inputCases) {
                test(`${sample.name}: ${inputCase.name}`, async () => {
                    const flow = await loadTypeInfoFlow([typeinfoNode(inputCase.settings)]);
                    const { output, error } = await flow.run({ payload: sample.payload() });
                    assert.equal(error, undefined);
                    for (const [path, value] of inputCase.expected) {
                        assert.deepEqual(at(output, path), value, path);
                    }
                    assert.deepEqual(output?.typeinfoWarnings, []);
                });
            }

            test(`${sample.name}: missing date input warns`, async () => {
                const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "inputs", dateInputs: "since, until" })]);
                const { output } = await flow.run({ payload: sample.payload() });
                assert.equal(at(output, "inputs.since"), "2024-12-30T23:06:40.000Z");
                assert.deepEqual(warningCodes(output), ["missing-field"]);
                assert.equal(at(output, "typeinfoWarnings.0.path"), "inputs.until");
            });
        }
    });

    describe("payload ownership", () => {
        for (const sample of ruleSamples) {
            test(`${sample.name}: beside keeps payload object`, async () => {
                const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "beside" })]);
                const payload = sample.payload();
                const pristine = structuredClone(payload);
                const { output } = await flow.run({ payload });
                assert.equal(output?.payload, payload);
                assert.deepEqual(payload, pristine);
            });

            test(`${sample.name}: labels change payload in place`, async () => {
                const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "labels" })]);
                const payload = sample.payload();
                const incident = payload.incident;
                const { output } = await flow.run({ payload });
                assert.equal(output?.payload, payload);
                assert.equal(at(output, "payload.incident"), incident);
                assert.equal(at(payload, "incident.severity_code"), "Medium");
            });

            test(`${sample.name}: kept payload stays unchanged`, async () => {
                const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "labels", keepPayload: true })]);
                const payload = sample.payload();
                const pristine = structuredClone(payload);
                const { output } = await flow.run({ payload });
                assert.equal(output?.payload, payload);
                assert.deepEqual(payload, pristine);
                assert.notEqual(output?.labelled, payload);
            });

            test(`${sample.name}: labelled copy shares unchanged parts`, async () => {
                const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "labels", keepPayload: true })]);
                const payload = sample.payload();
                const { output } = await flow.run({ payload });
                assert.equal(at(output, "labelled.type_info"), payload.type_info);
                assert.equal(at(output, "labelled.user"), payload.user);
                assert.equal(at(output, "labelled.incident.creator"), at(payload, "incident.creator"));
            });
        }
    });

    describe("odd data", () => {
        const incidentOf = (message: Msg): Msg => message.incident as Msg;

        interface OddCase {
            name: string;
            change: (message: Msg) => void;
            path: string;
            label: unknown;
            warnings: string[];
        }

        const oddCases: OddCase[] = [
            {
                name: "missing id stays",
                change: (message) => (incidentOf(message).severity_code = 99),
                path: "incident.severity_code",
                label: 99,
                warnings: ["unknown-id"],
            },
            {
                name: "disabled value gives label",
                change: (message) => {
                    const fields = typeInfoOf(message).incident.fields as Record<string, unknown>;
                    fields.severity_code = selectField(1257, [[51, "Medium", false]]);
                },
                path: "incident.severity_code",
                label: "Medium",
                warnings: [],
            },
            {
                name: "null stays null",
                change: (message) => (incidentOf(message).severity_code = null),
                path: "incident.severity_code",
                label: null,
                warnings: [],
            },
            {
                name: "empty list stays empty",
                change: (message) => (incidentOf(message).incident_type_ids = []),
                path: "incident.incident_type_ids",
                label: [],
                warnings: [],
            },
            {
                name: "multiselect keeps order and repeats",
                change: (message) => (incidentOf(message).incident_type_ids = [23, 19, 23]),
                path: "incident.incident_type_ids",
                label: ["Malware", "Phishing", "Malware"],
                warnings: [],
            },
            {
                name: "multiselect keeps missing ids in place",
                change: (message) => (incidentOf(message).incident_type_ids = [19, 99, 23]),
                path: "incident.incident_type_ids",
                label: ["Phishing", 99, "Malware"],
                warnings: ["unknown-id"],
            },
            {
                name: "letter key gives label",
                change: () => undefined,
                path: "incident.plan_status",
                label: "Active",
                warnings: [],
            },
            {
                name: "missing letter key stays",
                change: (message) => (incidentOf(message).plan_status = "C"),
                path: "incident.plan_status",
                label: "C",
                warnings: ["unknown-id"],
            },
        ];

        const modes: Array<{ mode: string; settings: (path: string) => Msg; read: (output: Msg | undefined, path: string) => unknown }> = [
            { mode: "beside", settings: () => ({ mode: "beside" }), read: (output, path) => at(output, `labels.${path}`) },
            { mode: "labels", settings: () => ({ mode: "labels" }), read: (output, path) => at(output, `payload.${path}`) },
            { mode: "field", settings: (path) => ({ mode: "field", field: path }), read: (output) => output?.label },
        ];

        for (const oddCase of oddCases) {
            for (const { mode, settings, read } of modes) {
                test(`${mode}: ${oddCase.name}`, async () => {
                    const flow = await loadTypeInfoFlow([typeinfoNode(settings(oddCase.path))]);
                    const payload = ruleMessage() as Msg;
                    oddCase.change(payload);
                    const { output } = await flow.run({ payload });
                    assert.deepEqual(read(output, oddCase.path), oddCase.label);
                    assert.deepEqual(warningCodes(output), oddCase.warnings);
                });
            }
        }

        test("field list is a new list", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "field", field: "incident.incident_type_ids" })]);
            const payload = ruleMessage() as Msg;
            incidentOf(payload).incident_type_ids = [98, 99];
            const { output } = await flow.run({ payload });
            assert.deepEqual(output?.label, [98, 99]);
            assert.notEqual(output?.label, incidentOf(payload).incident_type_ids);
        });

        test("warning logged once per field", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "beside" })]);
            const outputs: Array<Msg | undefined> = [];
            for (let round = 0; round < 3; round++) {
                const payload = ruleMessage() as Msg;
                incidentOf(payload).severity_code = 99;
                outputs.push((await flow.run({ payload })).output);
            }
            assert.deepEqual(outputs.map(warningCodes), [["unknown-id"], ["unknown-id"], ["unknown-id"]]);
            assert.equal(flow.warnings.get("typeinfo")?.length, 1);
        });

        test("second field logs its own warning", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "beside" })]);
            const first = ruleMessage() as Msg;
            incidentOf(first).severity_code = 99;
            await flow.run({ payload: first });
            const second = ruleMessage() as Msg;
            incidentOf(second).severity_code = 99;
            incidentOf(second).incident_type_ids = [19, 97];
            const { output } = await flow.run({ payload: second });
            assert.deepEqual(warningCodes(output), ["unknown-id", "unknown-id"]);
            assert.equal(flow.warnings.get("typeinfo")?.length, 2);
        });

        test("each node logs its own warning", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "beside" }), typeinfoNode({ mode: "labels" }, "typeinfo2")]);
            for (const id of ["typeinfo", "typeinfo2"]) {
                const payload = ruleMessage() as Msg;
                incidentOf(payload).severity_code = 99;
                await flow.run({ payload }, id);
            }
            assert.equal(flow.warnings.get("typeinfo")?.length, 1);
            assert.equal(flow.warnings.get("typeinfo2")?.length, 1);
        });

        test("warnings replace earlier node's list", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "beside" })]);
            const { output } = await flow.run({ payload: ruleMessage(), typeinfoWarnings: [{ code: "unknown-id", path: "x", message: "old" }] });
            assert.deepEqual(output?.typeinfoWarnings, []);
        });

        test("absent field removes output property", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "field", field: "task.status" })]);
            const { output } = await flow.run({ payload: ruleMessage(), label: "stale" });
            assert.equal(Object.hasOwn(output ?? {}, "label"), false);
            assert.deepEqual(warningCodes(output), ["missing-field"]);
        });

        test("message without type_info warns", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "beside" })]);
            const payload = ruleMessage() as Msg;
            delete payload.type_info;
            const { output } = await flow.run({ payload });
            assert.deepEqual(output?.labels, {});
            assert.deepEqual(warningCodes(output), ["missing-type-info"]);
        });
    });

    describe("data table rows", () => {
        /** Returns the fixture rule message with a task, an artifact and a data table row, plus a second data table in type_info. */
        function withTwoTables(): Msg {
            const message = withMoreObjects(ruleMessage());
            typeInfoOf(message).dt_other = { type_id: 1002, fields: { block_reason: selectField(3001, [[2101, "Other table's label"]]) } };
            return message as Msg;
        }

        const rowCases: Array<{ name: string; settings: Msg; extra?: Msg; path: string; expected: unknown }> = [
            { name: "beside labels row cells", settings: { mode: "beside" }, path: "labels.row.cells.blocked_ports.value", expected: ["1194/udp", "443/tcp"] },
            { name: "labels replace row cell", settings: { mode: "labels" }, path: "payload.row.cells.block_reason.value", expected: "Brute force" },
            { name: "field of row cell", settings: { mode: "field", field: "row.cells.block_reason.value" }, path: "label", expected: "Brute force" },
            {
                name: "data table setting wins",
                settings: { mode: "field", field: "row.cells.block_reason.value", tableType: "dt_other" },
                path: "label",
                expected: "Other table's label",
            },
            {
                name: "ids for row cell",
                settings: { mode: "ids", field: "row.cells.block_reason.value" },
                extra: { label: "Brute force" },
                path: "id",
                expected: 2101,
            },
            {
                name: "ids with data table setting",
                settings: { mode: "ids", field: "row.cells.block_reason.value", tableType: "dt_other" },
                extra: { label: "Other table's label" },
                path: "id",
                expected: 2101,
            },
            { name: "task and artifact labelled", settings: { mode: "beside" }, path: "labels.task.status", expected: "Open" },
        ];

        for (const rowCase of rowCases) {
            test(rowCase.name, async () => {
                const flow = await loadTypeInfoFlow([typeinfoNode(rowCase.settings)]);
                const { output, error } = await flow.run({ payload: withTwoTables(), ...rowCase.extra });
                assert.equal(error, undefined);
                assert.deepEqual(at(output, rowCase.path), rowCase.expected);
                assert.deepEqual(output?.typeinfoWarnings, []);
            });
        }

        test("ids need a known data table", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "ids", field: "row.cells.block_reason.value" })]);
            const payload = withTwoTables();
            delete typeInfoOf(payload)[TABLE_TYPE].type_id;
            delete typeInfoOf(payload).dt_other.type_id;
            const { error } = await flow.run({ payload, label: "Brute force" });
            assert.match(error?.message ?? "", /resilient-typeinfo\.errors\.unknown-table/);
        });

        test("ambiguous table warns in beside", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "beside" })]);
            const payload = withTwoTables();
            delete typeInfoOf(payload)[TABLE_TYPE].type_id;
            delete typeInfoOf(payload).dt_other.type_id;
            const { output } = await flow.run({ payload });
            assert.equal(at(output, "labels.row"), undefined);
            assert.deepEqual(warningCodes(output), ["unknown-table"]);
        });
    });

    describe("errors", () => {
        const errorCases: Array<{ name: string; settings: Msg; msg: () => Msg; message: RegExp }> = [
            {
                name: "beside rejects function message",
                settings: { mode: "beside" },
                msg: () => ({ payload: functionSamples[0].payload() }),
                message: /resilient-typeinfo\.errors\.not-rule-message/,
            },
            {
                name: "field rejects text payload",
                settings: { mode: "field", field: "incident.severity_code" },
                msg: () => ({ payload: "hello" }),
                message: /resilient-typeinfo\.errors\.not-rule-message/,
            },
            {
                name: "labels reject missing payload",
                settings: { mode: "labels" },
                msg: () => ({ topic: "by hand" }),
                message: /resilient-typeinfo\.errors\.not-rule-message/,
            },
            {
                name: "inputs reject rule message",
                settings: { mode: "inputs" },
                msg: () => ({ payload: ruleMessage() }),
                message: /resilient-typeinfo\.errors\.not-function-message/,
            },
            {
                name: "ids need labels property",
                settings: { mode: "ids", field: "incident.severity_code" },
                msg: () => ({ payload: ruleMessage() }),
                message: /resilient-typeinfo\.errors\.missing-labels/,
            },
            {
                name: "ids reject numbers",
                settings: { mode: "ids", field: "incident.severity_code" },
                msg: () => ({ payload: ruleMessage(), label: [51] }),
                message: /resilient-typeinfo\.errors\.invalid-labels/,
            },
            {
                name: "ids without platform miss label",
                settings: { mode: "ids", field: "incident.severity_code" },
                msg: () => ({ payload: ruleMessage(), label: "High" }),
                message: /resilient-typeinfo\.errors\.label-not-in-typeinfo/,
            },
            {
                name: "invalid field path",
                settings: { mode: "field", field: "incident" },
                msg: () => ({ payload: ruleMessage() }),
                message: /Invalid field path "incident"/,
            },
            {
                name: "missing field path",
                settings: { mode: "ids", field: "" },
                msg: () => ({ payload: ruleMessage(), label: "High" }),
                message: /resilient-typeinfo\.errors\.missing-field/,
            },
            {
                name: "invalid mode",
                settings: { mode: "translate" },
                msg: () => ({ payload: ruleMessage() }),
                message: /resilient-typeinfo\.errors\.invalid-mode/,
            },
            {
                name: "unwritable output",
                settings: { mode: "beside", property: "topic.labels" },
                msg: () => ({ payload: ruleMessage(), topic: "ticket" }),
                message: /resilient-typeinfo\.errors\.unwritable/,
            },
        ];

        for (const errorCase of errorCases) {
            test(errorCase.name, async () => {
                const flow = await loadTypeInfoFlow([typeinfoNode(errorCase.settings)]);
                const { output, error } = await flow.run(errorCase.msg());
                assert.equal(output, undefined);
                assert.match(error?.message ?? "", errorCase.message);
                assert.equal(error?.source.id, "typeinfo");
            });
        }

        test("error completes no msg", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "beside" })]);
            await flow.run({ payload: "hello" });
            await flow.run({ payload: ruleMessage() });
            await waitFor(() => flow.completed.length > 0, 5000, "the Complete node");
            assert.equal(flow.completed.length, 1);
            assert.equal(at(flow.completed[0], "labels.incident.severity_code"), "Medium");
        });

        test("input handler takes three arguments", async () => {
            await loadTypeInfoFlow([typeinfoNode({ mode: "beside" })]);
            // Node-RED counts done() only for input handlers with exactly (msg, send, done).
            const node = helper.getNode("typeinfo") as unknown as { _inputCallback: ((...args: unknown[]) => void) | null };
            assert.equal(node._inputCallback?.length, 3);
        });

        test("unknown platform node fails settings", async () => {
            const flow = await loadTypeInfoFlow([typeinfoNode({ mode: "ids", field: "incident.severity_code", platform: "gone" })]);
            const { error } = await flow.run({ payload: ruleMessage(), label: "High" });
            assert.match(error?.message ?? "", /resilient-typeinfo\.errors\.unknown-platform/);
        });
    });

    describe("labels to ids through the platform", () => {
        test("id loaded from types API", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "incident.severity_code", platform: "platform" })],
                [platform()],
                processorCredentials(broker),
            );
            const before = fieldRequests("incident", "severity_code");
            const { output, error } = await flow.run({ payload: ruleMessage(), label: "High" });
            assert.equal(error, undefined);
            assert.equal(output?.id, 52);
            assert.equal(fieldRequests("incident", "severity_code") - before, 1);
        });

        test("cache avoids second request", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "incident.severity_code", platform: "platform" })],
                [platform()],
                processorCredentials(broker),
            );
            const before = fieldRequests("incident", "severity_code");
            const first = await flow.run({ payload: ruleMessage(), label: "High" });
            const second = await flow.run({ payload: ruleMessage(), label: "Low" });
            assert.equal(first.output?.id, 52);
            assert.equal(second.output?.id, 50);
            assert.equal(fieldRequests("incident", "severity_code") - before, 1);
        });

        test("nodes on one platform share cache", async () => {
            const settings = { mode: "ids", field: "incident.severity_code", platform: "platform" };
            const flow = await loadTypeInfoFlow(
                [typeinfoNode(settings), typeinfoNode(settings, "typeinfo2")],
                [platform()],
                processorCredentials(broker),
            );
            const before = fieldRequests("incident", "severity_code");
            const first = await flow.run({ payload: ruleMessage(), label: "High" }, "typeinfo");
            const second = await flow.run({ payload: ruleMessage(), label: "Low" }, "typeinfo2");
            assert.equal(first.output?.id, 52);
            assert.equal(second.output?.id, 50);
            assert.equal(fieldRequests("incident", "severity_code") - before, 1);
        });

        test("type_info label needs no request", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "incident.severity_code", platform: "platform" })],
                [platform()],
                processorCredentials(broker),
            );
            const before = fieldRequests("incident", "severity_code");
            const { output } = await flow.run({ payload: ruleMessage(), label: "Medium" });
            assert.equal(output?.id, 51);
            assert.equal(fieldRequests("incident", "severity_code") - before, 0);
        });

        test("letter key loaded from types API", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "incident.plan_status", platform: "platform" })],
                [platform()],
                processorCredentials(broker),
            );
            const { output } = await flow.run({ payload: ruleMessage(), label: "Closed" });
            assert.equal(output?.id, "C");
        });

        test("mixed list loads activity field", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "properties.notify_teams", platform: "platform" })],
                [platform()],
                processorCredentials(broker),
            );
            const { output } = await flow.run({ payload: structuredClone(captured.rule), label: ["SOC", "Network"] });
            assert.deepEqual(output?.id, [901, 902]);
            assert.equal(fieldRequests("actioninvocation", "notify_teams") >= 1, true);
        });

        test("function message uses platform only", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "incident.severity_code", platform: "platform" })],
                [platform()],
                processorCredentials(broker),
            );
            const { output } = await flow.run({ payload: structuredClone(captured.fn), label: "Medium" });
            assert.equal(output?.id, 51);
        });

        test("unknown label names known labels", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "incident.severity_code", platform: "platform" })],
                [platform()],
                processorCredentials(broker),
            );
            const { output, error } = await flow.run({ payload: ruleMessage(), label: "Critical" });
            assert.equal(output, undefined);
            assert.match(error?.message ?? "", /No value labelled "Critical" in incident field severity_code/);
            assert.match(error?.message ?? "", /"Low", "Medium", "High"/);
        });

        test("unreachable platform raises error", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "incident.severity_code", platform: "platform" })],
                [platform(await closedPort())],
                processorCredentials(broker),
            );
            const { output, error } = await flow.run({ payload: ruleMessage(), label: "High" });
            assert.equal(output, undefined);
            assert.match(error?.message ?? "", /Loading the select values of incident\.severity_code from the platform failed/);
        });

        test("completion follows the request", async () => {
            const flow = await loadTypeInfoFlow(
                [typeinfoNode({ mode: "ids", field: "incident.severity_code", platform: "platform" })],
                [platform()],
                processorCredentials(broker),
            );
            const completedBefore: number[] = [];
            helper.getNode("out").on("input", () => completedBefore.push(flow.completed.length));
            await flow.run({ payload: ruleMessage(), label: "High" });
            await waitFor(() => flow.completed.length === 1, 5000, "the Complete node");
            assert.deepEqual(completedBefore, [0]);
        });
    });

    describe("messages through the broker", () => {
        /** Loads resilient-in (ticket) -> typeinfo nodes -> resilient-ack with a template, plus `out` after the typeinfo nodes. */
        async function loadProcessor(typeinfoNodes: Msg[], template: string): Promise<Msg[]> {
            const flow = [
                { id: "tab", type: "tab" },
                platform(),
                inNode("ticket", [String(typeinfoNodes[0].id)]),
                ...typeinfoNodes,
                ackNode(template, []),
                { id: "out", type: "helper", z: "tab" },
            ];
            await helper.load(typeinfoModules(), flow, processorCredentials(broker));
            return nodeOutputs(helper.getNode("out")) as Msg[];
        }

        async function fireTicket(properties: JsonObject): Promise<string> {
            const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties });
            const done = await simulator.waitForStatus(invocation.id, "Completed", 15000);
            return done.replies[0].text;
        }

        test("reply shows labels beside payload", async () => {
            await loadProcessor(
                [typeinfoNode({ mode: "beside" }, "typeinfo", ["ack", "out"])],
                "{{labels.properties.ticket_priority}} ticket for a {{labels.incident.severity_code}} incident, teams {{labels.properties.notify_teams}}",
            );
            const text = await fireTicket({ ticket_priority: "Urgent", notify_teams: ["SOC", "Identity"] });
            assert.equal(text, "Urgent ticket for a Medium incident, teams SOC,Identity");
        });

        test("field and ids round trip", async () => {
            const outputs = await loadProcessor(
                [
                    typeinfoNode({ mode: "field", field: "properties.ticket_priority" }, "typeinfo", ["typeinfo2"]),
                    typeinfoNode({ mode: "ids", field: "properties.ticket_priority" }, "typeinfo2", ["ack", "out"]),
                ],
                "{{label}} is {{id}}",
            );
            const text = await fireTicket({ ticket_priority: "Low" });
            assert.equal(text, "Low is 7001");
            await waitFor(() => outputs.length === 1, 5000, "the msg at out");
            assert.equal(at(outputs[0], "payload.properties.ticket_priority"), 7001);
        });

        test("real odd data from simulator", async () => {
            const incident = simulator.state.incident(201, 2301);
            const saved = structuredClone(incident);
            (incident.properties as JsonObject).business_unit = 307;
            incident.plan_status = "C";
            try {
                const outputs = await loadProcessor(
                    [typeinfoNode({ mode: "beside" }, "typeinfo", ["ack", "out"])],
                    "{{labels.incident.plan_status}}",
                );
                const text = await fireTicket({ ticket_priority: "High", notify_teams: ["Network", 999] });
                await waitFor(() => outputs.length === 1, 5000, "the msg at out");
                const msg = outputs[0];
                assert.equal(text, "Closed");
                assert.equal(at(msg, "labels.incident.properties.business_unit"), "Wholesale (closed)");
                assert.equal(at(msg, "payload.type_info.incident.fields.business_unit.values.307.enabled"), false);
                assert.deepEqual(at(msg, "labels.properties.notify_teams"), ["Network", 999]);
                assert.deepEqual(warningCodes(msg), ["unknown-id"]);
                assert.equal(at(msg, "typeinfoWarnings.0.path"), "properties.notify_teams");
            } finally {
                Object.assign(incident, saved);
            }
        });
    });

    describe("example: helpdesk ticket from a note", () => {
        let nodeRed: NodeRedProcess | undefined;

        before(async () => {
            nodeRed = await startNodeRed();
            const mark = nodeRed.output.length;
            // demoFlows reads only the broker's description: STOMP+SSL port, CA file and processor login.
            await nodeRed.deploy(demoFlows(broker as Broker, nodeRed.port));
            await nodeRed.waitForOutput(/Connected to broker/, 30000, mark);
            // The subscriptions follow the connection by a few milliseconds.
            await new Promise((resolve) => setTimeout(resolve, 500));
        });

        after(async () => {
            await nodeRed?.stop();
        });

        test("replies name priority and severity labels", async () => {
            const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "Urgent" } });
            const done = await simulator.waitForStatus(invocation.id, "Completed", 20000);
            const texts = done.replies.map((reply) => reply.text);
            assert.equal(texts.length, 2);
            assert.match(texts[0], /Urgent/);
            assert.match(texts[1], /^Ticket HD-\d+ created with priority Urgent/);
            assert.match(texts[1], /Medium/);
        });

        test("example logs no typeinfo warnings", () => {
            const lines = nodeRed?.output.filter((line) => line.includes("resilient-typeinfo")) ?? [];
            assert.deepEqual(lines, []);
        });
    });

    test("no unhandled rejections", () => {
        assert.deepEqual(unhandled, []);
    });
});
