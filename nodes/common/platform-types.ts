import type { Node, NodeDef } from "node-red";
import type * as tls from "node:tls";

import type { ActionConsumer } from "../../lib/delivery/consumer";
import type { RestClient } from "../../lib/rest";

/** Settings of a `resilient-platform` config node as stored in the flow. */
export interface PlatformNodeDef extends NodeDef {
    host: string;
    restPort: string | number;
    stompPort: string | number;
    org: string;
    authType: "apikey" | "password";
    usetls: boolean;
    tls: string;
    heartbeat: string | number;
    reconnectMaxDelay: string | number;
}

/** Credentials of a `resilient-platform` config node; only ever in Node-RED's credentials store. */
export interface PlatformCredentials {
    apiKeyId?: string;
    apiKeySecret?: string;
    email?: string;
    password?: string;
}

/** The parts of a `resilient-platform` node that the other nodes use. */
export interface PlatformNode extends Node<PlatformCredentials> {
    /** Resolves to the shared consumer once the org id is known; rejects with a configuration error. */
    consumer(): Promise<ActionConsumer>;
    /** The shared REST client; throws a configuration error when the settings are invalid. */
    restClient(): RestClient;
    /** Registers a node that uses this platform, for status updates. */
    register(user: Node): void;
    deregister(user: Node): void;
    /** Host and org for labels and logs, e.g. `soar.example.com org 201`. */
    describe(): string;
    /** Host as deployed, before any check; the editor endpoints compare it with the dialog's host. */
    configuredHost(): string;
}

/** The core `tls-config` node's runtime API. */
export interface TlsConfigNode extends Node {
    valid?: boolean;
    addTLSOptions(options: tls.ConnectionOptions): tls.ConnectionOptions;
}

/** A DNS name, an IPv4 address or an IPv6 address without brackets: no scheme, port, path or user part. */
export const HOST_NAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$/;
