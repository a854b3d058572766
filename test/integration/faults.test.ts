import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import helper from "node-red-node-test-helper";

import type { Broker } from "../../scripts/broker";
import { freePort } from "../../scripts/node-red";
import { silentLogger } from "../../simulator/log";
import type { Invocation } from "../../simulator/invocations";
import { Simulator } from "../../simulator/simulator";
import { ownBroker } from "../support/broker";
import { ackNode, inNode, nodeModules, platformNodes, processorCredentials } from "../support/flows";
import { testNodes } from "../support/test-nodes";
import { nodeOutputs, waitFor } from "../support/wait";

helper.init(require.resolve("node-red"));

interface ResilientMsg {
    resilient: { correlationId: string; redelivered: boolean };
}

/** These tests stop and kill the broker, so they use one of their own. */
describe("faults on a real broker", () => {
    let broker: Broker;
    let simulator: Simulator;

    before(async () => {
        broker = await ownBroker();
        simulator = new Simulator({
            broker: { host: broker.host, port: broker.stompPort, ...broker.users.platform, reconnectDelayMs: 300 },
            logger: silentLogger,
        });
        await simulator.start();
    });

    afterEach(async () => {
        await helper.unload();
    });

    after(async () => {
        await simulator.stop();
        await broker.stop();
    });

    test("message in flight at stop completes once after restart", async () => {
        const holding = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: broker.stompPort }),
            inNode("ticket", ["hold"]),
            { id: "hold", type: "helper", z: "tab", wires: [] },
        ];
        await helper.load([...nodeModules(), testNodes], holding, processorCredentials(broker));
        const held = nodeOutputs(helper.getNode("hold"));
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "High" } });
        await waitFor(() => held.length === 1, 10000, "the first flow to receive the message");
        await helper.unload();

        const answering = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: broker.stompPort }),
            inNode("ticket", ["ack"]),
            ackNode("Done after restart", ["out"]),
            { id: "out", type: "helper", z: "tab", wires: [] },
        ];
        await helper.load([...nodeModules(), testNodes], answering, processorCredentials(broker));
        const outputs = nodeOutputs(helper.getNode("out")) as ResilientMsg[];
        const done = await simulator.waitForStatus(invocation.id, "Completed", 20000);

        assert.equal(done.statusHistory.filter((change) => change.status === "Completed").length, 1);
        assert.equal(done.completions, 1);
        assert.equal(done.replies[0].text, "Done after restart");
        await waitFor(() => outputs.length > 0, 5000, "the ack node to pass the msg on");
        assert.equal(outputs.length, 1);
        assert.equal(outputs[0].resilient.redelivered, true);
    });

    test("broker restart mid-batch completes each invocation once", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: broker.stompPort, reconnectMaxDelay: 1 }),
            inNode("ticket", ["slow"], { concurrency: 4 }),
            { id: "slow", type: "test-delay", z: "tab", delay: 400, wires: [["ack"]] },
            ackNode("Ticket {{resilient.correlationId}}", ["out"]),
            { id: "out", type: "helper", z: "tab", wires: [] },
        ];
        await helper.load([...nodeModules(), testNodes], flow, processorCredentials(broker));
        const statuses: Array<{ fill?: string; text?: string }> = [];
        helper.getNode("in").on("call:status", (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
        const processed = nodeOutputs(helper.getNode("slow")) as ResilientMsg[];
        await waitFor(() => statuses.some((status) => status.fill === "green"), 10000, "the subscription");

        const invocations: Invocation[] = [];
        for (let index = 0; index < 12; index += 1) {
            const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "Low" } });
            invocations.push(invocation);
        }
        await waitFor(
            () => invocations.filter((invocation) => simulator.invocation(invocation.id)?.status === "Completed").length >= 3,
            20000,
            "the first three completions",
        );
        await broker.kill();
        await waitFor(() => statuses.some((status) => status.text === "node-red:common.status.disconnected"), 10000, "a disconnected status");
        await broker.restart();
        const greenAgain = statuses.length;

        for (const invocation of invocations) {
            await simulator.waitForStatus(invocation.id, "Completed", 60000);
        }
        await waitFor(() => statuses.slice(greenAgain).some((status) => status.fill === "green"), 10000, "a green status after the restart");

        for (const invocation of invocations) {
            const final = simulator.invocation(invocation.id);
            const completedChanges = final?.statusHistory.filter((change) => change.status === "Completed").length;
            const runs = processed.filter((msg) => msg.resilient.correlationId === invocation.correlationId).length;
            assert.equal(completedChanges, 1, `${invocation.correlationId} turned Completed once`);
            assert.equal(runs, 1, `${invocation.correlationId} ran through the flow once`);
        }
    });

    test("close stays well inside 15 s with the broker down", async () => {
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: broker.stompPort, reconnectMaxDelay: 1 }),
            inNode("ticket", ["slow"]),
            { id: "slow", type: "test-delay", z: "tab", delay: 1000, wires: [["ack"]] },
            ackNode("never delivered", []),
        ];
        await helper.load([...nodeModules(), testNodes], flow, processorCredentials(broker));
        const slow = nodeOutputs(helper.getNode("slow"));
        await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "Low" } });
        await waitFor(() => slow.length === 1, 10000, "the message to reach the slow node");
        await broker.kill();
        // Let the reply start waiting for a connection that is not there.
        await new Promise((resolve) => setTimeout(resolve, 1500));

        const started = Date.now();
        await helper.unload();
        const closeMs = Date.now() - started;
        await broker.restart();

        // Node-RED gives close handlers 15 s; the drain and close bounds add up to about 5 s.
        assert.ok(closeMs < 10000, `closing took ${closeMs} ms`);
    });

    test("org name resolves once REST comes up", async () => {
        const restPort = await freePort();
        const flow = [
            { id: "tab", type: "tab" },
            ...platformNodes({ port: broker.stompPort, org: "Blue Team", restPort, reconnectMaxDelay: 1 }),
            inNode("ticket", ["ack"]),
            ackNode("resolved late", []),
        ];
        await helper.load([...nodeModules(), testNodes], flow, processorCredentials(broker));
        const statuses: Array<{ fill?: string; text?: string }> = [];
        helper.getNode("in").on("call:status", (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
        // Let the first lookups fail against a port where nothing listens yet.
        await new Promise((resolve) => setTimeout(resolve, 2500));
        assert.equal(statuses.some((status) => status.fill === "green"), false);

        const rest = new Simulator({
            http: { port: restPort },
            credentials: {
                passwords: {},
                apiKeys: [{ keyId: broker.users.processor.login, secret: broker.users.processor.passcode, handle: 111, displayName: "processor", orgIds: [201, 202] }],
            },
            logger: silentLogger,
        });
        await rest.start();
        try {
            await waitFor(() => statuses.some((status) => status.fill === "green"), 15000, "the subscription after the org lookup");
            const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "High" } });
            const done = await simulator.waitForStatus(invocation.id, "Completed", 15000);
            assert.equal(done.replies[0].text, "resolved late");
        } finally {
            await rest.stop();
        }
    });
});
