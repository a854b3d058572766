import { OrgResolutionError, type OrgSummary } from "./errors";

/** One entry of `orgs` in the platform's session (`SessionOrgInfoDTO`), reduced to what the client reads. */
export interface SessionOrg {
    id: number;
    name: string;
    enabled: boolean;
    uuid?: string | null;
    cloud_account?: string | null;
    [key: string]: unknown;
}

/** The platform's session (`UserSessionDTO`) as `GET` or `POST /rest/session` return it. */
export interface SessionInfo {
    orgs: SessionOrg[];
    /** Present only for email/password sessions. */
    csrf_token?: string;
    user_id?: number | null;
    user_email?: string | null;
    api_key_handle?: number | null;
    session_ip?: string | null;
    [key: string]: unknown;
}

/** Checks the shape of a session body and returns it typed. */
export function toSessionInfo(body: unknown): SessionInfo {
    if (!body || typeof body !== "object" || !Array.isArray((body as SessionInfo).orgs)) {
        throw new Error("The platform's session response has no `orgs` list, so the org cannot be resolved.");
    }
    return body as SessionInfo;
}

function summarize(org: SessionOrg): OrgSummary {
    return { id: org.id, name: org.name, enabled: org.enabled !== false };
}

function describeOrg(org: OrgSummary): string {
    return `"${org.name}" (id ${org.id})`;
}

function listOrgs(orgs: OrgSummary[]): string {
    const usable = orgs.filter((org) => org.enabled);
    const disabled = orgs.filter((org) => !org.enabled);
    let text = usable.length > 0 ? `Orgs this account can use: ${usable.map(describeOrg).join(", ")}.` : "This account can use no org.";
    if (disabled.length > 0) {
        text += ` Disabled for this account: ${disabled.map(describeOrg).join(", ")}.`;
    }
    return text;
}

/**
 * Finds the configured org in the session's org list and returns its id.
 *
 * A whole number is first compared with each org's `id`. Any other text,
 * and a number that matches no id, is compared with `cloud_account`, then
 * `uuid`, then `name` (exact match). A match whose `enabled` is false, or
 * no match, throws `OrgResolutionError`. The no-match message lists the
 * orgs the account can use, with names and ids.
 */
export function resolveOrg(configured: string | number, session: SessionInfo): number {
    const orgs = session.orgs;
    const summaries = orgs.map(summarize);
    const wanted = String(configured).trim();
    if (orgs.length === 0) {
        throw new OrgResolutionError(`The account is a member of no org, so org "${wanted}" cannot be used.`, summaries);
    }

    let match: SessionOrg | undefined;
    if (/^\d+$/.test(wanted)) {
        match = orgs.find((org) => org.id === Number(wanted));
    }
    for (const key of ["cloud_account", "uuid", "name"] as const) {
        match ??= orgs.find((org) => typeof org[key] === "string" && org[key] === wanted);
    }

    if (!match) {
        throw new OrgResolutionError(`Org "${wanted}" was not found among this account's orgs. ${listOrgs(summaries)}`, summaries);
    }
    if (match.enabled === false) {
        const from = typeof session.session_ip === "string" && session.session_ip ? ` from IP address ${session.session_ip}` : "";
        throw new OrgResolutionError(
            `Org ${describeOrg(summarize(match))} is not enabled for this account${from}. ` +
                `The platform may restrict the org by IP address. ${listOrgs(summaries)}`,
            summaries,
        );
    }
    return match.id;
}

/**
 * Cookies set by the platform for an email/password session, by name.
 * Only the `name=value` pair of each `Set-Cookie` is kept, because the
 * client sends them to one host only and starts a new jar with every login.
 */
export class CookieJar {
    private readonly cookies = new Map<string, string>();

    /** Stores the cookies of one response's `Set-Cookie` headers. An expired or empty cookie is removed. */
    public store(setCookie: string[] | undefined): void {
        for (const line of setCookie ?? []) {
            const [pair, ...attributes] = line.split(";");
            const separator = pair.indexOf("=");
            if (separator <= 0) {
                continue;
            }
            const name = pair.slice(0, separator).trim();
            const value = pair.slice(separator + 1).trim();
            const expired = attributes.some((attribute) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(attribute));
            if (value === "" || expired) {
                this.cookies.delete(name);
            } else {
                this.cookies.set(name, value);
            }
        }
    }

    public get(name: string): string | undefined {
        return this.cookies.get(name);
    }

    /** Returns every cookie value, for removing them from error messages. */
    public values(): string[] {
        return [...this.cookies.values()];
    }

    /** Returns the `Cookie` request header, or `undefined` when the jar is empty. */
    public header(): string | undefined {
        if (this.cookies.size === 0) {
            return undefined;
        }
        return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    }
}
