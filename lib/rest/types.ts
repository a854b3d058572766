import type { IncomingHttpHeaders } from "node:http";
import type * as tls from "node:tls";

/** API key credentials, sent as HTTP Basic (key id : secret) on every request. */
export interface ApiKeyAuth {
    kind: "apikey";
    id: string;
    secret: string;
}

/** Email/password credentials for a platform session (cookie `JSESSIONID` plus header `X-sess-id`). */
export interface PasswordAuth {
    kind: "password";
    email: string;
    password: string;
}

/** Receiver of the client's log lines. None of them contains a credential. */
export interface RestLogger {
    debug?(message: string): void;
    info?(message: string): void;
    warn?(message: string): void;
}

/** Settings of one `RestClient`, normally one per platform config node. */
export interface RestClientOptions {
    /** Platform host name or IP address, without scheme or port. */
    host: string;
    /** HTTPS port, default 443. */
    port?: number;
    /**
     * The org to work in: its numeric id, or its `cloud_account`, `uuid` or
     * `name`. Either way the client checks it against the orgs in
     * `/rest/session` before the first org-scoped request. A wrong or
     * disabled org then fails with a message that lists the usable orgs,
     * instead of a bare 403 or 404 on every call. For API keys this costs one
     * `GET /rest/session` per client, while email/password sessions get the list
     * from the login response.
     */
    org: string | number;
    auth: ApiKeyAuth | PasswordAuth;
    /**
     * TLS settings, as for the broker connection (`ca`, `servername`,
     * client `cert`/`key`). `rejectUnauthorized` stays true unless set to
     * false here. Omitted: HTTPS verified against Node's built-in CA list.
     * `false`: plain HTTP, for a local simulator or a TLS-terminating proxy on
     * the same host.
     */
    tls?: tls.ConnectionOptions | false;
    timeouts?: {
        /** TCP connect plus TLS handshake, in milliseconds, default 10000. */
        connectMs?: number;
        /** One try of a request, from queueing to the last response byte, in milliseconds, default 60000. */
        requestMs?: number;
    };
    retries?: {
        /** Retries after the first try, default 3. */
        max?: number;
        /** Delay before the first retry, in milliseconds. It doubles per retry, with jitter. Default 500. */
        initialDelayMs?: number;
        /** Maximum delay between tries, in milliseconds. It also caps `Retry-After`. Default 8000. */
        maxDelayMs?: number;
    };
    /** `User-Agent` header, default the one in `headers` or else `node-red-resilient`. */
    userAgent?: string;
    /** Extra headers for every request. The client's auth, session and content headers take precedence. */
    headers?: Record<string, string>;
    /**
     * Path in front of `/rest`, for platforms behind a gateway such as Cloud
     * Pak for Security (`/api/respond`), default none.
     */
    pathPrefix?: string;
    /** Maximum open connections to the platform, default 10. */
    maxConnections?: number;
    /** Largest response body accepted, in bytes, default 256 MiB. */
    maxResponseBytes?: number;
    log?: RestLogger;
}

/** HTTP methods the client sends. */
export type RestMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

/** Values of the platform's `handle_format` parameter: how select-like fields are returned. */
export type HandleFormat = "default" | "ids" | "names" | "objects";

/** Query parameter values. `undefined` and `null` are left out, and arrays repeat the name. */
export type QueryValue = string | number | boolean | null | undefined | Array<string | number | boolean>;

/** One REST call. */
export interface RestRequest {
    method: RestMethod;
    /**
     * Relative to `/rest/orgs/<org_id>` (e.g. `/incidents/2301`), or absolute
     * when it starts with `/rest/` (e.g. `/rest/session`, `/rest/const`).
     */
    path: string;
    query?: Record<string, QueryValue>;
    headers?: Record<string, string>;
    /**
     * Request body. A Buffer or Uint8Array is sent as it is, with the
     * `content-type` from `headers` (default `application/octet-stream`).
     * Anything else is sent as JSON.
     */
    body?: unknown;
    /** The message's `Co3ContextToken`, sent as `X-Co3ContextToken` so the change does not re-trigger the rule. */
    contextToken?: string;
    /** Sent as query parameter `handle_format`. */
    handleFormat?: HandleFormat;
}

/** A successful response (status below 400). */
export interface RestResponse<T = unknown> {
    statusCode: number;
    /** Header names in lower case. */
    headers: IncomingHttpHeaders;
    /** Parsed JSON for JSON responses, a string for text, a Buffer otherwise, `null` when empty. */
    body: T;
}
