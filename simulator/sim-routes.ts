import { InvalidRequestError } from "./errors";
import type { JsonObject } from "./model";
import { Router, sendJson, type RequestContext } from "./router";
import type { Simulator, StartedInvocation } from "./simulator";

/** Time a fire request waits for the broker's RECEIPT before it returns 202 with Pending invocations, in milliseconds. */
const SEND_WAIT_MS = 5000;

/**
 * Routes of the simulator's control API under `/sim/`, which tests, the
 * demo and the CLI use to fire rules and read Action Status. Errors are
 * `{ "error": "<message>" }`.
 */
export function simRoutes(simulator: Simulator): Router {
    const router = new Router();

    router.add("GET", "/sim/health", ({ res }) => {
        sendJson(res, 200, { brokerConnected: simulator.brokerConnected, invocations: simulator.invocations().length });
    });

    router.add("POST", "/sim/rules/:id/fire", async (context) => {
        const request = await jsonObject(context);
        const started = simulator.startRule(integerParam(context.params.id, "rule id"), {
            incidentId: requiredInteger(request.incidentId, "incidentId"),
            objectId: optionalInteger(request.objectId, "objectId"),
            properties: optionalObject(request.properties, "properties"),
            userId: optionalInteger(request.userId, "userId"),
        });
        const confirmed = await waitForSends(started);
        sendJson(context.res, confirmed ? 201 : 202, { invocations: started.map((entry) => simulator.invocation(entry.invocation.id)) });
    });

    router.add("POST", "/sim/functions/:name/fire", async (context) => {
        const request = await jsonObject(context);
        const started = simulator.startFunction(context.params.name, {
            inputs: optionalObject(request.inputs, "inputs"),
            orgId: optionalInteger(request.orgId, "orgId"),
            userId: optionalInteger(request.userId, "userId"),
        });
        const confirmed = await waitForSends([started]);
        sendJson(context.res, confirmed ? 201 : 202, { invocation: simulator.invocation(started.invocation.id) });
    });

    router.add("POST", "/sim/raw", async (context) => {
        const request = await jsonObject(context);
        if (typeof request.destination !== "string" || request.destination === "") {
            throw new InvalidRequestError('"destination" must be a programmatic name or a full STOMP destination.');
        }
        if (typeof request.body !== "string") {
            throw new InvalidRequestError('"body" must be a string; send JSON bodies as text.');
        }
        const started = simulator.startRaw({
            destination: request.destination,
            body: request.body,
            orgId: optionalInteger(request.orgId, "orgId"),
            headers: optionalStringMap(request.headers, "headers"),
            omitHeaders: optionalStringList(request.omitHeaders, "omitHeaders"),
            bare: request.bare === true,
        });
        const confirmed = await waitForSends([started]);
        sendJson(context.res, confirmed ? 201 : 202, { invocation: simulator.invocation(started.invocation.id) });
    });

    router.add("GET", "/sim/invocations", ({ res }) => {
        sendJson(res, 200, { invocations: simulator.invocations(), orphanReplies: simulator.orphanReplies() });
    });

    router.add("GET", "/sim/invocations/:id", (context) => {
        const id = integerParam(context.params.id, "invocation id");
        const invocation = simulator.invocation(id);
        if (!invocation) {
            sendJson(context.res, 404, { error: `Invocation ${id} not found.` });
            return;
        }
        sendJson(context.res, 200, invocation);
    });

    router.add("GET", "/sim/automatic-rules", ({ res }) => {
        sendJson(res, 200, { evaluations: simulator.automaticRuleEvaluations() });
    });

    router.add("POST", "/sim/faults/incident-conflicts", async (context) => {
        const request = await jsonObject(context);
        const incidentId = requiredInteger(request.incidentId, "incidentId");
        const count = optionalInteger(request.count, "count") ?? 1;
        simulator.forceIncidentConflicts(incidentId, count);
        sendJson(context.res, 200, { incidentId, count });
    });

    router.add("POST", "/sim/faults/close-connections", async (context) => {
        const request = await jsonObject(context);
        const count = optionalInteger(request.count, "count") ?? 1;
        simulator.closeConnectionsAfterResponses(count);
        sendJson(context.res, 200, { count });
    });

    router.add("POST", "/sim/faults/expire-sessions", ({ res }) => {
        sendJson(res, 200, { expired: simulator.expireSessions() });
    });

    return router;
}

/** Resolves true when every message was confirmed in time, false on timeout; rethrows a send failure. */
async function waitForSends(started: StartedInvocation[]): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), SEND_WAIT_MS);
    });
    try {
        return await Promise.race([Promise.all(started.map((entry) => entry.sent)).then(() => true), timeout]);
    } finally {
        clearTimeout(timer);
    }
}

async function jsonObject(context: RequestContext): Promise<JsonObject> {
    const value = await context.json();
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new InvalidRequestError("The request body must be a JSON object.");
    }
    return value as JsonObject;
}

function integerParam(text: string, what: string): number {
    if (!/^\d+$/.test(text)) {
        throw new InvalidRequestError(`The ${what} must be a number, not "${text}".`);
    }
    return Number(text);
}

function requiredInteger(value: unknown, name: string): number {
    if (!Number.isInteger(value)) {
        throw new InvalidRequestError(`"${name}" must be an integer, not ${JSON.stringify(value)}.`);
    }
    return value as number;
}

function optionalInteger(value: unknown, name: string): number | undefined {
    return value === undefined || value === null ? undefined : requiredInteger(value, name);
}

function optionalObject(value: unknown, name: string): JsonObject | undefined {
    if (value === undefined || value === null) {
        return undefined;
    }
    if (typeof value !== "object" || Array.isArray(value)) {
        throw new InvalidRequestError(`"${name}" must be a JSON object.`);
    }
    return value as JsonObject;
}

function optionalStringMap(value: unknown, name: string): Record<string, string> | undefined {
    const object = optionalObject(value, name);
    if (object && Object.values(object).some((entry) => typeof entry !== "string")) {
        throw new InvalidRequestError(`"${name}" must map header names to strings.`);
    }
    return object as Record<string, string> | undefined;
}

function optionalStringList(value: unknown, name: string): string[] | undefined {
    if (value === undefined || value === null) {
        return undefined;
    }
    if (!Array.isArray(value) || value.some((entry) => typeof entry !== "string")) {
        throw new InvalidRequestError(`"${name}" must be a list of header names.`);
    }
    return value as string[];
}
