import { isIP } from "node:net";
import type { IncomingHttpHeaders } from "node:http";
import { Pool } from "undici";

import { ClientClosedError, RestError, hintForStatus, parseErrorBody } from "./errors";
import { CookieJar, resolveOrg, toSessionInfo, type SessionInfo } from "./session";
import { TransportFailure, describeFailure, sendAttempt, type RawResponse } from "./transport";
import type { ApiKeyAuth, PasswordAuth, QueryValue, RestClientOptions, RestLogger, RestMethod, RestRequest, RestResponse } from "./types";

/**
 * Idle time after which the client drops a keep-alive connection, in
 * milliseconds. It stays below the 5 s default idle timeout of Node's HTTP
 * server and Apache httpd, so the client, not the server, usually closes
 * an idle connection.
 */
const KEEP_ALIVE_TIMEOUT_MS = 4000;
/** Upper bound for a server's `Keep-Alive: timeout=` hint, in milliseconds. */
const KEEP_ALIVE_MAX_TIMEOUT_MS = 30000;

const METHODS = new Set<RestMethod>(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Methods that HTTP (RFC 9110) defines as idempotent, so a repeat has the same effect as one request. */
const IDEMPOTENT_METHODS = new Set<RestMethod>(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
/** Number of recent session secrets (csrf tokens, cookie values) that `redact` removes. */
const MAX_SESSION_SECRETS = 32;
/** Gateway and availability statuses after which an idempotent request is sent again. */
const RETRY_STATUSES = new Set([502, 503, 504]);

/** Login state of an email/password session. */
interface LoginState {
    /** Counts logins, so that concurrent 401s of one session trigger only one new login. */
    generation: number;
    session: SessionInfo;
    csrfToken: string;
    cookies: CookieJar;
}

/** Result of sending one request with retries. */
interface SendResult {
    response: RawResponse;
    tries: number;
}

/** A request as the client sends it. */
interface PreparedRequest {
    method: RestMethod;
    /** Path without query, for messages. */
    path: string;
    /** Path with query, as sent. */
    target: string;
    headers: Record<string, string>;
    body?: Buffer;
}

/**
 * REST client for one platform and org.
 *
 * It keeps one undici `Pool` with short keep-alive and resolves the org
 * once. Every request carries credentials: HTTP Basic for API keys, or a
 * session cookie plus `X-sess-id` for email/password, with one new login
 * after a 401. Retries happen only where a repeat is safe:
 *
 * - any method, when the request never reached a socket (connect refused,
 *   DNS failure, TLS handshake failure, connect timeout);
 * - GET, HEAD, PUT, DELETE and OPTIONS also after a lost connection, a
 *   timeout, or a 502, 503 or 504 response;
 * - POST and PATCH never once they were written, not even when the server
 *   closed a keep-alive connection before responding, because it may have
 *   processed them. The one exception is the replay after an HTTP 401,
 *   because the server rejected that request without processing it.
 *
 * Statuses of 400 and above become `RestError`. A rejected TLS certificate
 * is not retried.
 */
export class RestClient {
    /** Scheme, host and port, e.g. `https://soar.example.com:443`. */
    public readonly origin: string;

    private readonly pool: Pool;
    private readonly auth: ApiKeyAuth | PasswordAuth;
    private readonly basicToken: string | undefined;
    private readonly log: RestLogger;
    private readonly pathPrefix: string;
    private readonly servername: string | undefined;
    private readonly baseHeaders: Record<string, string>;
    private readonly requestMs: number;
    private readonly maxRetries: number;
    private readonly initialDelayMs: number;
    private readonly maxDelayMs: number;
    private readonly maxResponseBytes: number;
    private readonly waits = new Set<{ timer: NodeJS.Timeout; cancel: () => void }>();
    private closing: Promise<void> | undefined;
    private apiKeySession: Promise<SessionInfo> | undefined;
    private orgIdPromise: Promise<number> | undefined;
    private login: { generation: number; promise: Promise<LoginState> } | undefined;
    /** csrf tokens and cookie values of recent sessions, newest last, for `redact`. */
    private readonly sessionSecrets: string[] = [];
    private loginCount = 0;

    public constructor(private readonly options: RestClientOptions) {
        validateOptions(options);
        const port = options.port ?? 443;
        const useTls = options.tls !== false;
        const host = isIP(options.host) === 6 ? `[${options.host}]` : options.host;
        this.origin = `${useTls ? "https" : "http"}://${host}:${port}`;
        this.auth = options.auth;
        this.log = options.log ?? {};
        this.pathPrefix = (options.pathPrefix ?? "").replace(/\/+$/, "");
        this.requestMs = options.timeouts?.requestMs ?? 60000;
        this.maxRetries = options.retries?.max ?? 3;
        this.initialDelayMs = options.retries?.initialDelayMs ?? 500;
        this.maxDelayMs = options.retries?.maxDelayMs ?? 8000;
        this.maxResponseBytes = options.maxResponseBytes ?? 256 * 1024 * 1024;
        const extraHeaders = lowerCaseKeys(options.headers ?? {});
        this.baseHeaders = {
            ...extraHeaders,
            "user-agent": options.userAgent ?? extraHeaders["user-agent"] ?? "node-red-resilient",
        };
        if (this.auth.kind === "apikey") {
            this.basicToken = Buffer.from(`${this.auth.id}:${this.auth.secret}`, "utf8").toString("base64");
        }

        const connectMs = options.timeouts?.connectMs ?? 10000;
        const tlsOptions = options.tls === false ? undefined : { ...(options.tls ?? {}) };
        if (tlsOptions) {
            // undici sets the address and socket itself, so these keys must not come from the caller's TLS settings.
            delete tlsOptions.host;
            delete tlsOptions.port;
            delete tlsOptions.path;
            delete tlsOptions.socket;
            tlsOptions.rejectUnauthorized = tlsOptions.rejectUnauthorized !== false;
            this.servername = tlsOptions.servername;
            if (!tlsOptions.rejectUnauthorized) {
                this.log.warn?.(`TLS certificate verification is off for ${this.origin}, so the client sends credentials to any server at that address.`);
            }
        }
        this.pool = new Pool(this.origin, {
            connections: options.maxConnections ?? 10,
            keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
            keepAliveMaxTimeout: KEEP_ALIVE_MAX_TIMEOUT_MS,
            headersTimeout: this.requestMs,
            bodyTimeout: this.requestMs,
            connect: { ...(tlsOptions ?? {}), timeout: connectMs },
        });
    }

    /** True once `close()` was called. */
    public get closed(): boolean {
        return this.closing !== undefined;
    }

    /** Origin and configured org for log lines, e.g. `https://soar.example.com:443 org Blue Team`. */
    public describe(): string {
        return `${this.origin} org ${this.options.org}`;
    }

    /**
     * Returns the platform session: `GET /rest/session` for an API key
     * (fetched once, again after a failure), the login response for
     * email/password.
     */
    public session(): Promise<SessionInfo> {
        if (this.auth.kind === "password") {
            return this.currentLogin().then((login) => login.session);
        }
        if (!this.apiKeySession) {
            const promise = this.fetchApiKeySession();
            this.apiKeySession = promise;
            promise.catch(() => {
                if (this.apiKeySession === promise) {
                    this.apiKeySession = undefined;
                }
            });
        }
        return this.apiKeySession;
    }

    /**
     * Resolves the configured org to its numeric id, checking it against the
     * session's orgs (see `RestClientOptions.org`). The result is cached. A
     * failure is not, so the next call tries again.
     * Rejects with `OrgResolutionError` or `RestError`.
     */
    public orgId(): Promise<number> {
        if (!this.orgIdPromise) {
            const promise = this.session().then((session) => resolveOrg(this.options.org, session));
            this.orgIdPromise = promise;
            promise.catch(() => {
                if (this.orgIdPromise === promise) {
                    this.orgIdPromise = undefined;
                }
            });
        }
        return this.orgIdPromise;
    }

    /**
     * Sends one REST call and returns the response when its status is below
     * 400. Relative paths are resolved under `/rest/orgs/<org_id>`. Retries
     * follow the rules in the class description. After HTTP 401 an
     * email/password session is renewed once and the request replayed once.
     * Rejects with `RestError` (HTTP or transport failure),
     * `OrgResolutionError` or `ClientClosedError`.
     */
    public async request<T = unknown>(request: RestRequest): Promise<RestResponse<T>> {
        const method = String(request.method).toUpperCase() as RestMethod;
        if (!METHODS.has(method)) {
            throw new Error(`Unsupported HTTP method "${request.method}". Use one of ${[...METHODS].join(", ")}.`);
        }
        validatePath(request.path);
        this.assertOpen(method, request.path);

        const path = await this.fullPath(request.path);
        const query: Record<string, QueryValue> = { ...(request.query ?? {}) };
        if (request.handleFormat) {
            query.handle_format = request.handleFormat;
        }
        const headers: Record<string, string> = { ...this.baseHeaders, accept: "application/json", ...lowerCaseKeys(request.headers ?? {}) };
        if (request.contextToken) {
            headers["x-co3contexttoken"] = request.contextToken;
        }
        const body = encodeBody(request.body, headers);
        const prepared: PreparedRequest = { method, path, target: path + buildQueryString(query, path.includes("?")), headers, body };

        const { response, tries } = await this.sendAuthenticated(prepared);
        if (response.statusCode >= 400) {
            throw this.httpError(prepared, response, tries);
        }
        return { statusCode: response.statusCode, headers: response.headers, body: decodeBody(response) as T };
    }

    /**
     * Stops the client: new requests and pending retries reject with
     * `ClientClosedError`, requests in flight get `graceMs` to finish, then
     * every connection is destroyed. Safe to call more than once.
     */
    public close(graceMs = 3000): Promise<void> {
        if (this.closing) {
            return this.closing;
        }
        for (const wait of this.waits) {
            clearTimeout(wait.timer);
            wait.cancel();
        }
        this.waits.clear();
        this.closing = (async () => {
            let timer: NodeJS.Timeout | undefined;
            const forced = new Promise<void>((resolve) => {
                timer = setTimeout(() => {
                    this.pool.destroy().then(resolve, resolve);
                }, graceMs);
            });
            await Promise.race([this.pool.close().catch(() => undefined), forced]);
            clearTimeout(timer);
        })();
        return this.closing;
    }

    private assertOpen(method: string, path: string): void {
        if (this.closing) {
            throw new ClientClosedError(method, path);
        }
    }

    /**
     * Returns the path as sent, without query: `/rest/orgs/<org_id>` plus a
     * relative path, or an absolute `/rest/...` path, behind `pathPrefix`.
     * Resolves the org first when needed.
     */
    public async fullPath(path: string): Promise<string> {
        const normalized = path.startsWith("/") ? path : `/${path}`;
        if (normalized.startsWith("/rest/")) {
            return this.pathPrefix + normalized;
        }
        const orgId = await this.orgId();
        return `${this.pathPrefix}/rest/orgs/${orgId}${normalized}`;
    }

    private async fetchApiKeySession(): Promise<SessionInfo> {
        const path = `${this.pathPrefix}/rest/session`;
        const prepared: PreparedRequest = {
            method: "GET",
            path,
            target: path,
            headers: { ...this.baseHeaders, accept: "application/json" },
        };
        const { response, tries } = await this.sendAuthenticated(prepared);
        if (response.statusCode >= 400) {
            throw this.httpError(prepared, response, tries);
        }
        return toSessionInfo(decodeBody(response));
    }

    /** Adds credentials, sends with retries, and renews an email/password session once after a 401. */
    private async sendAuthenticated(prepared: PreparedRequest): Promise<SendResult> {
        if (this.auth.kind === "apikey") {
            return this.sendWithRetries({ ...prepared, headers: { ...prepared.headers, authorization: `Basic ${this.basicToken}` } });
        }

        let login = await this.currentLogin();
        let result = await this.sendWithRetries(withSession(prepared, login));
        this.storeCookies(login, result.response);
        if (result.response.statusCode !== 401) {
            return result;
        }

        this.log.info?.(`${prepared.method} ${prepared.path} returned HTTP 401, so the session at ${this.origin} has expired. Logging in again.`);
        login = await this.renewLogin(login.generation);
        result = await this.sendWithRetries(withSession(prepared, login));
        this.storeCookies(login, result.response);
        return result;
    }

    private storeCookies(login: LoginState, response: RawResponse): void {
        const setCookie = asArray(response.headers["set-cookie"]);
        if (setCookie) {
            login.cookies.store(setCookie);
            this.rememberSessionSecrets(login);
        }
    }

    /**
     * Keeps the session's csrf token and cookie values for `redact`. Older
     * sessions stay in the list for a while, because a request that started
     * before a new login can still fail with the old session's values in
     * the server's response.
     */
    private rememberSessionSecrets(login: LoginState): void {
        for (const secret of [login.csrfToken, ...login.cookies.values()]) {
            if (secret && !this.sessionSecrets.includes(secret)) {
                this.sessionSecrets.push(secret);
            }
        }
        this.sessionSecrets.splice(0, Math.max(0, this.sessionSecrets.length - MAX_SESSION_SECRETS));
    }

    private currentLogin(): Promise<LoginState> {
        return (this.login ?? this.startLogin()).promise;
    }

    /** Starts a new login unless another request already replaced the session `staleGeneration`. */
    private renewLogin(staleGeneration: number): Promise<LoginState> {
        if (this.login && this.login.generation !== staleGeneration) {
            return this.login.promise;
        }
        return this.startLogin().promise;
    }

    private startLogin(): { generation: number; promise: Promise<LoginState> } {
        const generation = ++this.loginCount;
        const slot = { generation, promise: this.performLogin(generation) };
        this.login = slot;
        slot.promise.catch(() => {
            if (this.login === slot) {
                this.login = undefined;
            }
        });
        return slot;
    }

    private async performLogin(generation: number): Promise<LoginState> {
        const auth = this.auth as PasswordAuth;
        const path = `${this.pathPrefix}/rest/session`;
        const prepared: PreparedRequest = {
            method: "POST",
            path,
            target: path,
            headers: { ...this.baseHeaders, accept: "application/json", "content-type": "application/json" },
            body: Buffer.from(JSON.stringify({ email: auth.email, password: auth.password }), "utf8"),
        };
        const { response, tries } = await this.sendWithRetries(prepared);
        if (response.statusCode >= 400) {
            throw this.httpError(prepared, response, tries);
        }
        const session = toSessionInfo(decodeBody(response));
        if (typeof session.csrf_token !== "string" || session.csrf_token === "") {
            throw new Error(`The login at ${this.origin} returned no csrf_token, so requests cannot be authenticated.`);
        }
        const cookies = new CookieJar();
        cookies.store(asArray(response.headers["set-cookie"]));
        if (!cookies.get("JSESSIONID")) {
            this.log.warn?.(`The login at ${this.origin} set no JSESSIONID cookie, so later requests may fail with HTTP 401.`);
        }
        const state: LoginState = { generation, session, csrfToken: session.csrf_token, cookies };
        this.rememberSessionSecrets(state);
        this.log.debug?.(`Logged in to ${this.origin} (session ${generation}).`);
        return state;
    }

    /** Sends one request, retrying where the class description allows. */
    private async sendWithRetries(prepared: PreparedRequest): Promise<SendResult> {
        const idempotent = IDEMPOTENT_METHODS.has(prepared.method);
        let allowedTries = this.maxRetries + 1;
        let lostConnectionRetried = false;

        for (let tryNumber = 1; ; tryNumber++) {
            this.assertOpen(prepared.method, prepared.path);
            let response: RawResponse | undefined;
            let failure: TransportFailure | undefined;
            try {
                response = await sendAttempt(this.pool, {
                    method: prepared.method,
                    path: prepared.target,
                    headers: prepared.headers,
                    body: prepared.body,
                    timeoutMs: this.requestMs,
                    servername: this.servername,
                    maxResponseBytes: this.maxResponseBytes,
                });
            } catch (error) {
                if (!(error instanceof TransportFailure)) {
                    throw error;
                }
                failure = error;
            }

            let delayMs: number;
            let reason: string;
            if (response) {
                if (!RETRY_STATUSES.has(response.statusCode) || !idempotent || tryNumber >= allowedTries) {
                    return { response, tries: tryNumber };
                }
                delayMs = retryAfterMs(response.headers["retry-after"], this.maxDelayMs) ?? this.backoffMs(tryNumber);
                reason = `HTTP ${response.statusCode}`;
            } else {
                const sent = failure as TransportFailure;
                const info = describeFailure(sent);
                if (this.closing) {
                    throw new ClientClosedError(prepared.method, prepared.path);
                }
                const retryable = !info.permanent && (!sent.written || idempotent);
                // A lost connection is usually a keep-alive connection that the server closed just as
                // the request went out. A new connection fixes that, so the first such retry is
                // immediate and does not count against the retry limit.
                const freeRetry = retryable && info.connectionLost && sent.written && !lostConnectionRetried;
                if (freeRetry) {
                    lostConnectionRetried = true;
                    allowedTries += 1;
                }
                if (!retryable || tryNumber >= allowedTries) {
                    throw this.transportError(prepared, sent, tryNumber, idempotent);
                }
                delayMs = freeRetry ? 0 : this.backoffMs(tryNumber);
                reason = info.text;
            }

            const log = delayMs === 0 ? this.log.debug : this.log.warn;
            log?.call(
                this.log,
                `${prepared.method} ${prepared.path} to ${this.origin} failed (${reason}); retrying in ${delayMs} ms (try ${tryNumber + 1} of ${allowedTries}).`,
            );
            await this.wait(delayMs, prepared);
        }
    }

    private backoffMs(tryNumber: number): number {
        const ceiling = Math.min(this.initialDelayMs * 2 ** (tryNumber - 1), this.maxDelayMs);
        // Random between half and all of the ceiling, so clients that failed together retry apart.
        return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    }

    private wait(delayMs: number, prepared: PreparedRequest): Promise<void> {
        if (delayMs <= 0) {
            return Promise.resolve();
        }
        return new Promise<void>((resolve, reject) => {
            const entry = {
                timer: setTimeout(() => {
                    this.waits.delete(entry);
                    resolve();
                }, delayMs),
                cancel: () => reject(new ClientClosedError(prepared.method, prepared.path)),
            };
            this.waits.add(entry);
        });
    }

    private httpError(prepared: PreparedRequest, response: RawResponse, tries: number): RestError {
        const contentType = typeof response.headers["content-type"] === "string" ? response.headers["content-type"] : undefined;
        const parsed = parseErrorBody(response.body, contentType);
        return new RestError({
            method: prepared.method,
            path: prepared.path,
            statusCode: response.statusCode,
            serverMessage: parsed.serverMessage === undefined ? undefined : this.redact(parsed.serverMessage),
            errorCode: parsed.errorCode === undefined ? undefined : this.redact(parsed.errorCode),
            hint: hintForStatus(response.statusCode, this.auth.kind),
            tries,
        });
    }

    private transportError(prepared: PreparedRequest, failure: TransportFailure, tries: number, idempotent: boolean): RestError {
        const info = describeFailure(failure);
        let hint: string;
        if (info.certificate) {
            hint = "Add the platform's CA certificate to the TLS settings, and check that the host name matches the certificate";
        } else if (failure.written && !idempotent && !info.permanent) {
            hint = `The server may have processed the request, so it was not sent again because ${prepared.method} is not idempotent. Check the result on the platform before repeating it`;
        } else if (!failure.written) {
            hint = `Check the host and port (${this.origin}) and that the platform is reachable`;
        } else {
            hint = "Check that the platform is running and reachable";
        }
        return new RestError({
            method: prepared.method,
            path: prepared.path,
            failure: this.redact(info.text),
            code: failure.code,
            hint,
            tries,
            cause: failure.cause,
        });
    }

    /** Replaces every credential the client uses with `***` in text that came from the server. */
    public redact(text: string): string {
        const secrets: string[] = [];
        if (this.auth.kind === "apikey") {
            secrets.push(this.auth.secret, this.basicToken ?? "");
        } else {
            secrets.push(this.auth.password, ...this.sessionSecrets);
        }
        let result = text;
        for (const secret of secrets) {
            if (!secret) {
                continue;
            }
            for (const form of new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])) {
                result = result.split(form).join("***");
            }
        }
        return result;
    }
}

