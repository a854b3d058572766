import { STATUS_CODES } from "node:http";

/** One entry of `field_failures` in a PATCH response (`PatchStatusDTO`). */
export interface FieldFailure {
    field: string;
    your_original_value: unknown;
    actual_current_value: unknown;
}

/** Summary of an org for error messages. */
export interface OrgSummary {
    id: number;
    name: string;
    enabled: boolean;
}

/** Everything a `RestError` is built from. */
export interface RestErrorDetails {
    method: string;
    /** Request path without the query string, e.g. `/rest/orgs/201/incidents/2301`. */
    path: string;
    /** HTTP status, or `undefined` when no response arrived. */
    statusCode?: number;
    /** The platform's `message` from the error body, or the start of a non-JSON body. */
    serverMessage?: string;
    /** The platform's `error_code`, e.g. `generic`. */
    errorCode?: string;
    /** Advice on what to check or do next. */
    hint?: string;
    /** Description of the failure when there is no HTTP status, e.g. `connection refused (ECONNREFUSED)`. */
    failure?: string;
    /** Node or undici error code of a transport failure, e.g. `ECONNREFUSED` or `UND_ERR_SOCKET`. */
    code?: string;
    /** Number of times the request was sent or attempted. */
    tries?: number;
    fieldFailures?: FieldFailure[];
    cause?: unknown;
}

/**
 * A failed REST call: an HTTP status of 400 or more, a transport failure
 * after the allowed retries, or a rejected PATCH. The message names the
 * method, path, status, the platform's own message and a hint in one
 * sentence. It never contains a credential: the client removes its secrets
 * from everything the server sent before it builds the error.
 */
export class RestError extends Error {
    public readonly method: string;
    public readonly path: string;
    public readonly statusCode: number | undefined;
    public readonly serverMessage: string | undefined;
    public readonly errorCode: string | undefined;
    public readonly hint: string | undefined;
    public readonly code: string | undefined;
    public readonly tries: number;
    public readonly fieldFailures: FieldFailure[];

    public constructor(details: RestErrorDetails) {
        super(formatRestErrorMessage(details), details.cause === undefined ? undefined : { cause: details.cause });
        this.name = "RestError";
        this.method = details.method;
        this.path = details.path;
        this.statusCode = details.statusCode;
        this.serverMessage = details.serverMessage;
        this.errorCode = details.errorCode;
        this.hint = details.hint;
        this.code = details.code;
        this.tries = details.tries ?? 1;
        this.fieldFailures = details.fieldFailures ?? [];
    }

    /** Returns a copy with other tries, hint or failure text, for callers that retried on their own. */
    public withDetails(changes: Partial<RestErrorDetails>): RestError {
        return new RestError({
            method: this.method,
            path: this.path,
            statusCode: this.statusCode,
            serverMessage: this.serverMessage,
            errorCode: this.errorCode,
            hint: this.hint,
            code: this.code,
            tries: this.tries,
            fieldFailures: this.fieldFailures,
            cause: this.cause,
            ...changes,
        });
    }
}

/** The configured org is unknown to the account, disabled, or the account has no org. */
export class OrgResolutionError extends Error {
    /** Orgs the account belongs to, enabled or not. */
    public readonly orgs: OrgSummary[];

    public constructor(message: string, orgs: OrgSummary[]) {
        super(message);
        this.name = "OrgResolutionError";
        this.orgs = orgs;
    }
}

/** The request was not sent because `RestClient.close()` was called. */
export class ClientClosedError extends Error {
    public constructor(method: string, path: string) {
        super(`${method} ${path} was not sent because the REST client is closed.`);
        this.name = "ClientClosedError";
    }
}

function formatRestErrorMessage(details: RestErrorDetails): string {
    let text = `${details.method} ${details.path} failed`;
    if (details.statusCode !== undefined) {
        const reason = STATUS_CODES[details.statusCode];
        text += ` with HTTP ${details.statusCode}${reason ? ` ${reason}` : ""}`;
    }
    if (details.tries !== undefined && details.tries > 1) {
        text += ` after ${details.tries} tries`;
    }
    if (details.failure) {
        text += `: ${details.failure}`;
    }
    if (details.serverMessage) {
        text += `${details.failure ? ", server message" : ":"} "${details.serverMessage}"`;
    }
    text = ensureFullStop(text);
    if (details.hint) {
        text += ` ${ensureFullStop(details.hint)}`;
    }
    return text;
}

function ensureFullStop(text: string): string {
    return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** Authentication modes, for the 401 hint. */
export type AuthKind = "apikey" | "password";

/** Returns what to check for an HTTP error status, or `undefined` when there is no useful advice. */
export function hintForStatus(statusCode: number, authKind: AuthKind): string | undefined {
    switch (statusCode) {
        case 400:
            return "Check the request's fields and values";
        case 401:
            return authKind === "apikey"
                ? "Check the API key id and secret, and that the key is not blocked or expired"
                : "Check the email and password, and that the account is not locked";
        case 403:
            return authKind === "apikey"
                ? "The API key lacks a permission for this call or this org, so grant it on the platform"
                : "The account lacks a permission for this call or this org, so grant it on the platform";
        case 404:
            return "Check the incident or object id and the org";
        case 409:
            return "Another update changed the object first, so read it again and reapply the change";
        case 500:
        case 502:
        case 503:
        case 504:
            return "The platform or a proxy in front of it failed, so try again later";
        default:
            return undefined;
    }
}

/** Maximum length of a non-JSON error body quoted in an error message, in characters. */
const MAX_QUOTED_BODY = 200;

/**
 * Extracts the platform's message and error code from an error body.
 * The platform sends `{"success": false, "title", "message", "hints", "error_code"}`.
 * Proxies and servlet containers send HTML or text, of which the first
 * 200 characters (tags removed, spaces collapsed) are kept.
 */
export function parseErrorBody(body: Buffer, contentType: string | undefined): { serverMessage?: string; errorCode?: string } {
    const text = body.toString("utf8");
    if (text.trim() === "") {
        return {};
    }
    if (!contentType || /json/i.test(contentType)) {
        try {
            const parsed: unknown = JSON.parse(text);
            if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
                const record = parsed as Record<string, unknown>;
                const message = typeof record.message === "string" && record.message ? record.message : undefined;
                const title = typeof record.title === "string" && record.title ? record.title : undefined;
                const hints = Array.isArray(record.hints) ? record.hints.filter((hint): hint is string => typeof hint === "string" && hint !== "") : [];
                const parts = [title && title !== message ? title : undefined, message, ...hints].filter((part): part is string => !!part);
                return {
                    serverMessage: parts.length > 0 ? parts.join(" - ") : undefined,
                    errorCode: typeof record.error_code === "string" ? record.error_code : undefined,
                };
            }
        } catch {
            // Not JSON after all: quote it as text below.
        }
    }
    const plain = text
        .replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ")
        .replace(/<[^>]*>/g, " ")
        .replace(/\s+/g, " ")
        .trim();
    if (plain === "") {
        return {};
    }
    return { serverMessage: plain.length > MAX_QUOTED_BODY ? `${plain.slice(0, MAX_QUOTED_BODY)}...` : plain };
}
