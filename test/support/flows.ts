import type { BrokerDescription } from "../../scripts/broker";

/** Node modules the helper loads for flows built here: our three nodes and the core TLS node. */
export function nodeModules(): unknown[] {
    return [
        require("../../nodes/resilient-platform"),
        require("../../nodes/resilient-in"),
        require("../../nodes/resilient-ack"),
        require("@node-red/nodes/core/network/05-tls.js"),
    ];
}

/** Settings of the platform config node in a test flow. */
export interface PlatformOptions {
    port: number;
    tls?: { caFile: string; verify?: boolean };
    org?: string;
    reconnectMaxDelay?: number;
    /** Heart-beat the broker sends, in seconds. */
    heartbeat?: number;
    /** REST port of the simulator, when the flow uses the REST API. */
    restPort?: number;
}

/** Builds a `resilient-platform` config node (id `platform`) and, with TLS, its `tls-config` node. */
export function platformNodes(options: PlatformOptions): Array<Record<string, unknown>> {
    const nodes: Array<Record<string, unknown>> = [
        {
            id: "platform",
            type: "resilient-platform",
            name: "test platform",
            host: options.tls ? "localhost" : "127.0.0.1",
            restPort: options.restPort ?? 443,
            stompPort: options.port,
            org: options.org ?? "201",
            authType: "apikey",
            usetls: Boolean(options.tls),
            tls: options.tls ? "tls" : "",
            heartbeat: options.heartbeat ?? 15,
            reconnectMaxDelay: options.reconnectMaxDelay ?? 1,
        },
    ];
    if (options.tls) {
        nodes.push({
            id: "tls",
            type: "tls-config",
            name: "test CA",
            cert: "",
            key: "",
            ca: options.tls.caFile,
            verifyservercert: options.tls.verify ?? true,
        });
    }
    return nodes;
}

/** Credentials for the platform node, as the API key of the broker's `processor` user. */
export function processorCredentials(broker: BrokerDescription, user: "processor" | "outsider" = "processor") {
    return {
        platform: { apiKeyId: broker.users[user].login, apiKeySecret: broker.users[user].passcode },
    };
}

/** Builds a `resilient-in` node (id `in`) wired to the given nodes. */
export function inNode(destination: string, wires: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        id: "in",
        type: "resilient-in",
        z: "tab",
        x: 100,
        y: 100,
        platform: "platform",
        destination,
        destinationType: "queue",
        concurrency: 5,
        acknowledge: "after-reply",
        timeout: 600,
        wires: [wires],
        ...extra,
    };
}

/** Builds a `resilient-ack` node (id `ack`) that completes with a template. */
export function ackNode(template: string, wires: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        id: "ack",
        type: "resilient-ack",
        z: "tab",
        x: 300,
        y: 100,
        reply: "complete",
        messageSource: "template",
        template,
        messageProperty: "payload",
        resultsProperty: "payload",
        wrapResults: true,
        format: "json",
        wires: [wires],
        ...extra,
    };
}
