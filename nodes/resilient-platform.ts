import type { Node, NodeAPI } from "node-red";
import type * as tls from "node:tls";

import { ActionConsumer } from "../lib/delivery/consumer";
import { RestClient } from "../lib/rest";
import type { ConnectionState } from "../lib/stomp/connection";
import { HOST_NAME, type PlatformCredentials, type PlatformNode, type PlatformNodeDef, type TlsConfigNode } from "./common/platform-types";
import { registerAdminRoutes } from "./common/test-connection";

/** How often a failing reconnect is logged: the first failure, then every Nth attempt. */
const LOG_EVERY_ATTEMPTS = 10;


const packageInfo = require("../../package.json") as { name: string; version: string };

/** Checked settings of one platform node. */
interface PlatformSettings {
    host: string;
    restPort: number;
    stompPort: number;
    org: string;
    login: string;
    passcode: string;
    tls: tls.ConnectionOptions | undefined;
}

export = function register(RED: NodeAPI): void {
    registerAdminRoutes(RED);
    function ResilientPlatformNode(this: PlatformNode, config: PlatformNodeDef): void {
        RED.nodes.createNode(this, config);
        const node = this;
        const users: Record<string, Node> = {};
        let settings: PlatformSettings | undefined;
        let configError: Error | undefined;
        let consumer: Promise<ActionConsumer> | undefined;
        let rest: RestClient | undefined;
        let closed = false;
        let failedAttempts = 0;
        const closeWaiters = new Set<() => void>();

        // The runtime forwards this config node's status and errors to the nodes listed in `users`.
        (node as unknown as { users: Record<string, Node> }).users = users;

        try {
            settings = readSettings();
        } catch (error) {
            configError = error as Error;
            node.error(configError.message);
        }

        node.describe = () => `${config.host}:${config.stompPort} org ${config.org}`;
        node.configuredHost = () => String(config.host ?? "").trim();
        node.register = (user: Node) => {
            users[user.id] = user;
        };
        node.deregister = (user: Node) => {
            delete users[user.id];
        };
        node.restClient = () => {
            if (closed) {
                throw new Error(RED._("resilient-platform.errors.closed"));
            }
            if (!settings) {
                throw configError as Error;
            }
            rest ??= createRestClient(settings);
            return rest;
        };
        node.consumer = () => {
            if (closed) {
                return Promise.reject(new Error(RED._("resilient-platform.errors.closed")));
            }
            if (!settings) {
                return Promise.reject(configError);
            }
            consumer ??= createConsumer(settings);
            return consumer;
        };

        node.on("close", (done: () => void) => {
            closed = true;
            for (const wake of closeWaiters) {
                wake();
            }
            closeWaiters.clear();
            const stopping: Array<Promise<unknown>> = [];
            if (consumer) {
                stopping.push(consumer.then((current) => current.close(2000, 3000)));
            }
            if (rest) {
                stopping.push(rest.close(3000));
            }
            Promise.allSettled(stopping).then((results) => {
                for (const result of results) {
                    if (result.status === "rejected") {
                        node.warn((result.reason as Error).message);
                    }
                }
                done();
            });
        });

        function readSettings(): PlatformSettings {
            const host = String(config.host ?? "").trim();
            if (!host) {
                throw new Error(RED._("resilient-platform.errors.missing-host"));
            }
            if (!HOST_NAME.test(host)) {
                throw new Error(RED._("resilient-platform.errors.invalid-host", { host }));
            }
            const stompPort = parsePort(config.stompPort, 65001);
            const restPort = parsePort(config.restPort, 443);
            const org = String(config.org ?? "").trim();
            if (!org) {
                throw new Error(RED._("resilient-platform.errors.missing-org"));
            }
            const credentials: PlatformCredentials = node.credentials ?? {};
            const passwordMode = config.authType === "password";
            const login = passwordMode ? credentials.email : credentials.apiKeyId;
            const passcode = passwordMode ? credentials.password : credentials.apiKeySecret;
            if (!login || !passcode) {
                throw new Error(RED._(`resilient-platform.errors.missing-credentials-${passwordMode ? "password" : "apikey"}`));
            }
            return { host, restPort, stompPort, org, login, passcode, tls: tlsOptions(host) };
        }

        function parsePort(value: string | number | undefined, fallback: number): number {
            const port = value === undefined || value === "" ? fallback : Number(value);
            if (!Number.isInteger(port) || port < 1 || port > 65535) {
                throw new Error(RED._("resilient-platform.errors.invalid-port", { port: String(value) }));
            }
            return port;
        }

        function tlsOptions(host: string): tls.ConnectionOptions | undefined {
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

        function createRestClient(current: PlatformSettings): RestClient {
            return new RestClient({
                host: current.host,
                port: current.restPort,
                org: current.org,
                auth:
                    config.authType === "password"
                        ? { kind: "password", email: current.login, password: current.passcode }
                        : { kind: "apikey", id: current.login, secret: current.passcode },
                tls: current.tls ?? false,
                userAgent: `${packageInfo.name}/${packageInfo.version}`,
                log: {
                    debug: (text) => node.debug(text),
                    info: (text) => node.log(text),
                    warn: (text) => node.warn(text),
                },
            });
        }

        async function createConsumer(current: PlatformSettings): Promise<ActionConsumer> {
            // A numeric org needs no REST call; a name is resolved through GET /rest/session.
            const orgId = /^\d+$/.test(current.org) ? Number(current.org) : await resolveOrgId(current);
            const created = new ActionConsumer({
                host: current.host,
                stompPort: current.stompPort,
                orgId,
                tls: current.tls,
                login: current.login,
                passcode: current.passcode,
                heartbeatIncomingMs: secondsToMs(config.heartbeat, 15),
                reconnectMaxMs: secondsToMs(config.reconnectMaxDelay, 30),
            });
            created.on("state", (state, reason) => logState(created, state, reason));
            created.on("error", (error) =>
                node.error(RED._("resilient-platform.errors.broker", { broker: created.connection.address, message: error.message })),
            );
            return created;
        }

        /**
         * Resolves the org name through the REST API, retrying for ever with
         * capped backoff: Node-RED often starts before the platform does.
         */
        async function resolveOrgId(current: PlatformSettings): Promise<number> {
            const maxDelayMs = secondsToMs(config.reconnectMaxDelay, 30);
            for (let attempt = 1; ; attempt += 1) {
                if (closed) {
                    throw new Error(RED._("resilient-platform.errors.closed"));
                }
                try {
                    return await node.restClient().orgId();
                } catch (error) {
                    if (closed) {
                        throw new Error(RED._("resilient-platform.errors.closed"));
                    }
                    if (attempt === 1 || attempt % LOG_EVERY_ATTEMPTS === 0) {
                        node.warn(RED._("resilient-platform.errors.org-lookup", { org: current.org, message: (error as Error).message, attempts: String(attempt) }));
                    }
                    const delay = Math.min(maxDelayMs, 1000 * 2 ** Math.min(attempt - 1, 10));
                    let wake: () => void = () => undefined;
                    await new Promise<void>((resolve) => {
                        const timer = setTimeout(resolve, delay);
                        wake = () => {
                            clearTimeout(timer);
                            resolve();
                        };
                        closeWaiters.add(wake);
                    });
                    closeWaiters.delete(wake);
                }
            }
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
                    const key = /password is invalid|authentication failed/i.test(reason ?? "") ? "login-refused" : "disconnected";
                    node.warn(RED._(`resilient-platform.state.${key}`, { broker, reason: reason ?? "", attempts: String(failedAttempts) }));
                }
            } else if (state === "closed") {
                node.log(RED._("resilient-platform.state.closed", { broker }));
            }
        }
    }

    // The constructor adds PlatformNode's methods, but registerType is typed for the base Node only.
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
