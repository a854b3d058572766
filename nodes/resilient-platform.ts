import type { Node, NodeAPI } from "node-red";
import type * as tls from "node:tls";

import { ActionConsumer } from "../lib/delivery/consumer";
import type { ConnectionState } from "../lib/stomp/connection";
import type { PlatformCredentials, PlatformNode, PlatformNodeDef, TlsConfigNode } from "./common/platform-types";

/** How often a failing reconnect is logged: the first failure, then every Nth attempt. */
const LOG_EVERY_ATTEMPTS = 10;

export = function register(RED: NodeAPI): void {
    function ResilientPlatformNode(this: PlatformNode, config: PlatformNodeDef): void {
        RED.nodes.createNode(this, config);
        const node = this;
        const credentials: PlatformCredentials = node.credentials ?? {};
        const users = new Map<string, Node>();
        const host = (config.host ?? "").trim();
        const stompPort = Number(config.stompPort || 65001);
        let consumer: ActionConsumer | undefined;
        let configError: Error | undefined;
        let failedAttempts = 0;

        (node as unknown as { users: Record<string, Node> }).users = {};

        try {
            consumer = createConsumer();
        } catch (error) {
            configError = error as Error;
            node.error(configError.message);
        }

        node.consumer = () => (consumer ? Promise.resolve(consumer) : Promise.reject(configError));
        node.describe = () => `${host}:${stompPort} org ${config.org}`;

        node.register = (user: Node) => {
            users.set(user.id, user);
            (node as unknown as { users: Record<string, Node> }).users[user.id] = user;
        };
        node.deregister = (user: Node) => {
            users.delete(user.id);
            delete (node as unknown as { users: Record<string, Node> }).users[user.id];
        };

        node.on("close", (done: () => void) => {
            const closing = consumer;
            consumer = undefined;
            configError = new Error(RED._("resilient-platform.errors.closed"));
            if (!closing) {
                done();
                return;
            }
            closing.close(2000, 3000).then(
                () => done(),
                (error: Error) => {
                    node.warn(error.message);
                    done();
                },
            );
        });

        function createConsumer(): ActionConsumer {
            if (!host) {
                throw new Error(RED._("resilient-platform.errors.missing-host"));
            }
            if (!Number.isInteger(stompPort) || stompPort < 1 || stompPort > 65535) {
                throw new Error(RED._("resilient-platform.errors.invalid-port", { port: String(config.stompPort) }));
            }
            const orgId = parseOrgId(config.org);
            const login = config.authType === "password" ? credentials.email : credentials.apiKeyId;
            const passcode = config.authType === "password" ? credentials.password : credentials.apiKeySecret;
            if (!login || !passcode) {
                throw new Error(RED._(`resilient-platform.errors.missing-credentials-${config.authType === "password" ? "password" : "apikey"}`));
            }

            const created = new ActionConsumer({
                host,
                stompPort,
                orgId,
                tls: tlsOptions(),
                login,
                passcode,
                heartbeatIncomingMs: secondsToMs(config.heartbeat, 15),
                reconnectMaxMs: secondsToMs(config.reconnectMaxDelay, 30),
            });
            created.on("state", (state, reason) => logState(created, state, reason));
            created.on("error", (error) => node.error(RED._("resilient-platform.errors.broker", { broker: created.connection.address, message: error.message })));
            return created;
        }

        function parseOrgId(org: string): number {
            const text = String(org ?? "").trim();
            if (/^\d+$/.test(text)) {
                return Number(text);
            }
            // TODO: resolve an org name through GET /rest/session once the REST client exists.
            throw new Error(RED._("resilient-platform.errors.invalid-org", { org: text }));
        }

        function tlsOptions(): tls.ConnectionOptions | undefined {
            if (config.usetls === false) {
                node.warn(RED._("resilient-platform.warnings.plain-tcp", { host }));
                return undefined;
            }
            const options: tls.ConnectionOptions = { rejectUnauthorized: true };
            if (!config.tls) {
                return options;
            }
            const tlsNode = RED.nodes.getNode(config.tls) as TlsConfigNode | null;
            if (!tlsNode || typeof tlsNode.addTLSOptions !== "function") {
                throw new Error(RED._("resilient-platform.errors.missing-tls"));
            }
            tlsNode.addTLSOptions(options);
            if (options.rejectUnauthorized === false) {
                node.warn(RED._("resilient-platform.warnings.unverified", { host }));
            }
            return options;
        }

        function logState(current: ActionConsumer, state: ConnectionState, reason: string | undefined): void {
            const broker = current.connection.address;
            if (state === "connected") {
                if (failedAttempts > 0) {
                    node.log(RED._("resilient-platform.state.reconnected", { broker, attempts: String(failedAttempts) }));
                } else {
                    node.log(RED._("resilient-platform.state.connected", { broker }));
                }
                failedAttempts = 0;
            } else if (state === "disconnected") {
                failedAttempts += 1;
                if (failedAttempts === 1 || failedAttempts % LOG_EVERY_ATTEMPTS === 0) {
                    node.warn(RED._("resilient-platform.state.disconnected", { broker, reason: reason ?? "", attempts: String(failedAttempts) }));
                }
            } else if (state === "closed") {
                node.log(RED._("resilient-platform.state.closed", { broker }));
            }
        }
    }

    // The constructor adds PlatformNode's methods; registerType only knows the base Node type.
    RED.nodes.registerType("resilient-platform", ResilientPlatformNode as unknown as (this: Node, config: PlatformNodeDef) => void, {
        credentials: {
            apiKeyId: { type: "text" },
            apiKeySecret: { type: "password" },
            email: { type: "text" },
            password: { type: "password" },
        },
    });
};

function secondsToMs(value: string | number | undefined, fallbackSeconds: number): number {
    const seconds = Number(value);
    return (Number.isFinite(seconds) && seconds > 0 ? seconds : fallbackSeconds) * 1000;
}
