import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { HttpError } from "../errors";
import type { ApiKey, JsonObject, PlatformUser } from "../model";
import type { PlatformState } from "../state";

/** Logins the REST API accepts: user passwords by email, and API keys. */
export interface RestCredentials {
    passwords: Record<string, string>;
    apiKeys: ApiKey[];
}

/**
 * Logins of a fresh simulator. They guard only invented data, and the
 * HTTP server listens on 127.0.0.1 unless the caller picks another address.
 */
export const DEFAULT_CREDENTIALS: RestCredentials = {
    passwords: {
        "ada@example.test": "ada-simulator-password",
        "ben@example.test": "ben-simulator-password",
        "cleo@example.test": "cleo-simulator-password",
    },
    apiKeys: [
        {
            keyId: "5f0c2e1a-7d4b-4c3e-9a10-000000000101",
            secret: "simulator-api-key-secret-101",
            handle: 101,
            displayName: "Node-RED processor",
            orgIds: [201, 202],
        },
    ],
};

/** A logged-in email/password session. */
export interface Session {
    /** Value of the `JSESSIONID` cookie. */
    id: string;
    /** Value the client must send as `X-sess-id`. */
    csrfToken: string;
    userId: number;
    createdAt: number;
    lastUsedAt: number;
}

/** Caller of a REST request: a session user or an API key. */
export type Principal = { kind: "user"; user: PlatformUser; session: Session } | { kind: "apikey"; key: ApiKey };

/** Returns the org ids the principal may use, including disabled ones. */
export function principalOrgIds(principal: Principal): number[] {
    return principal.kind === "user" ? principal.user.orgIds : principal.key.orgIds;
}

/**
 * Sessions and API-key checks of the REST API. A request with an
 * `Authorization: Basic` header is checked as an API key and any cookie is
 * ignored. Otherwise it needs the `JSESSIONID` cookie and the matching
 * `X-sess-id` header. A session that was idle longer than the timeout is
 * gone, and requests with it get 401.
 */
export class SessionStore {
    private readonly sessions = new Map<string, Session>();

    /**
     * @param timeoutSeconds idle timeout of a session; when absent, the
     *   shortest `session_timeout` of the user's orgs (1200 s in the seed).
     */
    public constructor(
        private readonly state: PlatformState,
        private readonly credentials: RestCredentials,
        private readonly timeoutSeconds?: number,
    ) {}

    /** Checks an email and password and opens a session; throws 401 on a wrong login. */
    public login(email: unknown, password: unknown): Session {
        if (typeof email !== "string" || typeof password !== "string") {
            throw new HttpError(400, 'The login needs "email" and "password" strings.');
        }
        const expected = this.credentials.passwords[email];
        const user = [...this.state.users.values()].find((candidate) => candidate.email === email);
        // NOTE: which status a real server returns for a wrong password (401 or 403) is not confirmed.
        if (!user || expected === undefined || !secretsEqual(password, expected)) {
            throw new HttpError(401, "The email address or password is not valid.");
        }
        const now = Date.now();
        const session: Session = {
            id: randomBytes(16).toString("hex").toUpperCase(),
            csrfToken: randomBytes(16).toString("hex"),
            userId: user.id,
            createdAt: now,
            lastUsedAt: now,
        };
        this.sessions.set(session.id, session);
        return session;
    }

    /** Identifies the caller of a request, or throws 401 (or 403 for a missing `X-sess-id`). */
    public authenticate(req: IncomingMessage): Principal {
        const authorization = req.headers.authorization;
        if (authorization) {
            return { kind: "apikey", key: this.checkApiKey(authorization) };
        }
        const sessionId = readCookie(req.headers.cookie, "JSESSIONID");
        if (!sessionId) {
            throw new HttpError(401, "Unauthorized: log in with POST /rest/session or send an API key with HTTP Basic authentication.");
        }
        const session = this.liveSession(sessionId);
        const csrfToken = req.headers["x-sess-id"];
        // NOTE: what a real server returns for a missing or wrong X-sess-id is not documented; the simulator uses 403.
        if (typeof csrfToken !== "string" || !secretsEqual(csrfToken, session.csrfToken)) {
            throw new HttpError(403, "Forbidden: the X-sess-id header is missing or does not match the session's csrf_token.");
        }
        session.lastUsedAt = Date.now();
        return { kind: "user", user: this.state.user(session.userId), session };
    }

