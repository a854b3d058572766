import { Client } from "@stomp/stompjs";

import type { BrokerDescription } from "../../scripts/broker";
import { StompSocket } from "../../lib/stomp/socket";

/** Polls `condition` every 20 ms and rejects naming `what` when it is still false after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
        if (Date.now() > deadline) {
            throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}

/** Collects every msg a helper node receives. */
export function nodeOutputs(node: { on(event: "input", listener: (msg: unknown) => void): void }): unknown[] {
    const received: unknown[] = [];
    node.on("input", (msg: unknown) => received.push(msg));
    return received;
}

/**
 * Reads and ACKs whatever waits on a queue for `windowMs`, as the broker's
 * `processor` user, and returns the bodies: an empty list means the queue was empty.
 */
export async function drainQueue(broker: BrokerDescription, destination: string, windowMs: number): Promise<string[]> {
    const bodies: string[] = [];
    const client = new Client({
        webSocketFactory: () => new StompSocket({ host: broker.host, port: broker.stompPort }),
        connectHeaders: { login: broker.users.processor.login, passcode: broker.users.processor.passcode },
        reconnectDelay: 0,
        debug: () => undefined,
    });
    await new Promise<void>((resolve, reject) => {
        client.onConnect = () => resolve();
        client.onStompError = (frame) => reject(new Error(frame.headers.message));
        client.activate();
    });
    client.subscribe(
        destination,
        (message) => {
            bodies.push(message.body);
            message.ack();
        },
        { ack: "client-individual" },
    );
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    await client.deactivate();
    return bodies;
}
