import type { BrokerDescription } from "../../scripts/broker";
import { restPortOf, startExampleSimulator } from "../../scripts/demo";
import { silentLogger } from "../../simulator/log";
import { DEFAULT_CREDENTIALS } from "../../simulator/rest/auth";
import type { Simulator } from "../../simulator/simulator";

/** A simulator whose REST API speaks HTTPS with the test broker's certificate. */
export interface HttpsSimulator {
    simulator: Simulator;
    /** Port of the simulator's HTTPS server on 127.0.0.1. */
    restPort: number;
}

/**
 * Starts the examples' simulator (HTTPS with the broker's certificate, the
 * broker's `processor` user as an API key) and also accepts the `outsider`
 * user, which may log in to REST but may not read `actions.>` on the broker.
 */
export async function startHttpsSimulator(broker: BrokerDescription): Promise<HttpsSimulator> {
    const template = DEFAULT_CREDENTIALS.apiKeys[0];
    const outsider = { ...template, keyId: broker.users.outsider.login, secret: broker.users.outsider.passcode, handle: 112, displayName: "outsider" };
    const simulator = await startExampleSimulator(broker, silentLogger, [outsider]);
    return { simulator, restPort: restPortOf(simulator) };
}
