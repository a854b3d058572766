import type { IncomingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";

/** One HTTP exchange as the transport sends it. */
export interface AttemptRequest {
    method: Dispatcher.HttpMethod;
    /** Path with query string, e.g. `/rest/orgs/201/incidents/2301?handle_format=names`. */
    path: string;
    headers: Record<string, string>;
    body?: Buffer;
    /** Limit for the whole exchange, from queueing to the last body byte, in milliseconds. */
    timeoutMs: number;
    /** TLS server name to verify, when it differs from the host. */
    servername?: string;
    /** Largest response body accepted, in bytes. */
    maxResponseBytes: number;
}

/** A complete HTTP response with its body in memory. */
export interface RawResponse {
    statusCode: number;
    /** Header names in lower case. `set-cookie` is always an array, and other repeated headers are joined with ", ". */
    headers: IncomingHttpHeaders;
    body: Buffer;
}

/**
 * A request that got no complete response. `written` is true once undici
 * handed the request to a socket. While it is false, no byte of the request
 * reached the server, so sending it again is safe for any method.
 */
export class TransportFailure extends Error {
    public readonly written: boolean;
    public readonly code: string | undefined;

    public constructor(cause: Error, written: boolean) {
        super(cause.message, { cause });
        this.name = "TransportFailure";
        this.written = written;
        this.code = (cause as NodeJS.ErrnoException).code;
    }
}

/** The whole exchange took longer than `AttemptRequest.timeoutMs`. */
export class RequestTimeoutError extends Error {
    public readonly code = "REQUEST_TIMEOUT";

    public constructor(timeoutMs: number) {
        super(`no complete response within ${timeoutMs} ms`);
        this.name = "RequestTimeoutError";
    }
}

/** The response body exceeded `AttemptRequest.maxResponseBytes`. */
export class ResponseTooLargeError extends Error {
    public readonly code = "RESPONSE_TOO_LARGE";

    public constructor(limit: number) {
        super(`response body larger than ${limit} bytes`);
        this.name = "ResponseTooLargeError";
    }
}

/**
 * Sends one request through `dispatcher` and buffers the response.
 *
 * It uses `dispatch` with its own handler instead of `request()`, because
 * only the handler's `onConnect` shows whether undici wrote the request to
 * a socket. undici 6.x (client-h1.js `writeH1`) calls `onConnect` right
 * before it writes the request line. An error before that point (connect
 * refused, DNS, TLS handshake, connect timeout) means nothing was sent.
 * Rejects with `TransportFailure` when no complete response arrived.
 */
export function sendAttempt(dispatcher: Dispatcher, request: AttemptRequest): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
        let written = false;
        let settled = false;
        let abortRequest: ((error?: Error) => void) | undefined;
        let pendingAbort: Error | undefined;
        let statusCode = 0;
        let headers: IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        let received = 0;

        const finish = (error: Error | undefined, response?: RawResponse): void => {
            if (settled) {
                return;
            }
            settled = true;
            clearTimeout(timer);
            if (error) {
                reject(new TransportFailure(error, written));
            } else {
                resolve(response as RawResponse);
            }
        };

        const abort = (error: Error): void => {
            if (abortRequest) {
                abortRequest(error);
            } else {
                // Still queued: undici calls onConnect before writing, and we abort there.
                pendingAbort = error;
            }
            finish(error);
        };

        const timer = setTimeout(() => abort(new RequestTimeoutError(request.timeoutMs)), request.timeoutMs);

        const handler: Dispatcher.DispatchHandlers = {
            onConnect(abortFunction) {
                if (pendingAbort) {
                    abortFunction(pendingAbort);
                    return;
                }
                abortRequest = abortFunction;
                written = true;
            },
            onHeaders(status, rawHeaders) {
                statusCode = status;
                if (status < 200) {
                    return true;
                }
                headers = parseRawHeaders(rawHeaders);
                return true;
            },
            onData(chunk) {
                received += chunk.length;
                if (received > request.maxResponseBytes) {
                    abort(new ResponseTooLargeError(request.maxResponseBytes));
                    return false;
                }
                chunks.push(chunk);
                return true;
            },
            onComplete() {
                finish(undefined, { statusCode, headers, body: Buffer.concat(chunks) });
            },
            onError(error) {
                finish(error);
            },
        };

        const options = {
            method: request.method,
            path: request.path,
            headers: request.headers,
            body: request.body ?? null,
            headersTimeout: request.timeoutMs,
            bodyTimeout: request.timeoutMs,
            // undici reads `servername` from the dispatch options (core/request.js) but its types omit it.
            ...(request.servername ? { servername: request.servername } : {}),
        } as Dispatcher.DispatchOptions;

        try {
            dispatcher.dispatch(options, handler);
        } catch (error) {
            finish(error as Error);
        }
    });
}

