import { constants as fsConstants } from "node:fs";
import { open } from "node:fs/promises";
import { STATUS_CODES } from "node:http";
import { basename } from "node:path";
import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import Mustache from "mustache";

import type { InvocationInfo } from "../lib/messages/inbound";
import {
    OrgResolutionError,
    RestError,
    createArtifact,
    patchObject,
    updateObject,
    uploadAttachment,
    type CreateArtifactOptions,
    type HandleFormat,
    type PlatformObject,
    type QueryValue,
    type RestClient,
    type RestMethod,
    type RestRequest,
    type RestResponse,
} from "../lib/rest";
import type { PlatformNode } from "./common/platform-types";

type Operation = "request" | "update" | "patch" | "attachment" | "artifact";
type TypedValueType = "msg" | "json" | "jsonata";

/** One row of the query or header list in the editor. The value is a mustache template. */
interface NameValue {
    name: string;
    value: string;
}

interface RestNodeDef extends NodeDef {
    platform: string;
    operation: Operation;
    method: string;
    path: string;
    querySource: "list" | "msg";
    query: NameValue[];
    queryProperty: string;
    headers: NameValue[];
    bodySource: "none" | "property" | "template";
    body: string;
    bodyType: TypedValueType;
    bodyTemplate: string;
    handleFormat: "none" | "names" | "ids" | "objects";
    useContextToken: boolean;
    changes: string;
    changesType: TypedValueType;
    maxTries: string | number;
    attachTo: "incident" | "task";
    incidentId: string;
    taskId: string;
    fileProperty: string;
    /** `content` sends a string as the file's text; `path` reads a string as a local file path. */
    fileSource?: "content" | "path";
    fileName: string;
    contentType: string;
    artifactType: string;
    artifactValue: string;
    artifactDescription: string;
}

interface RestMessage extends NodeMessage {
    resilient?: Partial<InvocationInfo>;
    statusCode?: number;
    headers?: Record<string, unknown>;
    changed?: boolean;
    filename?: string;
}

/** Settings of one node, checked once when the node starts. */
interface RestSettings {
    operation: Operation;
    method: RestMethod;
    maxTries: number;
    handleFormat: HandleFormat | undefined;
    useContextToken: boolean;
    headers: NameValue[];
}

/** The response of the node's last REST call for one msg, which becomes `msg.statusCode` and `msg.headers`. */
interface LastResponse {
    response?: RestResponse;
}

const OPERATIONS = new Set<Operation>(["request", "update", "patch", "attachment", "artifact"]);
const METHODS = new Set<RestMethod>(["GET", "POST", "PUT", "PATCH", "DELETE"]);
const HANDLE_FORMATS = new Set(["names", "ids", "objects"]);
/** An HTTP header name (a `token` in RFC 9110). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Maximum length of a status text, in characters. */
const MAX_STATUS_LENGTH = 20;
/** Upper bound of tries on conflicts: beyond it a storm of 409s would hold the msg for minutes. */
const MAX_TRIES_LIMIT = 50;
/** The platform's default `max_attachment_mb` is 25. */
const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;
/** Headers the HTTP client manages; a row setting them would break or redirect the request. */
const RESERVED_HEADERS = new Set(["host", "content-length", "transfer-encoding", "expect", "upgrade", "connection", "keep-alive", "te", "trailer"]);