function withSession(prepared: PreparedRequest, login: LoginState): PreparedRequest {
    const headers: Record<string, string> = { ...prepared.headers, "x-sess-id": login.csrfToken };
    const cookie = login.cookies.header();
    if (cookie) {
        headers.cookie = cookie;
    }
    return { ...prepared, headers };
}

function validateOptions(options: RestClientOptions): void {
    if (!options.host || /[/\s]/.test(options.host)) {
        throw new Error(`Invalid REST host "${options.host ?? ""}". Give a host name or IP address without scheme, port or path.`);
    }
    const port = options.port ?? 443;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`Invalid REST port "${String(options.port)}". Use a whole number from 1 to 65535.`);
    }
    if (options.org === undefined || options.org === null || String(options.org).trim() === "") {
        throw new Error("Missing org. Give the org's numeric id or its name.");
    }
    const auth = options.auth;
    if (auth?.kind === "apikey") {
        if (!auth.id || !auth.secret) {
            throw new Error("Missing API key id or secret.");
        }
    } else if (auth?.kind === "password") {
        if (!auth.email || !auth.password) {
            throw new Error("Missing email or password.");
        }
    } else {
        throw new Error('Invalid auth kind. Use "apikey" or "password".');
    }
}

function validatePath(path: string): void {
    if (typeof path !== "string" || path === "") {
        throw new Error("Missing request path.");
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(path) || path.startsWith("//")) {
        throw new Error(`Invalid request path "${path}". Give a path such as /incidents/2301, not a URL.`);
    }
    if (/[\s]/.test(path)) {
        throw new Error(`Invalid request path "${path}". Percent-encode spaces and control characters.`);
    }
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
    const result: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
        result[name.toLowerCase()] = value;
    }
    return result;
}

