import * as fs from "node:fs";
import type { NodeAPI } from "node-red";
import type * as tls from "node:tls";

import type { ApiKeyAuth, PasswordAuth } from "../../lib/rest";
import { HOST_NAME, type PlatformCredentials, type TlsConfigNode } from "./platform-types";

/** The value Node-RED's editor puts in a password field whose stored value the user did not change. */
const UNCHANGED_PASSWORD = "__PWRD__";

/** A whole-value environment variable reference, which Node-RED replaces when it creates a node. */
const ENV_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** Credentials as the editor sends them: typed values, `__PWRD__`, and `has_<name>` flags. */
export type DialogCredentials = PlatformCredentials & Record<`has_${keyof PlatformCredentials}`, boolean | undefined>;

/** The editor's values of a `tls-config` node, sent because the node may be new or changed since the last deploy. */
export interface DialogTlsConfig {
    cert?: string;
    key?: string;
    ca?: string;
    servername?: string;
    verifyservercert?: boolean;
    alpnprotocol?: string;
    credentials?: {
        certdata?: string;
        keydata?: string;
        cadata?: string;
        passphrase?: string;
        has_passphrase?: boolean;
    };
}

/** The values of an open `resilient-platform` dialog, as the editor posts them. */
export interface DialogValues {
    /** Id of the config node, for falling back to its stored credentials. */
    id?: string;
    host?: string;
    restPort?: string | number;
    stompPort?: string | number;
    org?: string;
    authType?: string;
    usetls?: boolean;
    /** Id of the selected `tls-config` node, or empty. */
    tls?: string;
    tlsConfig?: DialogTlsConfig;
    credentials?: Partial<DialogCredentials>;
}

/** Checked connection settings for a test or a lookup. */
export interface DialogSettings {
    host: string;
    restPort: number;
    stompPort: number;
    org: string;
    auth: ApiKeyAuth | PasswordAuth;
    /** TLS settings, or `undefined` when the user turned TLS off. */
    tls: tls.ConnectionOptions | undefined;
    /** Every secret in these settings, for removing them from messages. */
    secrets: string[];
}

/** Invalid dialog values. The message is translated and explains what to fix. */
export class DialogSettingsError extends Error {
    public constructor(message: string) {
        super(message);
        this.name = "DialogSettingsError";
    }
}

/**
 * Turns the posted dialog values into connection settings, the way the
 * `resilient-platform` node reads its own configuration. A password field
 * that the user left unchanged falls back to the credentials stored for
 * the node's id. Throws `DialogSettingsError`.
 */
export function readDialogSettings(RED: NodeAPI, values: DialogValues): DialogSettings {
    const host = substituteEnv(values.host).trim();
    if (!host) {
        throw new DialogSettingsError(RED._("resilient-platform.errors.missing-host"));
    }
    if (!HOST_NAME.test(host)) {
        throw new DialogSettingsError(RED._("resilient-platform.errors.invalid-host", { host }));
    }
    const restPort = parsePort(RED, values.restPort, 443);
    const stompPort = parsePort(RED, values.stompPort, 65001);
    const org = substituteEnv(values.org).trim();
    if (!org) {
        throw new DialogSettingsError(RED._("resilient-platform.errors.missing-org"));
    }

    const stored = storedCredentials<PlatformCredentials>(RED, values.id, "resilient-platform", host);
    const credentials = values.credentials ?? {};
    const passwordMode = values.authType === "password";
    const login = substituteEnv(credentialValue(credentials, stored, passwordMode ? "email" : "apiKeyId"));
    const passcode = substituteEnv(credentialValue(credentials, stored, passwordMode ? "password" : "apiKeySecret"));
    if (!login || !passcode) {
        throw new DialogSettingsError(RED._(`resilient-platform.errors.missing-credentials-${passwordMode ? "password" : "apikey"}`));
    }
    const auth: ApiKeyAuth | PasswordAuth = passwordMode
        ? { kind: "password", email: login, password: passcode }
        : { kind: "apikey", id: login, secret: passcode };

    const tlsOptions = values.usetls === false ? undefined : readTlsOptions(RED, values);
    const secrets = [passcode];
    if (typeof tlsOptions?.passphrase === "string") {
        secrets.push(tlsOptions.passphrase);
    }
    return { host, restPort, stompPort, org, auth, tls: tlsOptions, secrets };
}

/** Replaces every secret in `text` with `***`. */
export function redactSecrets(text: string, secrets: string[]): string {
    let result = text;
    for (const secret of secrets) {
        if (secret) {
            result = result.split(secret).join("***");
        }
    }
    return result;
}

function parsePort(RED: NodeAPI, value: string | number | undefined, fallback: number): number {
    const text = substituteEnv(value).trim();
    const port = text === "" ? fallback : Number(text);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new DialogSettingsError(RED._("resilient-platform.errors.invalid-port", { port: text }));
    }
    return port;
}

