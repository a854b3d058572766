import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import { ClientClosedError, OrgResolutionError, RestClient, RestError, type RestClientOptions } from "../../lib/rest";

// Credentials are canaries: no error message or log line may contain them.
const KEY_ID = "key-4d2c";
const KEY_SECRET = "CANARY-key-secret-8e1f0b";
const EMAIL = "ada@example.test";
const PASSWORD = "CANARY-password-77c3a9";

const ORGS = [
    { id: 201, name: "Blue Team", uuid: "4a7e2c1d-0000-4000-8000-000000000201", cloud_account: "blue-cloud", enabled: true },
    { id: 202, name: "Red Team", uuid: "4a7e2c1d-0000-4000-8000-000000000202", cloud_account: null, enabled: false },
    { id: 203, name: "Green Team", uuid: "4a7e2c1d-0000-4000-8000-000000000203", cloud_account: null, enabled: true },
];

/** A request as the mock platform received it. */
interface Received {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: string;
    /** Position of this request on its connection, starting at 1. */
    requestOnSocket: number;
    /** True when the mock closed the connection instead of responding. */
    dropped: boolean;
}

type RouteHandler = (request: Received, response: http.ServerResponse) => boolean;

/**
 * A minimal platform on 127.0.0.1: `/rest/session` for both auth modes,
 * org-scoped routes handled by `route`, and switches for keep-alive
 * behaviour. Error bodies echo the credentials the request carried, as a
 * careless server might, so tests can check that the client removes them.
 */
class MockPlatform {
    public readonly received: Received[] = [];
    public logins = 0;
    /** JSESSIONID to csrf token. */
    public readonly sessions = new Map<string, string>();
    /** Handles org-scoped requests. It returns false to fall through to the default 404. */
    public route: RouteHandler = () => false;
    /** Close the connection right after every response. */
    public closeAfterResponse = false;
    /** Close the connection, without a response, when a request arrives on a connection that already served one. */
    public dropReusedConnections = false;
    /** Reject every session cookie, even fresh ones. */
    public rejectAllSessions = false;

    private constructor(private readonly server: http.Server, public readonly port: number) {}

    public static async start(tlsFiles?: { key: Buffer; cert: Buffer }): Promise<MockPlatform> {
        let mock: MockPlatform | undefined;
        const listener = (request: http.IncomingMessage, response: http.ServerResponse): void => {
            mock?.handle(request, response);
        };
        const server = tlsFiles ? https.createServer({ key: tlsFiles.key, cert: tlsFiles.cert }, listener) : http.createServer(listener);
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        mock = new MockPlatform(server, (server.address() as net.AddressInfo).port);
        return mock;
    }

    public count(method: string, urlPrefix: string): number {
        return this.received.filter((request) => request.method === method && request.url.startsWith(urlPrefix)).length;
    }

    public expireSessions(): void {
        this.sessions.clear();
    }

    public async stop(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
        const socket = request.socket as net.Socket & { servedRequests?: number };
        socket.servedRequests = (socket.servedRequests ?? 0) + 1;
        const chunks: Buffer[] = [];
        request.on("data", (chunk: Buffer) => chunks.push(chunk));
        request.on("end", () => {
            const received: Received = {
                method: request.method ?? "",
                url: request.url ?? "",
                headers: request.headers,
                body: Buffer.concat(chunks).toString("utf8"),
                requestOnSocket: socket.servedRequests ?? 1,
                dropped: false,
            };
            this.received.push(received);
            if (this.dropReusedConnections && received.requestOnSocket > 1) {
                received.dropped = true;
                socket.destroy();
                return;
            }
            if (this.closeAfterResponse) {
                response.on("finish", () => socket.destroy());
            }
            this.answer(received, response);
        });
    }

    private answer(request: Received, response: http.ServerResponse): void {
        const url = new URL(request.url, "http://mock");
        if (url.pathname === "/rest/session" && request.method === "POST") {
            this.login(request, response);
            return;
        }
        const denial = this.checkAuth(request);
        if (denial) {
            sendJson(response, 401, { success: false, title: null, message: denial, hints: [], error_code: "generic" });
            return;
        }
        if (url.pathname === "/rest/session" && request.method === "GET") {
            sendJson(response, 200, { user_id: null, api_key_handle: 12, session_ip: "127.0.0.1", orgs: ORGS });
            return;
        }
        if (url.pathname === "/rest/const") {
            sendJson(response, 200, { max_page_size: 100 });
            return;
        }
        if (this.route(request, response)) {
            return;
        }
        sendJson(response, 404, { success: false, title: null, message: `Unable to find object ${url.pathname}`, hints: [], error_code: "generic" });
    }