function buildQueryString(query: Record<string, QueryValue>, pathHasQuery: boolean): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
        if (value === undefined || value === null) {
            continue;
        }
        for (const item of Array.isArray(value) ? value : [value]) {
            params.append(name, String(item));
        }
    }
    const text = params.toString();
    if (text === "") {
        return "";
    }
    return `${pathHasQuery ? "&" : "?"}${text}`;
}

/** Encodes a request body and sets its `content-type` unless the caller set one. */
function encodeBody(body: unknown, headers: Record<string, string>): Buffer | undefined {
    if (body === undefined || body === null) {
        return undefined;
    }
    if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
        headers["content-type"] ??= "application/octet-stream";
        return Buffer.from(body);
    }
    headers["content-type"] ??= "application/json";
    return Buffer.from(JSON.stringify(body), "utf8");
}

/** Parses a response body: JSON by content type (or, without one, when it parses), text as string, else Buffer. */
function decodeBody(response: RawResponse): unknown {
    if (response.body.length === 0) {
        return null;
    }
    const contentType = String(response.headers["content-type"] ?? "").toLowerCase();
    const text = (): string => response.body.toString("utf8");
    if (contentType.includes("json") || contentType === "") {
        try {
            return JSON.parse(text());
        } catch {
            return contentType === "" ? response.body : text();
        }
    }
    if (contentType.startsWith("text/") || contentType.includes("xml") || contentType.includes("javascript")) {
        return text();
    }
    return response.body;
}

function asArray(value: string | string[] | undefined): string[] | undefined {
    if (value === undefined) {
        return undefined;
    }
    return Array.isArray(value) ? value : [value];
}

/** Reads `Retry-After` (seconds or an HTTP date) as milliseconds, capped at `maxMs`. */
function retryAfterMs(value: IncomingHttpHeaders[string], maxMs: number): number | undefined {
    if (typeof value !== "string" || value.trim() === "") {
        return undefined;
    }
    const seconds = Number(value);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
    if (!Number.isFinite(ms)) {
        return undefined;
    }
    return Math.min(Math.max(ms, 0), maxMs);
}
