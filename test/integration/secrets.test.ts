import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import type { BrokerDescription } from "../../scripts/broker";
import { startNodeRed, type FlowNode, type NodeRedProcess } from "../../scripts/node-red";
import { silentLogger } from "../../simulator/log";
import { Simulator } from "../../simulator/simulator";
import { sharedBroker, type TestBroker } from "../support/broker";
import { waitFor } from "../support/wait";

/**
 * The API key secret is the broker passcode of the `processor` user: a
 * random string that appears nowhere else, so any sighting is a leak.
 */
describe("credentials stay secret", () => {
    let shared: TestBroker;
    let broker: BrokerDescription;
    let simulator: Simulator;
    let nodeRed: NodeRedProcess;
    let canary: string;
    const wrongSecret = () => `wrong-${canary}`;

    before(async () => {
        shared = await sharedBroker();
        broker = shared.broker;
        canary = broker.users.processor.passcode;
        simulator = new Simulator({ broker: { host: broker.host, port: broker.stompPort, ...broker.users.platform }, logger: silentLogger });
        await simulator.start();
        nodeRed = await startNodeRed({ logLevel: "debug" });

        const flows: FlowNode[] = [
            { id: "tab", type: "tab", label: "secrets" },
            {
                id: "platform",
                type: "resilient-platform",
                name: "canary platform",
                host: "127.0.0.1",
                restPort: 443,
                stompPort: broker.stompPort,
                org: "201",
                authType: "apikey",
                usetls: false,
                tls: "",
                heartbeat: 15,
                reconnectMaxDelay: 1,
                credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: canary },
            },
            {
                id: "wrong-platform",
                type: "resilient-platform",
                name: "wrong secret",
                host: "127.0.0.1",
                restPort: 443,
                stompPort: broker.stompPort,
                org: "201",
                authType: "apikey",
                usetls: false,
                tls: "",
                heartbeat: 15,
                reconnectMaxDelay: 1,
                credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: wrongSecret() },
            },
            { id: "in-wrong", type: "resilient-in", z: "tab", x: 100, y: 300, platform: "wrong-platform", destination: "ticket", destinationType: "queue", concurrency: 1, acknowledge: "after-reply", timeout: 60, wires: [[]] },
            { id: "in", type: "resilient-in", z: "tab", x: 100, y: 100, platform: "platform", destination: "ticket", destinationType: "queue", concurrency: 5, acknowledge: "after-reply", timeout: 60, wires: [["debug-in", "ack"]] },
            { id: "ack", type: "resilient-ack", z: "tab", x: 300, y: 100, reply: "complete", messageSource: "template", template: "ok", messageProperty: "payload", resultsProperty: "payload", wrapResults: true, format: "json", wires: [["debug-ack"]] },
            { id: "catcher", type: "catch", z: "tab", x: 100, y: 200, scope: null, uncaught: false, wires: [["debug-error"]] },
            ...["debug-in", "debug-ack", "debug-error"].map((id, index) => ({
                id, type: "debug", z: "tab", x: 500, y: 100 + 50 * index, name: id, active: true, tosidebar: true, console: true, tostatus: false, complete: "true", targetType: "full", wires: [],
            })),
        ];
        await nodeRed.deploy(flows);
        await nodeRed.waitForOutput(/Connected to broker/, 20000);
        await new Promise((resolve) => setTimeout(resolve, 300));

        const [invocation] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "High" } });
        await simulator.waitForStatus(invocation.id, "Completed", 15000);
        const bad = await simulator.sendRaw({ destination: "ticket", body: "not json at all" });
        await simulator.waitForStatus(bad.id, "Error", 15000);
        await waitFor(() => nodeRed.output.some((line) => line.includes("debug-error")), 10000, "the catch node's debug output");
        await waitFor(() => nodeRed.output.some((line) => line.includes("password is invalid")), 10000, "the failed login of the wrong secret");
    });

    after(async () => {
        await nodeRed?.stop();
        await simulator?.stop();
        await shared?.release();
    });

    test("logs show msgs and errors at debug level", () => {
        const log = nodeRed.output.join("\n");
        assert.match(log, /\[debug:debug-in\]/);
        assert.match(log, /\[debug:debug-error\]/);
        assert.match(log, /\[debug\]/);
    });

    test("canary absent from the logs", () => {
        assert.equal(nodeRed.output.filter((line) => line.includes(canary)).length, 0);
    });

    test("wrong secret absent from the logs", () => {
        assert.equal(nodeRed.output.filter((line) => line.includes(wrongSecret())).length, 0);
    });

    test("canary absent from flows.json", () => {
        const flowsFile = fs.readFileSync(path.join(nodeRed.userDir, "flows.json"), "utf8");
        assert.match(flowsFile, /canary platform/);
        assert.equal(flowsFile.includes(canary), false);
    });

    test("canary absent from the credentials file", () => {
        const credentialsFile = fs.readFileSync(path.join(nodeRed.userDir, "flows_cred.json"), "utf8");
        assert.equal(credentialsFile.includes(canary), false);
    });

    test("canary absent from the admin flow export", async () => {
        const exported = JSON.stringify(await nodeRed.admin("GET", "/flows"));
        assert.match(exported, /canary platform/);
        assert.equal(exported.includes(canary), false);
    });

    test("editor sees only that a secret is set", async () => {
        const credentials = (await nodeRed.admin("GET", "/credentials/resilient-platform/platform")) as Record<string, unknown>;
        assert.equal(credentials.has_apiKeySecret, true);
        assert.equal(JSON.stringify(credentials).includes(canary), false);
    });
});