/**
 * Returns a credential from the dialog, or the stored one when the
 * dialog shows it unchanged: `__PWRD__`, or empty with `has_<name>` set.
 */
function credentialValue(dialog: object, stored: object, name: string): string {
    const typedValues = dialog as Record<string, unknown>;
    const storedValues = stored as Record<string, unknown>;
    const typed = typedValues[name];
    const unchanged = typed === undefined || typed === UNCHANGED_PASSWORD || (typed === "" && typedValues[`has_${name}`] === true);
    const value = unchanged ? storedValues[name] : typed;
    return typeof value === "string" ? value : "";
}

/**
 * Returns the stored credentials of a deployed node of the given type.
 * Other types never qualify, so the endpoints cannot be used to send another
 * node's password somewhere. A platform's stored secret is used only for the
 * host it was saved for; a changed host needs the secret typed again.
 */
function storedCredentials<T>(RED: NodeAPI, id: string | undefined, type: string, host?: string): Partial<T> {
    if (typeof id !== "string" || id === "") {
        return {};
    }
    const deployed = RED.nodes.getNode(id) as { type?: string; configuredHost?: () => string } | null;
    if (!deployed || deployed.type !== type) {
        return {};
    }
    if (host !== undefined && deployed.configuredHost?.() !== host) {
        return {};
    }
    return (RED.nodes.getCredentials(id) as Partial<T> | undefined) ?? {};
}

/**
 * Builds the TLS options from the editor's values of the selected
 * `tls-config` node, as that node would at runtime: certificate files
 * when paths are set (unless the setting `tlsConfigDisableLocalFiles`
 * forbids them), else uploaded data. Without editor values, the deployed
 * node adds its own options.
 */
function readTlsOptions(RED: NodeAPI, values: DialogValues): tls.ConnectionOptions {
    const options: tls.ConnectionOptions = { rejectUnauthorized: true };
    const tlsId = typeof values.tls === "string" && values.tls !== "_ADD_" ? values.tls : "";
    if (!tlsId) {
        return options;
    }
    const config = values.tlsConfig;
    if (!config) {
        const deployed = RED.nodes.getNode(tlsId) as TlsConfigNode | null;
        if (!deployed || typeof deployed.addTLSOptions !== "function") {
            throw new DialogSettingsError(RED._("resilient-platform.errors.missing-tls"));
        }
        return deployed.addTLSOptions(options);
    }

    const stored = storedCredentials<NonNullable<DialogTlsConfig["credentials"]>>(RED, tlsId, "tls-config");
    const credentials = config.credentials ?? {};
    const localFilesAllowed = (RED.settings as unknown as { tlsConfigDisableLocalFiles?: boolean }).tlsConfigDisableLocalFiles !== true;
    const paths = { cert: asText(config.cert).trim(), key: asText(config.key).trim(), ca: asText(config.ca).trim() };
    const usesFiles = localFilesAllowed && (paths.cert !== "" || paths.key !== "" || paths.ca !== "");
    for (const part of ["cert", "key", "ca"] as const) {
        const value = usesFiles ? readTlsFile(RED, paths[part]) : credentialValue(credentials, stored, `${part}data`);
        if (value) {
            options[part] = value;
        }
    }
    if (Boolean(options.cert) !== Boolean(options.key)) {
        throw new DialogSettingsError(RED._("resilient-platform.test.tls-pair"));
    }
    const passphrase = credentialValue(credentials, stored, "passphrase");
    if (passphrase) {
        options.passphrase = passphrase;
    }
    const servername = asText(config.servername).trim();
    if (servername) {
        options.servername = servername;
    }
    const alpn = asText(config.alpnprotocol).trim();
    if (alpn) {
        options.ALPNProtocols = [alpn];
    }
    options.rejectUnauthorized = config.verifyservercert !== false;
    return options;
}

function readTlsFile(RED: NodeAPI, file: string): string {
    if (!file) {
        return "";
    }
    try {
        return fs.readFileSync(file, "utf8");
    } catch (error) {
        throw new DialogSettingsError(RED._("resilient-platform.test.tls-file", { file, message: (error as Error).message }));
    }
}

/**
 * Replaces a whole-value `${NAME}` with the environment variable, as
 * Node-RED does for node properties and credentials.
 */
// NOTE: only process.env is read. Flow and group environment variables, which Node-RED also offers, are not.
function substituteEnv(value: unknown): string {
    const text = asText(value);
    const match = ENV_REFERENCE.exec(text.trim());
    return match ? (process.env[match[1]] ?? "") : text;
}

/** Returns a posted value as text: the request body is JSON from the editor, so a field may hold a number or be missing. */
function asText(value: unknown): string {
    if (value === undefined || value === null) {
        return "";
    }
    return typeof value === "string" ? value : String(value);
}