    private login(request: Received, response: http.ServerResponse): void {
        const credentials = JSON.parse(request.body) as { email?: string; password?: string };
        if (credentials.email !== EMAIL || credentials.password !== PASSWORD) {
            sendJson(response, 401, { success: false, title: null, message: `Login failed for ${request.body}`, hints: [], error_code: "generic" });
            return;
        }
        this.logins += 1;
        const sessionId = `JS${randomBytes(8).toString("hex")}`;
        const csrf = randomBytes(16).toString("hex");
        this.sessions.set(sessionId, csrf);
        response.setHeader("set-cookie", [`JSESSIONID=${sessionId}; Path=/; Secure; HttpOnly`]);
        sendJson(response, 200, { csrf_token: csrf, user_id: 7, user_email: EMAIL, session_ip: "127.0.0.1", orgs: ORGS });
    }

    /** Returns why the request is not authenticated, echoing what it carried, or `undefined` when it is. */
    private checkAuth(request: Received): string | undefined {
        const authorization = request.headers.authorization;
        if (authorization) {
            const decoded = Buffer.from(authorization.replace(/^Basic /, ""), "base64").toString("utf8");
            if (decoded === `${KEY_ID}:${KEY_SECRET}`) {
                return undefined;
            }
            return `Invalid API key in "${authorization}" (${decoded})`;
        }
        const cookie = request.headers.cookie ?? "";
        const sessionId = /JSESSIONID=([^;]+)/.exec(cookie)?.[1];
        const csrf = request.headers["x-sess-id"];
        if (!this.rejectAllSessions && sessionId && this.sessions.get(sessionId) === csrf) {
            return undefined;
        }
        return `Session expired: cookie ${cookie}, X-sess-id ${String(csrf)}`;
    }
}

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
    response.statusCode = status;
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify(body));
}

/** Responds to GET and POST under `/rest/orgs/<id>/incidents/...` with the ids from the path. */
function incidentRoute(request: Received, response: http.ServerResponse): boolean {
    const match = /^\/rest\/orgs\/(\d+)\/incidents\/(\d+)(\/comments)?/.exec(request.url);
    if (!match) {
        return false;
    }
    sendJson(response, 200, { id: Number(match[2]), org_id: Number(match[1]), method: request.method, query: request.url.split("?")[1] ?? null });
    return true;
}

interface Certificates {
    ca: Buffer;
    otherCa: Buffer;
    /** Valid for 127.0.0.1, localhost and platform.test. */
    server: { key: Buffer; cert: Buffer };
    /** Valid for platform.test only. */
    namedServer: { key: Buffer; cert: Buffer };
}

