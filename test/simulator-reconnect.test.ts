import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, type IMessage } from "@stomp/stompjs";

import { StompSocket } from "../lib/stomp/socket";
import { startBroker, type Broker } from "../scripts/broker";
import { Simulator, silentLogger } from "../simulator";

/** Connects a plain stompjs consumer as the `processor` user and collects messages of one queue. */
function startProcessor(broker: Broker, queue: string, received: IMessage[]): Client {
    const client = new Client({
        webSocketFactory: () => new StompSocket({ host: broker.host, port: broker.stompPort }),
        connectHeaders: { login: broker.users.processor.login, passcode: broker.users.processor.passcode },
        heartbeatIncoming: 5000,
        heartbeatOutgoing: 5000,
        reconnectDelay: 300,
        debug: () => undefined,
    });
    client.onConnect = () => {
        client.subscribe(queue, (message) => {
            received.push(message);
            message.ack();
        }, { ack: "client-individual" });
    };
    client.activate();
    return client;
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
        if (Date.now() > deadline) {
            throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

// This file always starts its own broker, because it kills and restarts it.
describe("simulator across a broker restart", () => {
    let broker: Broker;
    let simulator: Simulator;
    let processor: Client;
    const received: IMessage[] = [];

    before(async () => {
        broker = await startBroker({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "simulator-restart-")) });
        simulator = new Simulator({
            broker: {
                host: broker.host,
                port: broker.stompPort,
                login: broker.users.platform.login,
                passcode: broker.users.platform.passcode,
                reconnectDelayMs: 300,
                heartbeatMs: 2000,
            },
            http: false,
            logger: silentLogger,
        });
        await simulator.start();
        processor = startProcessor(broker, "/queue/actions.201.ticket", received);
    });

    after(async () => {
        await processor?.deactivate();
        await simulator?.stop();
        await broker?.stop();
    });

    it("queues a send until the broker is back", async () => {
        await broker.kill();
        await waitUntil(() => !simulator.brokerConnected, 10000, "the simulator to notice the broker is down");

        const [started] = simulator.startRule(612, { incidentId: 2301 });
        assert.equal(simulator.invocation(started.invocation.id)?.sentAt, null);

        await broker.restart();
        await started.sent;
        assert.notEqual(simulator.invocation(started.invocation.id)?.sentAt, null);

        await waitUntil(() => received.some((message) => message.headers["correlation-id"] === started.invocation.correlationId), 20000, "the processor to receive the message");
    });

    it("records replies after re-subscribing", async () => {
        const [invocation] = await simulator.fireRule(612, { incidentId: 2301 });
        await waitUntil(() => received.some((message) => message.headers["correlation-id"] === invocation.correlationId), 20000, "the message");
        const message = received.find((entry) => entry.headers["correlation-id"] === invocation.correlationId) as IMessage;

        await broker.restart();
        await waitUntil(() => simulator.brokerConnected && processor.connected, 20000, "both clients to reconnect");
        processor.publish({
            destination: message.headers["reply-to"],
            headers: { "correlation-id": invocation.correlationId, persistent: "true" },
            body: JSON.stringify({ message_type: 0, message: "Done after the restart", complete: true }),
        });

        const done = await simulator.waitForStatus(invocation.id, "Completed", 20000);
        assert.equal(done.replies[0].text, "Done after the restart");
    });
});
