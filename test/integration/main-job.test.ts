import { after, before, afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import helper from "node-red-node-test-helper";

import type { BrokerDescription } from "../../scripts/broker";
import { Simulator } from "../../simulator/simulator";
import { silentLogger } from "../../simulator/log";
import { sharedBroker, type TestBroker } from "../support/broker";
import { ackNode, inNode, nodeModules, platformNodes, processorCredentials } from "../support/flows";
import { StompProxy } from "../support/stomp-proxy";
import { startImpostor } from "../support/impostor";
import { drainQueue, nodeOutputs, waitFor } from "../support/wait";

helper.init(require.resolve("node-red"));

describe("main job on a real broker", () => {
    let shared: TestBroker;
    let broker: BrokerDescription;
    let simulator: Simulator;
    let proxy: StompProxy;

    before(async () => {
        shared = await sharedBroker();
        broker = shared.broker;
        simulator = new Simulator({
            broker: { host: broker.host, port: broker.stompPort, ...broker.users.platform },
            logger: silentLogger,
        });
        await simulator.start();
        proxy = new StompProxy({ host: broker.host, port: broker.stompPort });
        await proxy.start();
    });

    afterEach(async () => {
        await helper.unload();
        proxy.frames.length = 0;
    });

    after(async () => {
        await proxy.stop();
        await simulator.stop();
        await shared.release();
    });

    test("menu-item rule completes with the flow's text", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("ticket", ["ack"]),
            ackNode("Ticket for {{payload.incident.name}} created", ["out"]),
            { id: "out", type: "helper", z: "tab" },
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));
        const outputs = nodeOutputs(helper.getNode("out"));

        const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "High" } });
        const done = await simulator.waitForStatus(invocation.id, "Completed", 15000);

        assert.equal(done.replies.length, 1);
        assert.equal(done.replies[0].text, "Ticket for Suspicious login burst on vpn-gw-2 created");
        await waitFor(() => outputs.length === 1, 5000, "the ack node to pass the msg on");
        const msg = outputs[0] as { resilient: { correlationId: string; kind: string; orgId: number }; topic: string };
        assert.equal(msg.resilient.correlationId, invocation.correlationId);
        assert.equal(msg.resilient.kind, "action");
        assert.equal(msg.resilient.orgId, 201);
        assert.equal(msg.topic, "ticket");
    });

    test("reply goes to reply-to with the correlation id", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("ticket", ["ack"]),
            ackNode("done", []),
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));

        const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "Low" } });
        await simulator.waitForStatus(invocation.id, "Completed", 15000);

        const sends = proxy.commands("SEND", "client").filter((frame) => frame.headers["correlation-id"] === invocation.correlationId);
        assert.equal(sends.length, 1);
        assert.equal(sends[0].headers.destination, "/queue/acks.201.ticket");
        assert.equal(sends[0].headers["correlation-id"], "invid:" + invocation.id);
        assert.equal(sends[0].headers.persistent, "true");
    });

    test("SUBSCRIBE uses client-individual and the prefetch", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("ticket", ["ack"], { concurrency: 7 }),
            ackNode("done", []),
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));
        await waitFor(() => proxy.commands("SUBSCRIBE", "client").length > 0, 10000, "a SUBSCRIBE frame");

        const [subscribe] = proxy.commands("SUBSCRIBE", "client");
        assert.equal(subscribe.headers.destination, "/queue/actions.201.ticket");
        assert.equal(subscribe.headers.ack, "client-individual");
        assert.equal(subscribe.headers["activemq.prefetchSize"], "7");
    });

    test("ACK is sent only after the reply's receipt", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("ticket", ["ack"]),
            ackNode("done", []),
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));

        const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "Urgent" } });
        await simulator.waitForStatus(invocation.id, "Completed", 15000);
        await waitFor(() => proxy.commands("ACK", "client").length > 0, 5000, "an ACK frame");

        const frames = proxy.frames;
        const messageIndex = frames.findIndex(
            (frame) => frame.command === "MESSAGE" && frame.headers["correlation-id"] === invocation.correlationId,
        );
        const sendIndex = frames.findIndex(
            (frame) => frame.command === "SEND" && frame.headers["correlation-id"] === invocation.correlationId,
        );
        const receiptId = frames[sendIndex]?.headers.receipt;
        const receiptIndex = frames.findIndex((frame) => frame.command === "RECEIPT" && frame.headers["receipt-id"] === receiptId);
        const ackIndex = frames.findIndex(
            (frame) => frame.command === "ACK" && frame.headers.id === frames[messageIndex]?.headers.ack,
        );
        assert.ok(messageIndex >= 0, "the MESSAGE frame passed the proxy");
        assert.ok(receiptId, "the reply SEND asked for a receipt");
        assert.ok(sendIndex > messageIndex, "the reply follows the message");
        assert.ok(receiptIndex > sendIndex, "the broker confirmed the reply");
        assert.ok(ackIndex > receiptIndex, "the ACK follows the RECEIPT");
    });

    test("automatic rule and function complete", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("fn_enrich", ["ack"]),
            ackNode("Enriched {{payload.inputs.artifact_value}}", [], { reply: "result", resultsProperty: "payload.inputs" }),
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));

        const invocation = await simulator.fireFunction("enrich_ip", { inputs: { artifact_value: "198.51.100.23" } });
        const done = await simulator.waitForStatus(invocation.id, "Completed", 15000);

        assert.equal(done.replies[0].text, "Enriched 198.51.100.23");
        const results = done.replies[0].results as { version: number; content: { artifact_value: string } };
        assert.equal(results.version, 2);
        assert.equal(results.content.artifact_value, "198.51.100.23");
    });

    test("second completion is refused with a warning", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("ticket", ["ack", "ack2"]),
            ackNode("first", []),
            { ...ackNode("second", []), id: "ack2" },
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));
        const second = helper.getNode("ack2");
        const warnings: unknown[] = [];
        second.on("call:warn", (call: { args: unknown[] }) => warnings.push(call.args[0]));

        const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "Low" } });
        await simulator.waitForStatus(invocation.id, "Completed", 15000);
        await waitFor(() => warnings.length > 0, 5000, "a warning from the second ack node");

        const replies = simulator.invocation(invocation.id)?.replies ?? [];
        assert.equal(replies.filter((reply) => reply.complete).length, 1);
        assert.equal(warnings[0], "resilient-ack.warnings.already-complete");
    });

    test("body that is not JSON gets an error reply", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("ticket", ["ack"]),
            ackNode("done", []),
            { id: "catcher", type: "catch", z: "tab", scope: null, uncaught: false, wires: [["caught"]] },
            { id: "caught", type: "helper", z: "tab", wires: [] },
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));
        const caught = nodeOutputs(helper.getNode("caught"));

        const invocation = await simulator.sendRaw({ destination: "ticket", body: "this is { not json" });
        const done = await simulator.waitForStatus(invocation.id, "Error", 15000);

        assert.match(done.replies[0].text, /not valid JSON/);
        await waitFor(() => caught.length === 1, 5000, "the catch node to see the error");
        const error = (caught[0] as { error: { message: string } }).error;
        assert.equal(error.message, "resilient-in.errors.invalid-message");

        await helper.unload();
        const left = await drainQueue(broker, "/queue/actions.201.ticket", 1500);
        assert.deepEqual(left, []);
    });

    test("in-node status turns green when subscribed", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("ticket", []),
        ];
        const statuses: Array<{ fill?: string; text?: string }> = [];
        await helper.load(nodeModules(), flow, processorCredentials(broker));
        helper.getNode("in").on("call:status", (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
        await waitFor(() => statuses.some((status) => status.fill === "green"), 10000, "a green status");
        assert.equal(statuses.find((status) => status.fill === "green")?.text, "node-red:common.status.connected");
    });

    test("TLS connection verifies the broker", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: broker.stompSslPort, tls: { caFile: broker.caFile } }),
            inNode("ticket", ["ack"]),
            ackNode("over TLS", []),
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));

        const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "High" } });
        const done = await simulator.waitForStatus(invocation.id, "Completed", 15000);
        assert.equal(done.replies[0].text, "over TLS");
    });

    test("untrusted certificate sends no credentials", async () => {
        const impostor = await startImpostor();
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: impostor.port, tls: { caFile: broker.caFile } }),
            inNode("ticket", []),
        ];
        const statuses: Array<{ fill?: string; text?: string }> = [];
        await helper.load(nodeModules(), flow, processorCredentials(broker));
        helper.getNode("in").on("call:status", (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
        await waitFor(() => impostor.handshakes > 0, 10000, "a TLS handshake attempt");
        await waitFor(() => statuses.some((status) => status.text === "node-red:common.status.disconnected"), 10000, "a disconnected status");
        await impostor.close();

        assert.equal(impostor.received.length, 0);
        assert.equal(statuses.some((status) => status.fill === "green"), false);
    });

    test("dead link is dropped and reconnected", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port, heartbeat: 1 }),
            inNode("ticket", ["ack"]),
            ackNode("after the dead link", []),
        ];
        const statuses: Array<{ fill?: string; text?: string }> = [];
        await helper.load(nodeModules(), flow, processorCredentials(broker));
        helper.getNode("in").on("call:status", (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
        await waitFor(() => proxy.commands("CONNECTED", "broker").length === 1, 10000, "the first connection");
        await waitFor(() => statuses.some((status) => status.fill === "green"), 10000, "the subscription");

        proxy.freezeAll();
        await waitFor(() => statuses.some((status) => status.text === "node-red:common.status.disconnected"), 10000, "the dead link to be noticed");
        await waitFor(() => proxy.commands("CONNECTED", "broker").length === 2, 10000, "a new connection");

        const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "High" } });
        const done = await simulator.waitForStatus(invocation.id, "Completed", 15000);
        assert.equal(done.replies[0].text, "after the dead link");
    });

    test("two nodes on one topic each get every message", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: proxy.port }),
            inNode("broadcast", ["ack", "out1"], { destinationType: "topic" }),
            { ...inNode("broadcast", ["ack", "out2"], { destinationType: "topic" }), id: "in2", y: 200 },
            ackNode("seen", []),
            { id: "out1", type: "helper", z: "tab", wires: [] },
            { id: "out2", type: "helper", z: "tab", wires: [] },
        ];
        await helper.load(nodeModules(), flow, processorCredentials(broker));
        const first = nodeOutputs(helper.getNode("out1"));
        const second = nodeOutputs(helper.getNode("out2"));
        await waitFor(() => proxy.commands("RECEIPT", "broker").filter((frame) => frame.headers["receipt-id"].startsWith("subscribe-")).length === 2, 10000, "both subscriptions");

        for (let round = 0; round < 3; round += 1) {
            await simulator.fireRule(615, { incidentId: 2301 });
        }
        await waitFor(() => first.length === 3 && second.length === 3, 10000, "three messages on each subscription");
        await waitFor(() => proxy.commands("ACK", "client").length === 6, 10000, "six ACKs");
        assert.equal(first.length, 3);
        assert.equal(second.length, 3);
    });
});
