import { HttpError, InvalidRequestError } from "../errors";
import type { Incident } from "../model";
import { Router, sendJson } from "../router";
import { incidentLike } from "../seed";
import { idParam, readJsonObject, restHandler, type RestCall, type RestDependencies } from "./context";
import { formatObject } from "./fields";
import { applyIncidentBody, applyPatch, type FieldChanges } from "./incident-edits";

/**
 * Adds the incident routes: GET, PUT (409 on a stale `vers`), PATCH (200
 * with `field_failures` on a conflict), POST and the list.
 */
export function addIncidentRoutes(router: Router, deps: RestDependencies): void {
    const base = "/rest/orgs/:org/incidents";
    const type = deps.state.catalog.incident;

    const output = (call: RestCall, incident: Incident): unknown => formatObject(type, incident, call.handles, call.text);

    const saved = (call: RestCall, incident: Incident, operation: "created" | "modified", changes: FieldChanges): void => {
        incident.vers += 1;
        incident.inc_last_modified_date = Date.now();
        if (operation === "created" || Object.keys(changes).length > 0) {
            deps.onIncidentChange({
                orgId: call.orgId,
                incidentId: incident.id,
                operation,
                changedFields: changes,
                claims: call.claims,
                principal: call.principal,
            });
        }
    };

    router.add("GET", base, restHandler(deps, (call) => {
        const incidents = [...deps.state.incidents.values()].filter((incident) => incident.org_id === call.orgId);
        sendJson(call.context.res, 200, incidents.map((incident) => output(call, incident)));
    }));

    router.add("POST", base, restHandler(deps, async (call) => {
        const body = await readJsonObject(call);
        if (typeof body.name !== "string" || body.name.trim() === "") {
            throw new InvalidRequestError('A new incident needs a "name".');
        }
        if (typeof body.discovered_date !== "number") {
            throw new InvalidRequestError('A new incident needs "discovered_date" in epoch milliseconds (0 when unknown).');
        }
        const now = Date.now();
        const incident = incidentLike({ id: deps.state.allocateIncidentId(), org_id: call.orgId, name: body.name, create_date: now, vers: 0 });
        const changes = applyIncidentBody(type, incident, body);
        deps.state.incidents.set(incident.id, incident);
        saved(call, incident, "created", changes);
        sendJson(call.context.res, 200, output(call, incident));
    }));

    router.add("GET", `${base}/:id`, restHandler(deps, (call) => {
        const incident = deps.state.incident(call.orgId, idParam(call, "id"));
        const knownVersion = call.context.url.searchParams.get("vers");
        if (knownVersion !== null && Number(knownVersion) === incident.vers) {
            call.context.res.writeHead(304).end();
            return;
        }
        sendJson(call.context.res, 200, output(call, incident));
    }));

    router.add("PUT", `${base}/:id`, restHandler(deps, async (call) => {
        const incident = deps.state.incident(call.orgId, idParam(call, "id"));
        const body = await readJsonObject(call);
        if (deps.faults.takeIncidentConflict(incident.id)) {
            // Stands in for another user saving the incident just before this request.
            incident.vers += 1;
            incident.inc_last_modified_date = Date.now();
        }
        // NOTE: a PUT without "vers" is accepted unchecked; whether the real server does the same is not confirmed.
        if (body.vers !== undefined && body.vers !== incident.vers) {
            throw new HttpError(409, `Conflicting PUT operation: incident ${incident.id} is at version ${incident.vers}, but the request was based on version ${JSON.stringify(body.vers)}. Read it again and re-apply the change.`);
        }
        const changes = applyIncidentBody(type, incident, body);
        saved(call, incident, "modified", changes);
        sendJson(call.context.res, 200, output(call, incident));
    }));

    const patch = restHandler(deps, async (call) => {
        const incident = deps.state.incident(call.orgId, idParam(call, "id"));
        const body = await readJsonObject(call);
        const outcome = applyPatch(type, incident, body, call.handles);
        if (!outcome.applied) {
            sendJson(call.context.res, 200, {
                success: false,
                title: null,
                message: `${outcome.failures.length === 1 ? "A field" : `${outcome.failures.length} fields`} changed since you read the incident.`,
                hints: [],
                field_failures: outcome.failures,
            });
            return;
        }
        saved(call, incident, "modified", outcome.changes);
        sendJson(call.context.res, 200, { success: true, title: null, message: null, hints: [] });
    });
    router.add("PATCH", `${base}/:id`, patch);
    router.add("PUT", `${base}/:id/patch`, patch);
}
