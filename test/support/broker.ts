import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { startBroker, type Broker, type BrokerDescription } from "../../scripts/broker";

/** A broker for one test file, and how to let go of it. */
export interface TestBroker {
    broker: BrokerDescription;
    release(): Promise<void>;
}

/**
 * Returns the broker that `npm test` started for the whole run, or starts a
 * private one when a test file runs on its own. Never skips: a test that
 * needs ActiveMQ fails when it cannot have one.
 */
export async function sharedBroker(): Promise<TestBroker> {
    const shared = process.env.RESILIENT_TEST_BROKER;
    if (shared) {
        return { broker: JSON.parse(shared) as BrokerDescription, release: async () => undefined };
    }
    const own = await ownBroker();
    return { broker: own, release: () => own.stop() };
}

/** Starts a broker that only this test file uses, for tests that kill and restart it. */
export async function ownBroker(): Promise<Broker> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "resilient-broker-"));
    return startBroker({ dataDir });
}
