import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import type { BrokerDescription } from "../../scripts/broker";
import { startNodeRed, type FlowNode, type NodeRedProcess } from "../../scripts/node-red";
import type { Simulator } from "../../simulator/simulator";
import { sharedBroker, type TestBroker } from "../support/broker";
import { startHttpsSimulator } from "../support/https-simulator";

/** A step as `POST resilient-platform/test` returns it. */
interface Step {
    name: string;
    label: string;
    ok: boolean;
    message: string;
    skipped?: boolean;
    warning?: boolean;
}

interface DestinationList {
    orgId: number;
    orgName?: string;
    destinations: Array<{ programmaticName: string; name: string; type: string; expectAck: boolean }>;
}

/**
 * The `resilient-platform` admin endpoints of a Node-RED process, against
 * the simulator's HTTPS REST API and the test broker's STOMP+SSL port.
 */
describe("resilient-platform admin endpoints", () => {
    let shared: TestBroker;
    let broker: BrokerDescription;
    let simulator: Simulator;
    let restPort: number;
    let nodeRed: NodeRedProcess;

    /** Dialog values that pass every step. Each test changes one part. */
    function dialog(changes: Record<string, unknown> = {}): Record<string, unknown> {
        return {
            host: "localhost",
            restPort,
            stompPort: broker.stompSslPort,
            org: "201",
            authType: "apikey",
            usetls: true,
            tls: "editor-tls",
            tlsConfig: { ca: broker.caFile, verifyservercert: true },
            credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: broker.users.processor.passcode },
            ...changes,
        };
    }

    async function runTest(body: Record<string, unknown>): Promise<{ steps: Step[]; raw: string }> {
        const answer = (await nodeRed.admin("POST", "/resilient-platform/test", body)) as { steps: Step[] };
        return { steps: answer.steps, raw: JSON.stringify(answer) };
    }

    function find(steps: Step[], name: string): Step {
        const found = steps.find((step) => step.name === name);
        assert.ok(found, `no step "${name}" in ${steps.map((step) => step.name).join(", ")}`);
        return found;
    }

    before(async () => {
        shared = await sharedBroker();
        broker = shared.broker;
        ({ simulator, restPort } = await startHttpsSimulator(broker));
        nodeRed = await startNodeRed();
        const flows: FlowNode[] = [
            { id: "tab", type: "tab", label: "endpoints" },
            {
                id: "deployed-tls",
                type: "tls-config",
                name: "broker CA",
                cert: "",
                key: "",
                ca: broker.caFile,
                certname: "",
                keyname: "",
                caname: "",
                servername: "",
                verifyservercert: true,
                alpnprotocol: "",
            },
            {
                id: "deployed-platform",
                type: "resilient-platform",
                name: "deployed",
                host: "localhost",
                restPort,
                stompPort: broker.stompSslPort,
                org: "Blue Team",
                authType: "apikey",
                usetls: true,
                tls: "deployed-tls",
                heartbeat: 15,
                reconnectMaxDelay: 1,
                credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: broker.users.processor.passcode },
            },
        ];
        await nodeRed.deploy(flows);
    });

    after(async () => {
        await nodeRed?.stop();
        await simulator?.stop();
        await shared?.release();
    });

    test("test passes every step with the broker CA", async () => {
        const { steps } = await runTest(dialog({ destination: "ticket" }));
        assert.deepEqual(
            steps.map((step) => step.name),
            ["tls-rest", "tls-stomp", "rest", "org", "destination", "stomp", "read"],
        );
        for (const step of steps) {
            assert.equal(step.ok, true, `${step.name}: ${step.message}`);
        }
        assert.match(find(steps, "tls-stomp").message, /^Verified .*CN=localhost.*issued by CN=Broker test CA/);
        assert.equal(find(steps, "tls-stomp").label, `TLS, STOMP port ${broker.stompSslPort}`);
    });

    test("wrong secret fails both logins", async () => {
        const wrongSecret = `wrong-${broker.users.processor.passcode}`;
        const { steps, raw } = await runTest(dialog({ credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: wrongSecret } }));
        assert.equal(find(steps, "rest").ok, false);
        assert.match(find(steps, "rest").message, /HTTP 401/);
        assert.equal(find(steps, "stomp").ok, false);
        assert.match(find(steps, "stomp").message, /User name \[processor\] or password is invalid/);
        assert.equal(raw.includes(wrongSecret), false);
    });

    test("untrusted certificate gets no credentials", async () => {
        const { steps } = await runTest(dialog({ tls: "", tlsConfig: undefined }));
        assert.equal(find(steps, "tls-rest").ok, false);
        assert.match(find(steps, "tls-rest").message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
        assert.match(find(steps, "tls-stomp").message, /SELF_SIGNED_CERT_IN_CHAIN/);
        assert.equal(find(steps, "rest").skipped, true);
        assert.equal(find(steps, "stomp").skipped, true);
    });

    test("verification off is a warning", async () => {
        const { steps } = await runTest(dialog({ tlsConfig: { verifyservercert: false } }));
        assert.equal(find(steps, "tls-rest").ok, true);
        assert.equal(find(steps, "tls-rest").warning, true);
        assert.match(find(steps, "tls-rest").message, /verification is off/);
    });

    test("org name resolves to its id", async () => {
        const { steps } = await runTest(dialog({ org: "Blue Team" }));
        assert.equal(find(steps, "org").message, 'Org "Blue Team" (id 201) is enabled for this account.');
    });

    test("unknown org lists the usable orgs", async () => {
        const { steps } = await runTest(dialog({ org: "Purple Team", destination: "ticket" }));
        assert.equal(find(steps, "org").ok, false);
        assert.match(find(steps, "org").message, /Orgs this account can use: "Blue Team" \(id 201\)/);
        assert.equal(find(steps, "read").skipped, true);
    });

    test("missing destination lists the org's destinations", async () => {
        const { steps } = await runTest(dialog({ destination: "tickets" }));
        assert.equal(find(steps, "destination").ok, false);
        assert.match(find(steps, "destination").message, /no message destination with programmatic name "tickets".*ticket \(queue\)/);
    });

    test("topic destination is subscribed as a topic", async () => {
        const { steps } = await runTest(dialog({ destination: "broadcast" }));
        assert.match(find(steps, "read").message, /\/topic\/actions\.201\.broadcast/);
    });

    test("outsider may not read the destination", async () => {
        const { steps } = await runTest(
            dialog({ destination: "ticket", credentials: { apiKeyId: broker.users.outsider.login, apiKeySecret: broker.users.outsider.passcode } }),
        );
        assert.equal(find(steps, "stomp").ok, true);
        assert.equal(find(steps, "read").ok, false);
        assert.match(find(steps, "read").message, /not authorized to read from: queue:\/\/actions\.201\.ticket/);
    });

    test("unchanged secret uses the stored one", async () => {
        const { steps, raw } = await runTest(
            dialog({ id: "deployed-platform", credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: "__PWRD__" } }),
        );
        assert.equal(find(steps, "rest").ok, true);
        assert.equal(find(steps, "stomp").ok, true);
        assert.equal(raw.includes(broker.users.processor.passcode), false);
    });

    test("emptied secret with has flag uses the stored one", async () => {
        const { steps } = await runTest(
            dialog({ id: "deployed-platform", credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: "", has_apiKeySecret: true } }),
        );
        assert.equal(find(steps, "rest").ok, true);
    });

    test("deployed TLS node serves when the editor sends none", async () => {
        const { steps } = await runTest(dialog({ tls: "deployed-tls", tlsConfig: undefined }));
        assert.equal(find(steps, "tls-rest").ok, true);
    });

    test("other node types lend no stored secret", async () => {
        const { steps } = await runTest(
            dialog({ id: "deployed-tls", credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: "__PWRD__" } }),
        );
        assert.equal(steps.length, 1);
        assert.equal(steps[0].name, "settings");
        assert.match(steps[0].message, /API key id or secret is missing/);
    });

    test("changed host needs the secret again", async () => {
        const { steps } = await runTest(
            dialog({ id: "deployed-platform", host: "127.0.0.1", credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: "__PWRD__" } }),
        );
        assert.equal(steps[0].name, "settings");
        assert.match(steps[0].message, /API key id or secret is missing/);
    });

    test("host with a port is rejected", async () => {
        const { steps } = await runTest(dialog({ host: "127.0.0.1:443" }));
        assert.equal(steps[0].name, "settings");
        assert.match(steps[0].message, /Invalid host "127\.0\.0\.1:443"/);
    });

    test("missing host is a settings step", async () => {
        const { steps } = await runTest(dialog({ host: " " }));
        assert.equal(steps.length, 1);
        assert.equal(steps[0].name, "settings");
        assert.match(steps[0].message, /host is missing/);
    });

    test("invalid programmatic name is rejected", async () => {
        const { steps } = await runTest(dialog({ destination: "ticket queue" }));
        assert.equal(find(steps, "destination").ok, false);
        assert.match(find(steps, "destination").message, /Invalid programmatic name "ticket queue"/);
    });

    test("destinations listed for dialog values", async () => {
        const list = (await nodeRed.admin("POST", "/resilient-platform/destinations", dialog())) as DestinationList;
        assert.equal(list.orgId, 201);
        assert.equal(list.orgName, "Blue Team");
        assert.deepEqual(list.destinations.find((entry) => entry.programmaticName === "broadcast"), {
            programmaticName: "broadcast",
            name: "Broadcasts",
            type: "topic",
            expectAck: false,
        });
    });

    test("destinations listed through the deployed node", async () => {
        const list = (await nodeRed.admin("GET", "/resilient-platform/deployed-platform/destinations")) as DestinationList;
        assert.equal(list.orgId, 201);
        const names = list.destinations.map((entry) => entry.programmaticName);
        assert.deepEqual(names, [...names].sort());
        for (const name of ["broadcast", "incident_updates", "ticket"]) {
            assert.ok(names.includes(name), `${name} is missing from ${names.join(", ")}`);
        }
    });

    test("unknown node id answers 404", async () => {
        const response = await fetch(`${nodeRed.url}/resilient-platform/no-such-node/destinations`);
        assert.equal(response.status, 404);
        assert.match(((await response.json()) as { message: string }).message, /not deployed/);
    });

    test("wrong secret fails a destination list", async () => {
        const response = await fetch(`${nodeRed.url}/resilient-platform/destinations`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(dialog({ credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: "not-the-secret" } })),
        });
        assert.equal(response.status, 502);
        assert.match(((await response.json()) as { message: string }).message, /HTTP 401/);
    });
});