function parseRawHeaders(raw: Buffer[] | string[] | null): IncomingHttpHeaders {
    const headers: IncomingHttpHeaders = {};
    if (!raw) {
        return headers;
    }
    for (let index = 0; index + 1 < raw.length; index += 2) {
        const name = raw[index].toString().toLowerCase();
        const value = raw[index + 1].toString("latin1");
        if (name === "set-cookie") {
            (headers["set-cookie"] ??= []).push(value);
            continue;
        }
        const existing = headers[name];
        headers[name] = existing === undefined ? value : `${String(existing)}, ${value}`;
    }
    return headers;
}

/** Error codes of TLS certificate checks, which a retry cannot fix. */
const CERTIFICATE_ERROR_CODES = new Set([
    "ERR_TLS_CERT_ALTNAME_INVALID",
    "DEPTH_ZERO_SELF_SIGNED_CERT",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "UNABLE_TO_GET_ISSUER_CERT",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "CERT_HAS_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_REVOKED",
    "CERT_UNTRUSTED",
    "CERT_REJECTED",
    "CERT_SIGNATURE_FAILURE",
    "INVALID_CA",
    "HOSTNAME_MISMATCH",
]);

/** Plain-language names of transport error codes, for error messages and logs. */
const FAILURE_TEXT: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset by the server",
    EPIPE: "connection closed while sending",
    ENOTFOUND: "host name not found",
    EAI_AGAIN: "host name lookup failed temporarily",
    ETIMEDOUT: "connection timed out",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    UND_ERR_CONNECT_TIMEOUT: "connect timed out",
    UND_ERR_SOCKET: "the server closed the connection before it answered",
    UND_ERR_HEADERS_TIMEOUT: "no response headers in time",
    UND_ERR_BODY_TIMEOUT: "response body stalled",
    UND_ERR_CLOSED: "the HTTP pool is closed",
    UND_ERR_DESTROYED: "the HTTP pool was shut down",
    UND_ERR_ABORTED: "request aborted",
};

/** Classification of a transport failure for retries and error messages. */
export interface FailureInfo {
    /** Short description with the error code, e.g. `connection refused (ECONNREFUSED)`. */
    text: string;
    /** True when sending again cannot help, such as a rejected certificate or a closed pool. */
    permanent: boolean;
    /** True for a TLS certificate check failure. */
    certificate: boolean;
    /** True when the server or network closed a connection that carried the request. */
    connectionLost: boolean;
}

/** Describes a `TransportFailure` for the retry decision and the error message. */
export function describeFailure(failure: TransportFailure): FailureInfo {
    const cause = failure.cause as (Error & { code?: string }) | undefined;
    const code = failure.code ?? cause?.code;
    const certificate = code !== undefined && CERTIFICATE_ERROR_CODES.has(code);
    let text: string;
    if (certificate) {
        text = `TLS certificate rejected: ${failure.message} (${code})`;
    } else if (code === "REQUEST_TIMEOUT" || code === "RESPONSE_TOO_LARGE") {
        text = failure.message;
    } else if (code && FAILURE_TEXT[code]) {
        text = `${FAILURE_TEXT[code]} (${code})`;
    } else {
        text = code ? `${failure.message} (${code})` : failure.message;
    }
    return {
        text,
        certificate,
        permanent: certificate || code === "UND_ERR_CLOSED" || code === "UND_ERR_DESTROYED" || code === "RESPONSE_TOO_LARGE",
        connectionLost: code === "UND_ERR_SOCKET" || code === "ECONNRESET" || code === "EPIPE",
    };
}
