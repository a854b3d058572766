import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import helper from "node-red-node-test-helper";

import type { BrokerDescription } from "../../scripts/broker";
import { silentLogger } from "../../simulator/log";
import { DEFAULT_CREDENTIALS } from "../../simulator/rest/auth";
import { Simulator } from "../../simulator/simulator";
import { sharedBroker, type TestBroker } from "../support/broker";
import { ackNode, inNode, nodeModules, processorCredentials } from "../support/flows";
import { drainQueue, nodeOutputs, waitFor } from "../support/wait";

helper.init(require.resolve("node-red"));

/** Rule 613 "Incident modified": an automatic rule that fires on every change of an incident, to `incident_updates`. */
const RULE_ID = 613;
/** How long a test waits for a rule to fire again after the flow finished. */
const QUIET_MS = 1500;

describe("context token loop guard", () => {
    let shared: TestBroker;
    let broker: BrokerDescription;
    let simulator: Simulator;

    before(async () => {
        shared = await sharedBroker();
        broker = shared.broker;
        // The platform node uses one API key for STOMP and REST, so the simulator's REST API accepts the broker's processor login.
        const processor = broker.users.processor;
        simulator = new Simulator({
            broker: { host: broker.host, port: broker.stompPort, ...broker.users.platform },
            credentials: {
                passwords: DEFAULT_CREDENTIALS.passwords,
                apiKeys: [{ keyId: processor.login, secret: processor.passcode, handle: 101, displayName: "Node-RED processor", orgIds: [201] }],
            },
            logger: silentLogger,
        });
        await simulator.start();
    });

    afterEach(async () => {
        await helper.unload();
        // Nothing of a test may stay on the queue for the next test file's consumers.
        await drainQueue(broker, "/queue/actions.201.incident_updates", 500);
    });

    after(async () => {
        await simulator.stop();
        await shared.release();
    });

    /**
     * Loads resilient-in on `incident_updates` -> resilient-rest updating the
     * incident of the msg -> resilient-ack, and returns the msgs the ack node passes on.
     * The change is the same on every run, so a run that finds it in place sends no PUT.
     */
    async function loadReviewFlow(useContextToken: boolean): Promise<Array<{ changed: boolean; resilient: { correlationId: string } }>> {
        const port = Number(new URL(simulator.url).port);
        const flow = [
            { id: "tab", type: "tab" },
            {
                id: "platform",
                type: "resilient-platform",
                name: "simulator",
                host: "127.0.0.1",
                restPort: port,
                stompPort: broker.stompPort,
                org: "201",
                authType: "apikey",
                usetls: false,
                tls: "",
                heartbeat: 15,
                reconnectMaxDelay: 1,
            },
            inNode("incident_updates", ["rest"]),
            {
                id: "rest",
                type: "resilient-rest",
                z: "tab",
                platform: "platform",
                operation: "update",
                path: "/incidents/{{payload.incident.id}}",
                changes: '{"properties": {"vpn_gateway": "reviewed by the flow"}}',
                changesType: "json",
                maxTries: 5,
                handleFormat: "none",
                useContextToken,
                wires: [["ack"]],
            },
            ackNode("Reviewed", ["out"]),
            { id: "out", type: "helper", z: "tab", wires: [] },
        ];
        await helper.load([...nodeModules(), require("../../nodes/resilient-rest")], flow, processorCredentials(broker));
        const statuses: Array<{ fill?: string }> = [];
        helper.getNode("in").on("call:status", (call: { args: Array<{ fill?: string }> }) => statuses.push(call.args[0]));
        await waitFor(() => statuses.some((status) => status.fill === "green"), 10000, "the subscription to incident_updates");
        return nodeOutputs(helper.getNode("out")) as Array<{ changed: boolean; resilient: { correlationId: string } }>;
    }

    function ruleInvocations(incidentId: number): number {
        return simulator.invocations().filter((invocation) => invocation.ruleId === RULE_ID && invocation.incidentId === incidentId).length;
    }

    function ruleOutcomes(incidentId: number): string[] {
        return simulator
            .automaticRuleEvaluations()
            .filter((evaluation) => evaluation.ruleId === RULE_ID && evaluation.incidentId === incidentId)
            .map((evaluation) => evaluation.outcome);
    }

    test("with the token the flow runs once", async () => {
        const outputs = await loadReviewFlow(true);

        const [invocation] = await simulator.fireRule(RULE_ID, { incidentId: 2303 });
        await simulator.waitForStatus(invocation.id, "Completed", 15000);
        await new Promise((resolve) => setTimeout(resolve, QUIET_MS));

        assert.equal(outputs.length, 1);
        assert.equal(outputs[0].changed, true);
        assert.equal(ruleInvocations(2303), 1);
        assert.deepEqual(ruleOutcomes(2303), ["suppressed by context token"]);
        assert.equal(simulator.state.incident(201, 2303).properties.vpn_gateway, "reviewed by the flow");
    });

    test("without the token the rule fires again", async () => {
        const outputs = await loadReviewFlow(false);

        const [invocation] = await simulator.fireRule(RULE_ID, { incidentId: 2301 });
        await simulator.waitForStatus(invocation.id, "Completed", 15000);
        await waitFor(() => outputs.length === 2, 15000, "the flow's second run");
        await new Promise((resolve) => setTimeout(resolve, QUIET_MS));

        assert.equal(outputs.length, 2);
        assert.equal(ruleInvocations(2301), 2);
        assert.deepEqual(ruleOutcomes(2301), ["fired"]);
        assert.equal(outputs[0].changed, true);
        // The second run found the change in place and sent no PUT, which is what ends this loop.
        // A flow whose change differs on every run would go on for ever.
        assert.equal(outputs[1].changed, false);
        assert.notEqual(outputs[1].resilient.correlationId, invocation.correlationId);
    });
});
