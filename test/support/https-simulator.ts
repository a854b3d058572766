import * as fs from "node:fs";
import * as path from "node:path";

import type { BrokerDescription } from "../../scripts/broker";
import { silentLogger } from "../../simulator/log";
import { DEFAULT_CREDENTIALS } from "../../simulator/rest/auth";
import { Simulator } from "../../simulator/simulator";

/** A simulator whose REST API speaks HTTPS with the test broker's certificate. */
export interface HttpsSimulator {
    simulator: Simulator;
    /** Port of the simulator's HTTPS server on 127.0.0.1. */
    restPort: number;
}

/**
 * Starts a simulator whose REST API serves HTTPS with the broker's server
 * certificate (CN localhost, signed by the broker's test CA), and accepts
 * the broker users `processor` and `outsider` as API keys with their broker
 * passcodes as secrets. So one login works for REST and STOMP, as on the
 * platform, and the outsider may log in but not read `actions.>`.
 */
export async function startHttpsSimulator(broker: BrokerDescription): Promise<HttpsSimulator> {
    // scripts/broker.ts keeps the server certificate and key next to the CA file.
    const tlsDir = path.dirname(broker.caFile);
    const template = DEFAULT_CREDENTIALS.apiKeys[0];
    const simulator = new Simulator({
        broker: { host: broker.host, port: broker.stompPort, ...broker.users.platform },
        http: {
            tls: {
                cert: fs.readFileSync(path.join(tlsDir, "server.pem")),
                key: fs.readFileSync(path.join(tlsDir, "server.key")),
            },
        },
        credentials: {
            passwords: DEFAULT_CREDENTIALS.passwords,
            apiKeys: [
                { ...template, keyId: broker.users.processor.login, secret: broker.users.processor.passcode, handle: 111, displayName: "processor" },
                { ...template, keyId: broker.users.outsider.login, secret: broker.users.outsider.passcode, handle: 112, displayName: "outsider" },
            ],
        },
        logger: silentLogger,
    });
    await simulator.start();
    return { simulator, restPort: Number(new URL(simulator.url).port) };
}
