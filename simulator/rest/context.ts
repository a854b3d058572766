import type { ContextTokenClaims, ContextTokenIssuer } from "../context-token";
import { HttpError, InvalidRequestError } from "../errors";
import type { SimulatorLogger } from "../log";
import type { JsonObject } from "../model";
import type { Handler, RequestContext } from "../router";
import type { PlatformState } from "../state";
import { principalOrgIds, type Principal, type SessionStore } from "./auth";
import type { FaultInjector } from "./faults";
import type { HandleFormat, TextFormat } from "./fields";

/** A change of an incident made through the REST API. */
export interface IncidentChange {
    orgId: number;
    incidentId: number;
    operation: "created" | "modified";
    /** Changed fields by API name, with stored values before and after. */
    changedFields: Record<string, { old: unknown; new: unknown }>;
    /** Claims of the request's `X-Co3ContextToken`, when it carried one the simulator issued. */
    claims: ContextTokenClaims | undefined;
    principal: Principal;
}

/** Services of the simulator that the REST routes use. */
export interface RestDependencies {
    state: PlatformState;
    sessions: SessionStore;
    tokens: ContextTokenIssuer;
    faults: FaultInjector;
    logger: SimulatorLogger;
    /** Called after each incident change; the simulator fires the matching automatic rules. */
    onIncidentChange(change: IncidentChange): void;
}

/** An authenticated REST call. */
export interface RestCall {
    context: RequestContext;
    principal: Principal;
    /** Org of an org-scoped route; NaN on routes outside `/rest/orgs/<id>/`. */
    orgId: number;
    handles: HandleFormat;
    text: TextFormat;
    claims: ContextTokenClaims | undefined;
}

const HANDLE_FORMATS: HandleFormat[] = ["default", "ids", "names", "objects"];
const TEXT_FORMATS: TextFormat[] = ["default", "objects_convert", "objects_no_convert", "always_text"];

/**
 * Wraps a REST handler: applies a pending connection-close fault,
 * authenticates the caller, checks the org of `/rest/orgs/<id>/` routes
 * (403 when the caller is not a member or the org is disabled), and reads
 * the output formats and the context token.
 */
export function restHandler(deps: RestDependencies, handler: (call: RestCall) => Promise<void> | void, orgScoped = true): Handler {
    return async (context) => {
        if (deps.faults.takeConnectionClose()) {
            // Closes after the response without a `Connection: close` header, as a server dropping an idle keep-alive socket does.
            context.res.once("finish", () => context.req.socket.end());
        }
        const principal = deps.sessions.authenticate(context.req);
        let orgId = Number.NaN;
        if (orgScoped) {
            orgId = Number(context.params.org);
            checkOrgAccess(deps, principal, orgId);
        }
        const tokenHeader = context.req.headers["x-co3contexttoken"];
        const token = typeof tokenHeader === "string" ? tokenHeader : undefined;
        const claims = deps.tokens.recognize(token);
        if (token && !claims) {
            deps.logger.warn(`${context.req.method} ${context.url.pathname} carried an X-Co3ContextToken this simulator did not issue or that expired; it is ignored.`);
        }
        await handler({
            context,
            principal,
            orgId,
            handles: readFormat(context, "handle_format", HANDLE_FORMATS),
            text: readFormat(context, "text_content_output_format", TEXT_FORMATS),
            claims,
        });
    };
}

function checkOrgAccess(deps: RestDependencies, principal: Principal, orgId: number): void {
    if (!Number.isInteger(orgId) || !principalOrgIds(principal).includes(orgId)) {
        throw new HttpError(403, `Forbidden: you are not a member of org ${orgId}.`);
    }
    const org = deps.state.org(orgId);
    if (!org.enabled) {
        throw new HttpError(403, `Forbidden: org ${orgId} (${org.name}) is disabled.`);
    }
}

function readFormat<T extends string>(context: RequestContext, name: string, allowed: T[]): T {
    const header = context.req.headers[name];
    const value = context.url.searchParams.get(name) ?? (typeof header === "string" ? header : undefined) ?? "default";
    if (!allowed.includes(value as T)) {
        throw new InvalidRequestError(`${name} must be one of ${allowed.join(", ")}, not "${value}".`);
    }
    return value as T;
}

/** Reads a JSON object body, or throws 400. */
export async function readJsonObject(call: RestCall): Promise<JsonObject> {
    const value = await call.context.json();
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new InvalidRequestError("The request body must be a JSON object.");
    }
    return value as JsonObject;
}

/** Parses a numeric path parameter; a malformed id gets the same 404 as an unknown one. */
export function idParam(call: RestCall, name: string): number {
    const text = call.context.params[name];
    if (!/^\d+$/.test(text)) {
        throw new HttpError(404, `Unable to find object with ID ${text}`);
    }
    return Number(text);
}