export = function register(RED: NodeAPI): void {
    function ResilientRestNode(this: Node, config: RestNodeDef): void {
        RED.nodes.createNode(this, config);
        const node = this;
        const platform = RED.nodes.getNode(config.platform) as PlatformNode | null;
        let settings: RestSettings | undefined;
        let configError: Error | undefined;
        let warnedMissingToken = false;
        let inFlight = 0;

        try {
            settings = readSettings();
        } catch (error) {
            configError = error as Error;
            node.status({ fill: "red", shape: "ring", text: platform ? "resilient-rest.status.invalid" : "resilient-rest.status.no-platform" });
            node.error(configError.message);
        }
        platform?.register(node);

        node.on("input", (msg: NodeMessage, send: (msg: NodeMessage) => void, done: (err?: Error) => void) => {
            handleInput(msg as RestMessage, send, done).catch((error: Error) => node.error(error, msg));
        });

        node.on("close", (removed: boolean, done: () => void) => {
            platform?.deregister(node);
            if (removed) {
                node.status({});
            }
            done();
        });

        async function handleInput(msg: RestMessage, send: (msg: NodeMessage) => void, done: (err?: Error) => void): Promise<void> {
            if (!settings || !platform) {
                done(configError);
                return;
            }
            inFlight += 1;
            showRequesting();
            let outcome: string;
            try {
                outcome = await perform(settings, platform, msg);
            } catch (error) {
                inFlight -= 1;
                showResult({ fill: "red", shape: "ring", text: failureStatus(error) });
                done(reportable(error));
                return;
            }
            inFlight -= 1;
            showResult({ fill: "green", shape: "dot", text: outcome });
            send(msg);
            done();
        }

        /** Sends the REST calls of the node's operation, fills in the msg and returns the status text. */
        async function perform(current: RestSettings, platformNode: PlatformNode, msg: RestMessage): Promise<string> {
            const last: LastResponse = {};
            const client = recordResponses(platformNode.restClient(), last);
            const contextToken = contextTokenOf(current, msg);

            switch (current.operation) {
                case "request": {
                    const path = renderStrict(config.path, msg, encodeURIComponent, RED._("resilient-rest.label.path"));
                    const response = await client.request({
                        method: current.method,
                        path,
                        query: await readQuery(msg),
                        headers: renderHeaders(current, msg),
                        body: await readBody(msg),
                        contextToken,
                        handleFormat: current.handleFormat,
                    });
                    if (current.method === "PATCH") {
                        await rejectFailedPatch(client, path, response);
                    }
                    msg.payload = response.body;
                    break;
                }
                case "update": {
                    const changes = await readChanges(msg);
                    const result = await updateObject(client, {
                        path: renderStrict(config.path, msg, encodeURIComponent, RED._("resilient-rest.label.path")),
                        apply: () => changes,
                        maxTries: current.maxTries,
                        contextToken,
                        handleFormat: current.handleFormat,
                    });
                    msg.payload = result.object;
                    msg.changed = result.changed;
                    break;
                }
                case "patch": {
                    const changes = flattenProperties(await readChanges(msg));
                    const result = await patchObject(client, {
                        path: renderStrict(config.path, msg, encodeURIComponent, RED._("resilient-rest.label.path")),
                        changes,
                        maxTries: current.maxTries,
                        contextToken,
                        handleFormat: current.handleFormat,
                    });
                    // The PATCH response, or the object as read when every field already had its value.
                    msg.payload = last.response?.body;
                    msg.changed = result.changed;
                    break;
                }
                case "attachment":
                    msg.payload = await uploadAttachment(client, await readAttachment(msg, contextToken));
                    break;
                case "artifact":
                    msg.payload = await createArtifact(client, readArtifact(msg, contextToken));
                    break;
            }

            const response = last.response as RestResponse;
            msg.statusCode = response.statusCode;
            msg.headers = withoutCookies(response.headers);
            const unchanged = (current.operation === "update" || current.operation === "patch") && msg.changed === false;
            return unchanged ? "resilient-rest.status.unchanged" : httpStatusText(response.statusCode);
        }

        function readSettings(): RestSettings {
            if (!platform) {
                throw new Error(RED._("resilient-rest.errors.missing-platform"));
            }
            const operation = (config.operation || "request") as Operation;
            if (!OPERATIONS.has(operation)) {
                throw new Error(RED._("resilient-rest.errors.invalid-operation", { value: String(config.operation) }));
            }
            const method = String(config.method || "GET").toUpperCase() as RestMethod;
            if (operation === "request" && !METHODS.has(method)) {
                throw new Error(RED._("resilient-rest.errors.invalid-method", { value: String(config.method) }));
            }
            if ((operation === "request" || operation === "update" || operation === "patch") && !String(config.path ?? "").trim()) {
                throw new Error(RED._("resilient-rest.errors.missing-path"));
            }
            const maxTries = config.maxTries === undefined || config.maxTries === "" ? 5 : Number(config.maxTries);
            if (!Number.isInteger(maxTries) || maxTries < 1 || maxTries > MAX_TRIES_LIMIT) {
                throw new Error(RED._("resilient-rest.errors.invalid-max-tries", { value: String(config.maxTries) }));
            }
            const headers = (config.headers ?? []).filter((header) => String(header.name ?? "").trim() !== "");
            for (const header of headers) {
                if (!HEADER_NAME.test(header.name.trim())) {
                    throw new Error(RED._("resilient-rest.errors.invalid-header-name", { name: header.name }));
                }
                if (RESERVED_HEADERS.has(header.name.trim().toLowerCase())) {
                    throw new Error(RED._("resilient-rest.errors.reserved-header", { name: header.name }));
                }
            }
            return {
                operation,
                method,
                maxTries,
                handleFormat: HANDLE_FORMATS.has(config.handleFormat) ? (config.handleFormat as HandleFormat) : undefined,
                // Flows saved before this setting existed have no value, and they keep sending the token.
                useContextToken: config.useContextToken !== false,
                headers,
            };
        }

        /** Returns the msg's context token, or undefined when the node sends none. Warns once per node when it is missing. */
        function contextTokenOf(current: RestSettings, msg: RestMessage): string | undefined {
            if (!current.useContextToken) {
                return undefined;
            }
            const token = msg.resilient?.contextToken;
            if (typeof token === "string" && token !== "") {
                return token;
            }
            if (!warnedMissingToken) {
                warnedMissingToken = true;
                node.warn(RED._("resilient-rest.warnings.missing-context-token"));
            }
            return undefined;
        }

        async function readQuery(msg: RestMessage): Promise<Record<string, QueryValue>> {
            if (config.querySource === "msg") {
                const value = RED.util.getMessageProperty(msg, config.queryProperty || "query") as unknown;
                if (value === undefined || value === null) {
                    return {};
                }
                if (!isPlainObject(value)) {
                    throw new Error(RED._("resilient-rest.errors.invalid-query", { property: config.queryProperty || "query" }));
                }
                return value as Record<string, QueryValue>;
            }
            const query: Record<string, QueryValue> = {};
            for (const entry of config.query ?? []) {
                const name = String(entry.name ?? "").trim();
                if (name !== "") {
                    query[name] = renderText(entry.value, msg);
                }
            }
            return query;
        }

        function renderHeaders(current: RestSettings, msg: RestMessage): Record<string, string> {
            const headers: Record<string, string> = {};
            for (const header of current.headers) {
                const value = renderText(header.value, msg);
                if (/[\r\n]/.test(value)) {
                    throw new Error(RED._("resilient-rest.errors.invalid-header-value", { name: header.name }));
                }
                headers[header.name.trim()] = value;
            }
            return headers;
        }

        async function readBody(msg: RestMessage): Promise<unknown> {
            if (config.bodySource === "property") {
                return evaluateProperty(config.body, config.bodyType || "msg", msg);
            }
            if (config.bodySource !== "template") {
                return undefined;
            }
            const text = Mustache.render(config.bodyTemplate ?? "", msg, {}, { escape: escapeForJson }).trim();
            if (text === "") {
                return undefined;
            }
            try {
                return JSON.parse(text) as unknown;
            } catch (error) {
                throw new Error(RED._("resilient-rest.errors.invalid-body-template", { message: (error as Error).message }));
            }
        }

        async function readChanges(msg: RestMessage): Promise<PlatformObject> {
            const value = await evaluateProperty(config.changes || "changes", config.changesType || "msg", msg);
            if (!isPlainObject(value) || Object.keys(value).length === 0) {
                throw new Error(RED._("resilient-rest.errors.invalid-changes", { property: describeTypedValue(config.changes || "changes", config.changesType || "msg") }));
            }
            return value;
        }

        async function readAttachment(msg: RestMessage, contextToken: string | undefined): Promise<Parameters<typeof uploadAttachment>[1]> {
            const incidentId = renderId(config.incidentId, msg, RED._("resilient-rest.label.incidentId"));
            const taskId = config.attachTo === "task" ? renderId(config.taskId, msg, RED._("resilient-rest.label.taskId")) : undefined;
            const property = config.fileProperty || "payload";
            const source = RED.util.getMessageProperty(msg, property) as unknown;
            let data: Buffer;
            let defaultName: string | undefined;
            if (Buffer.isBuffer(source)) {
                data = source;
                defaultName = typeof msg.filename === "string" && msg.filename ? basename(msg.filename) : undefined;
            } else if (typeof source === "string" && source !== "" && config.fileSource === "path") {
                data = await readRegularFile(source);
                defaultName = basename(source);
            } else if (typeof source === "string" && source !== "") {
                data = Buffer.from(source, "utf8");
                defaultName = typeof msg.filename === "string" && msg.filename ? basename(msg.filename) : undefined;
            } else {
                throw new Error(RED._("resilient-rest.errors.invalid-file", { property }));
            }
            const fileName = renderText(config.fileName, msg) || defaultName;
            if (!fileName) {
                throw new Error(RED._("resilient-rest.errors.missing-file-name"));
            }
            const contentType = renderText(config.contentType, msg) || undefined;
            return { incidentId, taskId, fileName, contentType, data, contextToken };
        }

        /**
         * Reads a local file for upload. Only regular files up to the platform's
         * default attachment limit are read: a device, FIFO or huge file would
         * hang the msg or exhaust memory.
         */
        async function readRegularFile(filePath: string): Promise<Buffer> {
            let handle;
            try {
                // O_NONBLOCK keeps opening a FIFO from waiting for a writer.
                handle = await open(filePath, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
            } catch (error) {
                throw new Error(RED._("resilient-rest.errors.unreadable-file", { path: filePath, message: (error as Error).message }));
            }
            try {
                const stats = await handle.stat();
                if (!stats.isFile()) {
                    throw new Error(RED._("resilient-rest.errors.not-a-file", { path: filePath }));
                }
                if (stats.size > MAX_ATTACHMENT_BYTES) {
                    throw new Error(RED._("resilient-rest.errors.file-too-large", { path: filePath, size: String(stats.size), max: String(MAX_ATTACHMENT_BYTES) }));
                }
                return await handle.readFile();
            } finally {
                await handle.close();
            }
        }

        function readArtifact(msg: RestMessage, contextToken: string | undefined): CreateArtifactOptions {
            const type = renderText(config.artifactType, msg);
            if (type === "") {
                throw new Error(RED._("resilient-rest.errors.empty-value", { setting: RED._("resilient-rest.label.artifactType") }));
            }
            const value = renderText(config.artifactValue, msg);
            if (value === "") {
                throw new Error(RED._("resilient-rest.errors.empty-value", { setting: RED._("resilient-rest.label.artifactValue") }));
            }
            return {
                incidentId: renderId(config.incidentId, msg, RED._("resilient-rest.label.incidentId")),
                // A type is an id or a name such as "IP Address".
                type: /^\d+$/.test(type) ? Number(type) : type,
                value,
                description: renderText(config.artifactDescription, msg) || undefined,
                contextToken,
            };
        }

        /** Renders a template that must yield a whole number, such as an incident id. */
        function renderId(template: string | undefined, msg: RestMessage, setting: string): number {
            const text = renderStrict(template ?? "", msg, String, setting).trim();
            if (!/^\d+$/.test(text) || Number(text) < 1) {
                throw new Error(RED._("resilient-rest.errors.invalid-id", { setting, value: text }));
            }
            return Number(text);
        }

        /** Renders a template and throws when it uses a msg property that is missing or empty, so no call goes to a wrong path. */
        function renderStrict(template: string, msg: RestMessage, escape: (value: string) => string, setting: string): string {
            const context = new Mustache.Context(msg);
            for (const token of Mustache.parse(template)) {
                const [kind, name] = token;
                if (kind !== "name" && kind !== "&") {
                    continue;
                }
                const value = context.lookup(name) as unknown;
                if (value === undefined || value === null || value === "") {
                    throw new Error(RED._("resilient-rest.errors.missing-template-value", { setting, name }));
                }
            }
            const rendered = Mustache.render(template, msg, {}, { escape: (value: unknown) => escape(String(value)) });
            // A value of "." or ".." or an empty one inside a section would point the call at another object.
            const segments = rendered.split("?")[0].split("/").slice(1);
            if (segments.some((segment) => segment === "" || segment === "." || segment === "..") || rendered.includes("[object ")) {
                throw new Error(RED._("resilient-rest.errors.invalid-rendered-path", { setting, path: rendered }));
            }
            return rendered;
        }

        /**
         * Throws when a PATCH response has `success: false`, which is how the
         * platform rejects a PATCH whose old values no longer match. A plain
         * PATCH request fails on it too, so that no flow goes on as if the
         * change were saved.
         */
        async function rejectFailedPatch(client: RestClient, path: string, response: RestResponse): Promise<void> {
            const body = response.body;
            if (!isPlainObject(body) || body.success !== false) {
                return;
            }
            // The body came from the server; a server that echoes the request could put credentials in it.
            const fieldFailures = Array.isArray(body.field_failures)
                ? (JSON.parse(client.redact(JSON.stringify(body.field_failures))) as RestError["fieldFailures"])
                : [];
            throw new RestError({
                method: "PATCH",
                path: await client.fullPath(path),
                statusCode: response.statusCode,
                serverMessage: typeof body.message === "string" && body.message ? client.redact(body.message) : undefined,
                failure: RED._("resilient-rest.errors.patch-rejected", { fields: fieldFailures.map((failure) => failure.field).join(", ") || "-" }),
                hint: RED._("resilient-rest.errors.patch-rejected-hint"),
                fieldFailures,
            });
        }

        function evaluateProperty(value: string, type: TypedValueType, msg: RestMessage): Promise<unknown> {
            return new Promise((resolve, reject) => {
                RED.util.evaluateNodeProperty(value, type, node, msg, (error, result: unknown) => {
                    if (error) {
                        reject(new Error(RED._("resilient-rest.errors.evaluation-failed", { property: describeTypedValue(value, type), message: error.message })));
                    } else {
                        resolve(result);
                    }
                });
            });
        }

        function showRequesting(): void {
            const text = inFlight > 1 ? RED._("resilient-rest.status.requesting-many", { count: inFlight }) : "resilient-rest.status.requesting";
            node.status({ fill: "blue", shape: "dot", text });
        }

        /** Shows the outcome of a call. While other calls are running, their count stays instead. */
        function showResult(status: { fill: "green" | "red"; shape: "dot" | "ring"; text: string }): void {
            if (inFlight > 0) {
                showRequesting();
            } else {
                node.status(status);
            }
        }

        function failureStatus(error: unknown): string {
            if (error instanceof RestError) {
                if (error.statusCode === undefined) {
                    return error.code ?? "resilient-rest.status.failed";
                }
                if (error.fieldFailures.length > 0 || error.statusCode < 300) {
                    return "resilient-rest.status.patch-rejected";
                }
                if (error.tries > 1) {
                    return RED._("resilient-rest.status.after-tries", { status: error.statusCode, tries: error.tries });
                }
                return httpStatusText(error.statusCode);
            }
            if (error instanceof OrgResolutionError) {
                return "resilient-rest.status.org-not-found";
            }
            return "resilient-rest.status.failed";
        }
    }

    RED.nodes.registerType("resilient-rest", ResilientRestNode);
};

/**
 * Returns a view of `client` whose `request` also stores each response in
 * `last`. `updateObject` and the other helpers return only the platform
 * object, and the node needs the status and headers of the final call.
 */
function recordResponses(client: RestClient, last: LastResponse): RestClient {
    return new Proxy(client, {
        get(target, property) {
            if (property === "request") {
                return async (request: RestRequest): Promise<RestResponse> => {
                    const response = await target.request(request);
                    last.response = response;
                    return response;
                };
            }
            const value = Reflect.get(target, property, target) as unknown;
            return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
    });
}

/**
 * Prepares a RestError for a Catch node. Node-RED 4.1 copies only `message`,
 * `code`, `stack` and `cause` of an error into `msg.error`, so the details of
 * the failed call go into `cause` as plain data.
 */
function reportable(error: unknown): Error {
    if (!(error instanceof Error)) {
        return new Error(String(error));
    }
    if (error instanceof RestError) {
        error.cause = {
            method: error.method,
            path: error.path,
            statusCode: error.statusCode ?? null,
            serverMessage: error.serverMessage ?? null,
            errorCode: error.errorCode ?? null,
            code: error.code ?? null,
            hint: error.hint ?? null,
            tries: error.tries,
            fieldFailures: error.fieldFailures,
        };
    }
    return error;
}

/** Returns e.g. `200 OK`, or `HTTP 503` when the reason phrase would make the status too long. */
function httpStatusText(statusCode: number): string {
    const reason = STATUS_CODES[statusCode];
    const text = reason ? `${statusCode} ${reason}` : `HTTP ${statusCode}`;
    return text.length <= MAX_STATUS_LENGTH ? text : `HTTP ${statusCode}`;
}

/** Response headers for `msg.headers`, without `set-cookie`, which can carry the session id of an email/password login. */
function withoutCookies(headers: Record<string, unknown>): Record<string, unknown> {
    const copy = { ...headers };
    delete copy["set-cookie"];
    return copy;
}

/**
 * Escapes a template value for a JSON body: a string so that it fits between
 * double quotes, any other value as JSON.
 */
function escapeForJson(value: unknown): string {
    if (typeof value === "string") {
        return JSON.stringify(value).slice(1, -1);
    }
    return JSON.stringify(value) ?? "";
}

/** Turns `{properties: {escalated: true}}` into `{escalated: true}`, the field names a PATCH uses. */
function flattenProperties(changes: PlatformObject): Record<string, unknown> {
    const flat: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(changes)) {
        if (name === "properties" && isPlainObject(value)) {
            Object.assign(flat, value);
        } else {
            flat[name] = value;
        }
    }
    return flat;
}

/** Renders a template as plain text, with values inserted as they are. */
function renderText(template: string | undefined, view: object): string {
    return Mustache.render(template ?? "", view, {}, { escape: String }).trim();
}

function describeTypedValue(value: string, type: TypedValueType): string {
    return type === "msg" ? `msg.${value}` : `the ${type} value`;
}

function isPlainObject(value: unknown): value is PlatformObject {
    return typeof value === "object" && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}