    /** Finds the live session of a cookie value for `GET /rest/session`, which needs no X-sess-id. */
    public sessionFromCookie(cookieHeader: string | undefined): Session | undefined {
        const sessionId = readCookie(cookieHeader, "JSESSIONID");
        if (!sessionId) {
            return undefined;
        }
        const session = this.liveSession(sessionId);
        session.lastUsedAt = Date.now();
        return session;
    }

    /** Ends a session. */
    public logout(sessionId: string): void {
        this.sessions.delete(sessionId);
    }

    /** Expires every open session at once; the next request of each gets 401. */
    public expireAll(): number {
        const count = this.sessions.size;
        this.sessions.clear();
        return count;
    }

    private liveSession(sessionId: string): Session {
        const session = this.sessions.get(sessionId);
        if (!session) {
            throw new HttpError(401, "Unauthorized: the session is not valid or has expired; log in again.");
        }
        const idleSeconds = (Date.now() - session.lastUsedAt) / 1000;
        if (idleSeconds > this.sessionTimeout(session.userId)) {
            this.sessions.delete(sessionId);
            throw new HttpError(401, "Unauthorized: the session is not valid or has expired; log in again.");
        }
        return session;
    }

    private sessionTimeout(userId: number): number {
        if (this.timeoutSeconds !== undefined) {
            return this.timeoutSeconds;
        }
        const timeouts = this.state.user(userId).orgIds.map((orgId) => this.state.org(orgId).session_timeout);
        return Math.min(...timeouts);
    }

    private checkApiKey(authorization: string): ApiKey {
        const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
        const decoded = match ? Buffer.from(match[1], "base64").toString("utf8") : "";
        const colon = decoded.indexOf(":");
        if (colon < 0) {
            throw new HttpError(401, "Unauthorized: the Authorization header must be HTTP Basic with the API key id and secret.");
        }
        const keyId = decoded.slice(0, colon);
        const secret = decoded.slice(colon + 1);
        const key = this.credentials.apiKeys.find((candidate) => candidate.keyId === keyId);
        if (!key || !secretsEqual(secret, key.secret)) {
            throw new HttpError(401, "Unauthorized: the API key id or secret is not valid.");
        }
        return key;
    }
}

/** Builds the `UserSessionDTO` of `POST` and `GET /rest/session`. */
export function sessionDto(state: PlatformState, principal: Principal, sessionIp: string): JsonObject {
    const orgs = principalOrgIds(principal).map((orgId) => orgDto(state, orgId));
    if (principal.kind === "apikey") {
        return {
            csrf_token: null,
            user_id: null,
            user_fname: null,
            user_lname: null,
            user_email: null,
            display_name: principal.key.displayName,
            api_key_handle: principal.key.handle,
            is_saml: false,
            is_ldap: false,
            saml_alias: null,
            session_ip: sessionIp,
            orgs,
        };
    }
    const { user, session } = principal;
    return {
        csrf_token: session.csrfToken,
        user_id: user.id,
        user_fname: user.fname,
        user_lname: user.lname,
        user_email: user.email,
        display_name: `${user.fname} ${user.lname}`,
        api_key_handle: null,
        is_saml: false,
        is_ldap: false,
        saml_alias: null,
        session_ip: sessionIp,
        orgs,
    };
}

/** Builds one org entry (`SessionOrgInfoDTO`) of a session. */
export function orgDto(state: PlatformState, orgId: number): JsonObject {
    const org = state.org(orgId);
    return {
        id: org.id,
        name: org.name,
        uuid: org.uuid,
        cloud_account: org.cloud_account,
        enabled: org.enabled,
        session_timeout: org.session_timeout,
        perms: { administrator: false, master_administrator: false, observer: false, create_incs: true, create_shared_layout: false },
        addr: null,
        addr2: null,
        city: null,
        state: null,
        zip: null,
        attachments_enabled: true,
        incident_deletion_allowed: false,
        tasks_private: false,
        has_saml: false,
        require_saml: false,
        supports_ldap: false,
        configuration_type: "standard",
        parent_org: null,
        timezone: null,
    };
}

function readCookie(header: string | undefined, name: string): string | undefined {
    for (const part of (header ?? "").split(";")) {
        const index = part.indexOf("=");
        if (index > 0 && part.slice(0, index).trim() === name) {
            return part.slice(index + 1).trim();
        }
    }
    return undefined;
}

function secretsEqual(given: string, expected: string): boolean {
    const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();
    return timingSafeEqual(digest(given), digest(expected));
}