/** Creates a throwaway CA and server certificates with openssl in a temporary directory. */
function makeCertificates(): Certificates {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rest-client-tls-"));
    const file = (name: string): string => path.join(dir, name);
    const openssl = (...args: string[]): void => {
        execFileSync("openssl", args, { stdio: "pipe" });
    };
    const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    const makeCa = (name: string): void => {
        openssl("req", "-x509", ...ecKey, "-keyout", file(`${name}.key`), "-out", file(`${name}.pem`), "-days", "2", "-subj", `/CN=${name}`,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    };
    const makeServer = (name: string, altNames: string): void => {
        openssl("req", ...ecKey, "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", `/CN=${name}`);
        fs.writeFileSync(file(`${name}.ext`), `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth\n`);
        openssl("x509", "-req", "-in", file(`${name}.csr`), "-CA", file("test-ca.pem"), "-CAkey", file("test-ca.key"), "-CAcreateserial",
            "-out", file(`${name}.pem`), "-days", "2", "-extfile", file(`${name}.ext`));
    };
    try {
        makeCa("test-ca");
        makeCa("other-ca");
        makeServer("server", "IP:127.0.0.1,DNS:localhost,DNS:platform.test");
        makeServer("named", "DNS:platform.test");
        const read = (name: string): Buffer => fs.readFileSync(file(name));
        return {
            ca: read("test-ca.pem"),
            otherCa: read("other-ca.pem"),
            server: { key: read("server.key"), cert: read("server.pem") },
            namedServer: { key: read("named.key"), cert: read("named.pem") },
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Log lines the client wrote, by level. */
function captureLog(): { lines: string[]; log: RestClientOptions["log"] } {
    const lines: string[] = [];
    return {
        lines,
        log: {
            debug: (message) => lines.push(`debug ${message}`),
            info: (message) => lines.push(`info ${message}`),
            warn: (message) => lines.push(`warn ${message}`),
        },
    };
}

const clients: RestClient[] = [];

function makeClient(port: number, overrides: Partial<RestClientOptions> = {}): RestClient {
    const client = new RestClient({
        host: "127.0.0.1",
        port,
        org: "Blue Team",
        auth: { kind: "apikey", id: KEY_ID, secret: KEY_SECRET },
        tls: false,
        retries: { max: 3, initialDelayMs: 5, maxDelayMs: 20 },
        timeouts: { connectMs: 2000, requestMs: 5000 },
        ...overrides,
    });
    clients.push(client);
    return client;
}

async function catchError<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
    try {
        await promise;
    } catch (error) {
        assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
        return error;
    }
    assert.fail(`expected ${type.name}, but the call succeeded`);
}

function assertNoSecret(text: string): void {
    for (const secret of [KEY_SECRET, PASSWORD, Buffer.from(`${KEY_ID}:${KEY_SECRET}`).toString("base64")]) {
        assert.ok(!text.includes(secret), `secret found in: ${text}`);
    }
}

after(async () => {
    await Promise.all(clients.map((client) => client.close(500)));
});

describe("RestClient with an API key", () => {
    let mock: MockPlatform;

    before(async () => {
        mock = await MockPlatform.start();
        mock.route = incidentRoute;
    });
    after(() => mock.stop());

    test("sends Basic auth to named org", async () => {
        const client = makeClient(mock.port);
        const response = await client.request<{ id: number; org_id: number }>({ method: "GET", path: "/incidents/2301" });

        assert.equal(response.statusCode, 200);
        assert.deepEqual(response.body, { id: 2301, org_id: 201, method: "GET", query: null });
        const last = mock.received.at(-1) as Received;
        assert.equal(last.url, "/rest/orgs/201/incidents/2301");
        assert.equal(last.headers.authorization, `Basic ${Buffer.from(`${KEY_ID}:${KEY_SECRET}`).toString("base64")}`);
        assert.equal(last.headers.cookie, undefined);
        assert.equal(last.headers["x-sess-id"], undefined);
    });

    test("fetches the session once for concurrent requests", async () => {
        const before = mock.count("GET", "/rest/session");
        const client = makeClient(mock.port);

        await Promise.all([1, 2, 3].map((id) => client.request({ method: "GET", path: `/incidents/${id}` })));
        await client.request({ method: "GET", path: "/incidents/4" });

        assert.equal(mock.count("GET", "/rest/session") - before, 1);
    });

    test("resolves org by id, cloud_account and uuid", async () => {
        const cases: Array<[string | number, number]> = [
            [201, 201],
            ["203", 203],
            ["blue-cloud", 201],
            ["4a7e2c1d-0000-4000-8000-000000000203", 203],
            ["Green Team", 203],
        ];
        for (const [org, expected] of cases) {
            const client = makeClient(mock.port, { org });
            assert.equal(await client.orgId(), expected, `org ${String(org)}`);
        }
    });

    test("rejects a disabled org", async () => {
        const client = makeClient(mock.port, { org: "Red Team" });

        const error = await catchError(client.request({ method: "GET", path: "/incidents/1" }), OrgResolutionError);

        assert.match(error.message, /Org "Red Team" \(id 202\) is not enabled/);
        assert.match(error.message, /127\.0\.0\.1/);
        assert.equal(mock.received.filter((request) => request.url.startsWith("/rest/orgs/202")).length, 0);
    });

    test("rejects an unknown org listing usable orgs", async () => {
        const client = makeClient(mock.port, { org: "Purple Team" });

        const error = await catchError(client.orgId(), OrgResolutionError);

        assert.match(error.message, /Org "Purple Team" was not found/);
        assert.match(error.message, /"Blue Team" \(id 201\)/);
        assert.match(error.message, /"Green Team" \(id 203\)/);
        assert.match(error.message, /Disabled for this account: "Red Team" \(id 202\)/);
        assert.deepEqual(
            error.orgs.map((org) => org.id),
            [201, 202, 203],
        );
    });

    test("rejects an unknown numeric org", async () => {
        const client = makeClient(mock.port, { org: 999 });

        const error = await catchError(client.orgId(), OrgResolutionError);

        assert.match(error.message, /Org "999" was not found/);
        assert.match(error.message, /"Blue Team" \(id 201\)/);
    });

    test("builds paths, token, format and query", async () => {
        const client = makeClient(mock.port);
        await client.request({ method: "GET", path: "/rest/const" });
        assert.equal((mock.received.at(-1) as Received).url, "/rest/const");

        await client.request({
            method: "GET",
            path: "incidents/2301",
            query: { want_tasks: false, ids: [1, 2], skipped: undefined },
            handleFormat: "names",
            contextToken: "ctx-token-1",
        });

        const last = mock.received.at(-1) as Received;
        assert.equal(last.url, "/rest/orgs/201/incidents/2301?want_tasks=false&ids=1&ids=2&handle_format=names");
        assert.equal(last.headers["x-co3contexttoken"], "ctx-token-1");
    });

    test("sends and parses JSON bodies", async () => {
        const client = makeClient(mock.port);
        const response = await client.request<{ method: string }>({ method: "POST", path: "/incidents/2301/comments", body: { text: { format: "text", content: "hi" } } });

        assert.equal(response.body.method, "POST");
        const last = mock.received.at(-1) as Received;
        assert.equal(last.headers["content-type"], "application/json");
        assert.deepEqual(JSON.parse(last.body), { text: { format: "text", content: "hi" } });
    });

    test("maps platform error body to RestError", async () => {
        const client = makeClient(mock.port);

        const error = await catchError(client.request({ method: "GET", path: "/tasks/9043" }), RestError);

        assert.equal(error.statusCode, 404);
        assert.equal(error.method, "GET");
        assert.equal(error.path, "/rest/orgs/201/tasks/9043");
        assert.equal(error.serverMessage, "Unable to find object /rest/orgs/201/tasks/9043");
        assert.equal(error.errorCode, "generic");
        assert.match(error.hint ?? "", /incident or object id and the org/);
        assert.equal(
            error.message,
            'GET /rest/orgs/201/tasks/9043 failed with HTTP 404 Not Found: "Unable to find object /rest/orgs/201/tasks/9043". Check the incident or object id and the org.',
        );
    });

    test("chooses hints by status", async () => {
        const statuses: Array<[number, RegExp]> = [
            [403, /lacks a permission for this call or this org/],
            [409, /Another update changed the object first/],
            [400, /fields and values/],
        ];
        mock.route = (request, response) => {
            const match = /\/status\/(\d+)$/.exec(request.url);
            if (!match) {
                return incidentRoute(request, response);
            }
            sendJson(response, Number(match[1]), { success: false, title: null, message: "Forbidden", hints: [], error_code: "generic" });
            return true;
        };
        const client = makeClient(mock.port);
        try {
            for (const [status, hint] of statuses) {
                const error = await catchError(client.request({ method: "POST", path: `/status/${status}` }), RestError);
                assert.equal(error.statusCode, status);
                assert.match(error.message, hint);
            }
        } finally {
            mock.route = incidentRoute;
        }
    });

    test("quotes the start of a non-JSON error body", async () => {
        const page = `<html><head><title>Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><p>${"upstream timed out ".repeat(30)}</p></body></html>`;
        mock.route = (request, response) => {
            if (!request.url.endsWith("/proxy-error")) {
                return incidentRoute(request, response);
            }
            response.statusCode = 502;
            response.setHeader("content-type", "text/html");
            response.end(page);
            return true;
        };
        const client = makeClient(mock.port);
        try {
            const before = mock.count("POST", "/rest/orgs/201/proxy-error");
            const error = await catchError(client.request({ method: "POST", path: "/proxy-error" }), RestError);

            assert.equal(error.statusCode, 502);
            assert.ok((error.serverMessage ?? "").startsWith("Bad Gateway 502 Bad Gateway upstream timed out"));
            assert.ok((error.serverMessage ?? "").length <= 203);
            assert.equal(mock.count("POST", "/rest/orgs/201/proxy-error") - before, 1, "a POST is not retried on 502");
        } finally {
            mock.route = incidentRoute;
        }
    });

    test("retries GET on 503 but not POST", async () => {
        let failuresLeft = 2;
        mock.route = (request, response) => {
            if (!request.url.includes("/busy")) {
                return incidentRoute(request, response);
            }
            if (failuresLeft > 0) {
                failuresLeft -= 1;
                response.setHeader("retry-after", "0");
                sendJson(response, 503, { success: false, title: null, message: "Service Unavailable", hints: [], error_code: "generic" });
                return true;
            }
            sendJson(response, 200, { ok: true });
            return true;
        };
        const { lines, log } = captureLog();
        const client = makeClient(mock.port, { log });
        try {
            const response = await client.request({ method: "GET", path: "/busy" });
            assert.deepEqual(response.body, { ok: true });
            assert.equal(mock.count("GET", "/rest/orgs/201/busy"), 3);
            assert.equal(lines.filter((line) => line.includes("retrying")).length, 2);

            failuresLeft = 1;
            const error = await catchError(client.request({ method: "POST", path: "/busy" }), RestError);
            assert.equal(error.statusCode, 503);
            assert.equal(mock.count("POST", "/rest/orgs/201/busy"), 1);
        } finally {
            mock.route = incidentRoute;
        }
    });

    test("stops retrying 503 at the limit", async () => {
        mock.route = (request, response) => {
            if (!request.url.includes("/down")) {
                return incidentRoute(request, response);
            }
            sendJson(response, 503, { success: false, title: null, message: "Maintenance", hints: [], error_code: "generic" });
            return true;
        };
        const client = makeClient(mock.port, { retries: { max: 2, initialDelayMs: 1, maxDelayMs: 5 } });
        try {
            const error = await catchError(client.request({ method: "GET", path: "/down" }), RestError);
            assert.equal(error.statusCode, 503);
            assert.equal(error.tries, 3);
            assert.match(error.message, /failed with HTTP 503 Service Unavailable after 3 tries: "Maintenance"/);
            assert.equal(mock.count("GET", "/rest/orgs/201/down"), 3);
        } finally {
            mock.route = incidentRoute;
        }
    });

    test("times out a silent server", async () => {
        mock.route = (request, response) => {
            if (!request.url.includes("/slow")) {
                return incidentRoute(request, response);
            }
            setTimeout(() => sendJson(response, 200, { late: true }), 1500).unref();
            return true;
        };
        const client = makeClient(mock.port, { timeouts: { requestMs: 200 }, retries: { max: 1, initialDelayMs: 1, maxDelayMs: 5 } });
        try {
            const error = await catchError(client.request({ method: "GET", path: "/slow" }), RestError);
            assert.equal(error.statusCode, undefined);
            assert.equal(error.tries, 2);
            assert.match(error.message, /no complete response within 200 ms/);
        } finally {
            mock.route = incidentRoute;
        }
    });

    test("keeps the secret out of a 401 error", async () => {
        const { lines, log } = captureLog();
        const client = makeClient(mock.port, { auth: { kind: "apikey", id: KEY_ID, secret: `${KEY_SECRET}-wrong` }, log });

        const error = await catchError(client.request({ method: "GET", path: "/incidents/1" }), RestError);

        assert.equal(error.statusCode, 401);
        assert.match(error.message, /Check the API key id and secret/);
        assert.match(error.message, /Invalid API key/);
        assert.ok(!error.message.includes(`${KEY_SECRET}-wrong`), error.message);
        assert.ok(!error.message.includes(Buffer.from(`${KEY_ID}:${KEY_SECRET}-wrong`).toString("base64")), error.message);
        assert.ok(!(error.serverMessage ?? "").includes(KEY_SECRET));
        assertNoSecret(JSON.stringify({ ...error, message: error.message }));
        lines.forEach(assertNoSecret);
    });
});

describe("RestClient with email and password", () => {
    let mock: MockPlatform;

    before(async () => {
        mock = await MockPlatform.start();
        mock.route = incidentRoute;
    });
    after(() => mock.stop());

    function passwordClient(overrides: Partial<RestClientOptions> = {}): RestClient {
        return makeClient(mock.port, { auth: { kind: "password", email: EMAIL, password: PASSWORD }, ...overrides });
    }

    test("logs in once and sends cookie and X-sess-id", async () => {
        mock.logins = 0;
        const client = passwordClient({ org: 201 });

        await Promise.all([client.request({ method: "GET", path: "/incidents/1" }), client.request({ method: "GET", path: "/incidents/2" })]);

        assert.equal(mock.logins, 1);
        const login = mock.received.find((request) => request.method === "POST" && request.url === "/rest/session") as Received;
        assert.deepEqual(JSON.parse(login.body), { email: EMAIL, password: PASSWORD });
        const last = mock.received.at(-1) as Received;
        assert.match(String(last.headers.cookie), /^JSESSIONID=JS[0-9a-f]+$/);
        const sessionId = /JSESSIONID=(\S+)/.exec(String(last.headers.cookie))?.[1] as string;
        assert.equal(last.headers["x-sess-id"], mock.sessions.get(sessionId));
        assert.equal(last.headers.authorization, undefined);
    });

    test("logs in again once after the session expired", async () => {
        const client = passwordClient();
        await client.request({ method: "GET", path: "/incidents/1" });
        mock.logins = 0;
        mock.expireSessions();
        const before = mock.received.length;

        const responses = await Promise.all([1, 2, 3].map((id) => client.request<{ id: number }>({ method: "POST", path: `/incidents/${id}/comments`, body: { text: "x" } })));

        assert.deepEqual(
            responses.map((response) => response.body.id),
            [1, 2, 3],
        );
        assert.equal(mock.logins, 1, "concurrent 401s share one new login");
        const posts = mock.received.slice(before).filter((request) => request.url.endsWith("/comments"));
        assert.equal(posts.length, 6, "each request is sent, rejected and replayed once");
    });

    test("fails on a second 401 after logging in again", async () => {
        const { lines, log } = captureLog();
        const client = passwordClient({ log });
        await client.request({ method: "GET", path: "/incidents/1" });
        mock.logins = 0;
        mock.rejectAllSessions = true;
        try {
            const error = await catchError(client.request({ method: "GET", path: "/incidents/5" }), RestError);

            assert.equal(error.statusCode, 401);
            assert.equal(mock.logins, 1);
            assert.match(error.message, /Check the email and password/);
            assert.match(error.message, /Session expired: cookie JSESSIONID=\*\*\*, X-sess-id \*\*\*/);
            assertNoSecret(error.message);
            assert.ok(lines.some((line) => line.includes("Logging in again")), lines.join("\n"));
            lines.forEach(assertNoSecret);
            for (const [sessionId, csrf] of mock.sessions) {
                assert.ok(!error.message.includes(sessionId), "session cookie in message");
                assert.ok(!error.message.includes(csrf), "csrf token in message");
                for (const line of lines) {
                    assert.ok(!line.includes(sessionId), `session cookie in log line: ${line}`);
                    assert.ok(!line.includes(csrf), `csrf token in log line: ${line}`);
                }
            }
        } finally {
            mock.rejectAllSessions = false;
        }
    });

    test("keeps the password out of a failed login", async () => {
        const { lines, log } = captureLog();
        const client = passwordClient({ auth: { kind: "password", email: EMAIL, password: `${PASSWORD}-old` }, log });

        const error = await catchError(client.request({ method: "GET", path: "/incidents/1" }), RestError);

        assert.equal(error.statusCode, 401);
        assert.equal(error.path, "/rest/session");
        assert.match(error.message, /Login failed for/);
        assert.ok(!error.message.includes(PASSWORD), error.message);
        assert.ok(!(error.serverMessage ?? "").includes(PASSWORD));
        lines.forEach(assertNoSecret);
    });

    test("resolves the org from the login response", async () => {
        const before = mock.count("GET", "/rest/session");
        const client = passwordClient({ org: "4a7e2c1d-0000-4000-8000-000000000203" });

        const response = await client.request<{ org_id: number }>({ method: "GET", path: "/incidents/7" });

        assert.equal(response.body.org_id, 203);
        assert.equal(mock.count("GET", "/rest/session"), before, "no GET /rest/session needed");
    });
});

describe("RestClient on keep-alive connections", () => {
    let mock: MockPlatform;

    before(async () => {
        mock = await MockPlatform.start();
        mock.route = incidentRoute;
    });
    after(() => mock.stop());

    test("sends once when server closes idle connection", async () => {
        mock.closeAfterResponse = true;
        const client = makeClient(mock.port, { maxConnections: 1, org: 201 });
        try {
            await client.orgId();
            for (const method of ["GET", "POST", "GET", "POST"] as const) {
                const before = mock.received.length;
                const response = await client.request({ method, path: "/incidents/11/comments", body: method === "POST" ? { text: "x" } : undefined });
                assert.equal(response.statusCode, 200);
                assert.equal(mock.received.length - before, 1, `${method} arrived once`);
            }
        } finally {
            mock.closeAfterResponse = false;
        }
    });

    test("retries GET on dropped connection", async () => {
        const { lines, log } = captureLog();
        const client = makeClient(mock.port, { maxConnections: 1, org: 201, retries: { max: 0 }, log });
        await client.request({ method: "GET", path: "/incidents/12" });
        mock.dropReusedConnections = true;
        try {
            const before = mock.received.length;
            const response = await client.request<{ id: number }>({ method: "GET", path: "/incidents/13" });

            assert.equal(response.body.id, 13);
            const arrivals = mock.received.slice(before);
            assert.equal(arrivals.length, 2);
            assert.equal(arrivals[0].dropped, true);
            assert.equal(arrivals[1].dropped, false);
            assert.ok(lines.some((line) => line.startsWith("debug") && line.includes("UND_ERR_SOCKET")), lines.join("\n"));
        } finally {
            mock.dropReusedConnections = false;
        }
    });

    test("never resends POST on dropped connection", async () => {
        const client = makeClient(mock.port, { maxConnections: 1, org: 201 });
        await client.request({ method: "GET", path: "/incidents/14" });
        mock.dropReusedConnections = true;
        try {
            const before = mock.received.length;
            const error = await catchError(client.request({ method: "POST", path: "/incidents/14/comments", body: { text: "once" } }), RestError);

            assert.equal(mock.received.length - before, 1, "the POST reached the server exactly once");
            assert.equal(error.statusCode, undefined);
            assert.equal(error.code, "UND_ERR_SOCKET");
            assert.equal(error.tries, 1);
            assert.match(error.message, /the server closed the connection before it answered/);
            assert.match(error.message, /not sent again because POST is not idempotent/);
        } finally {
            mock.dropReusedConnections = false;
        }
    });

    test("never resends PATCH on reset connection", async () => {
        const client = makeClient(mock.port, { maxConnections: 1, org: 201 });
        await client.request({ method: "GET", path: "/incidents/15" });
        mock.route = (request, response) => {
            if (request.method === "PATCH") {
                (request as Received).dropped = true;
                response.socket?.resetAndDestroy();
                return true;
            }
            return incidentRoute(request, response);
        };
        try {
            const before = mock.count("PATCH", "/rest/orgs/201/incidents/15");
            const error = await catchError(client.request({ method: "PATCH", path: "/incidents/15", body: { changes: [] } }), RestError);

            assert.equal(mock.count("PATCH", "/rest/orgs/201/incidents/15") - before, 1);
            assert.ok(error.code === "ECONNRESET" || error.code === "UND_ERR_SOCKET", String(error.code));
            assert.match(error.message, /not sent again because PATCH is not idempotent/);
        } finally {
            mock.route = incidentRoute;
        }
    });
});

describe("RestClient connection failures", () => {
    test("retries POST on refused connection", async () => {
        const server = net.createServer();
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as net.AddressInfo).port;
        await new Promise<void>((resolve) => server.close(() => resolve()));
        const { lines, log } = captureLog();
        const client = makeClient(port, { org: 201, retries: { max: 2, initialDelayMs: 1, maxDelayMs: 5 }, log });

        const error = await catchError(client.request({ method: "POST", path: "/rest/session", body: {} }), RestError);

        assert.equal(error.code, "ECONNREFUSED");
        assert.equal(error.tries, 3);
        assert.equal(error.statusCode, undefined);
        assert.match(error.message, /POST \/rest\/session failed after 3 tries: connection refused \(ECONNREFUSED\)\. Check the host and port/);
        assert.equal(lines.filter((line) => line.startsWith("warn") && line.includes("retrying")).length, 2);
    });

    test("rejects requests after close", async () => {
        const mock = await MockPlatform.start();
        try {
            const client = makeClient(mock.port, { org: 201 });
            await client.close();

            await catchError(client.request({ method: "GET", path: "/rest/const" }), ClientClosedError);
            assert.equal(client.closed, true);
        } finally {
            await mock.stop();
        }
    });

    test("close ends hanging request after grace time", async () => {
        const mock = await MockPlatform.start();
        mock.route = () => true; // never answers
        try {
            const client = makeClient(mock.port, { org: 201 });
            await client.orgId();
            const pending = client.request({ method: "GET", path: "/incidents/1" });
            const outcome = pending.then(
                () => "resolved",
                (error: Error) => error,
            );
            await new Promise((resolve) => setTimeout(resolve, 50));

            const started = Date.now();
            await client.close(300);
            const elapsed = Date.now() - started;

            assert.ok(elapsed < 2000, `close took ${elapsed} ms`);
            const result = await outcome;
            assert.ok(result instanceof ClientClosedError, String(result));
        } finally {
            await mock.stop();
        }
    });

    test("rejects invalid options", () => {
        assert.throws(() => new RestClient({ host: "https://soar", org: 201, auth: { kind: "apikey", id: "a", secret: "b" } }), /Invalid REST host/);
        assert.throws(() => new RestClient({ host: "soar", port: 0, org: 201, auth: { kind: "apikey", id: "a", secret: "b" } }), /Invalid REST port/);
        assert.throws(() => new RestClient({ host: "soar", org: "", auth: { kind: "apikey", id: "a", secret: "b" } }), /Missing org/);
        assert.throws(() => new RestClient({ host: "soar", org: 201, auth: { kind: "password", email: "a", password: "" } }), /Missing email or password/);
    });
});

describe("RestClient over HTTPS", () => {
    let certificates: Certificates;
    let mock: MockPlatform;

    before(async () => {
        certificates = makeCertificates();
        mock = await MockPlatform.start(certificates.server);
        mock.route = incidentRoute;
    });
    after(() => mock.stop());

    test("verifies the server with the given CA", async () => {
        const client = makeClient(mock.port, { tls: { ca: certificates.ca } });

        const response = await client.request<{ id: number }>({ method: "GET", path: "/incidents/2301" });

        assert.equal(response.body.id, 2301);
        assert.equal(client.origin, `https://127.0.0.1:${mock.port}`);
    });

    test("password mode works over TLS", async () => {
        const client = makeClient(mock.port, { tls: { ca: certificates.ca }, auth: { kind: "password", email: EMAIL, password: PASSWORD } });

        const response = await client.request<{ org_id: number }>({ method: "POST", path: "/incidents/3/comments", body: { text: "t" } });

        assert.equal(response.body.org_id, 201);
    });

    test("rejects an untrusted certificate without sending", async () => {
        const before = mock.received.length;
        const client = makeClient(mock.port, { tls: { ca: certificates.otherCa } });

        const error = await catchError(client.request({ method: "GET", path: "/incidents/2301" }), RestError);

        assert.equal(error.tries, 1, "a certificate error is not retried");
        assert.match(error.message, /TLS certificate rejected/);
        assert.match(error.message, /Add the platform's CA certificate/);
        assert.equal(mock.received.length, before, "no request reached the server");
    });

    test("retries POST on TLS reset before sending", async () => {
        let connections = 0;
        const proxy = net.createServer((socket) => {
            connections += 1;
            if (connections === 1) {
                socket.destroy();
                return;
            }
            const upstream = net.connect(mock.port, "127.0.0.1");
            socket.pipe(upstream).pipe(socket);
            upstream.on("error", () => socket.destroy());
            socket.on("error", () => upstream.destroy());
        });
        await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
        mock.route = (request, response) => {
            if (request.url !== "/rest/search_ex") {
                return incidentRoute(request, response);
            }
            sendJson(response, 200, { results: [] });
            return true;
        };
        try {
            // An absolute path needs no org lookup, so the POST is the first request and meets the reset.
            const client = makeClient((proxy.address() as net.AddressInfo).port, { tls: { ca: certificates.ca }, maxConnections: 1 });

            const response = await client.request<{ results: unknown[] }>({ method: "POST", path: "/rest/search_ex", body: { query: "x" } });

            assert.deepEqual(response.body, { results: [] });
            assert.equal(connections, 2);
            assert.equal(mock.count("POST", "/rest/search_ex"), 1);
            await client.close();
        } finally {
            mock.route = incidentRoute;
            proxy.close();
        }
    });

    describe("with a certificate for a host name only", () => {
        let named: MockPlatform;

        before(async () => {
            named = await MockPlatform.start(certificates.namedServer);
            named.route = incidentRoute;
        });
        after(() => named.stop());

        test("checks servername instead of the IP address", async () => {
            const client = makeClient(named.port, { tls: { ca: certificates.ca, servername: "platform.test" } });

            const response = await client.request<{ id: number }>({ method: "GET", path: "/incidents/5" });

            assert.equal(response.body.id, 5);
        });

        test("rejects the host name mismatch", async () => {
            const before = named.received.length;
            const client = makeClient(named.port, { tls: { ca: certificates.ca } });

            const error = await catchError(client.request({ method: "GET", path: "/incidents/5" }), RestError);

            assert.equal(error.code, "ERR_TLS_CERT_ALTNAME_INVALID");
            assert.match(error.message, /TLS certificate rejected/);
            assert.equal(named.received.length, before, "no request reached the server");
        });
    });
});
