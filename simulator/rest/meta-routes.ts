import type { TypeDef } from "../catalog";
import { NotFoundError } from "../errors";
import type { FunctionDef, JsonObject, MessageDestination, Rule } from "../model";
import { Router, sendJson } from "../router";
import { orgDto } from "./auth";
import { platformConstants } from "./const";
import { idParam, restHandler, type RestCall, type RestDependencies } from "./context";
import { resolveField } from "./fields";

/** Builds the `MessageDestinationDTO` of a destination. */
export function destinationDto(destination: MessageDestination): JsonObject {
    const { org_id: _orgId, ...dto } = destination;
    return dto;
}

/** Builds the `ActionDTO` of a rule. */
export function ruleDto(rule: Rule): JsonObject {
    const { org_id: _orgId, operations: _operations, ...dto } = rule;
    return { ...dto, workflows: [], automations: [], custom_condition: null, tags: [] };
}

function functionDto(fn: FunctionDef, call: RestCall, destination: MessageDestination): JsonObject {
    return {
        id: fn.id,
        name: fn.name,
        display_name: fn.display_name,
        description: fn.description,
        destination_handle: call.handles === "names" ? destination.programmatic_name : destination.id,
        uuid: fn.uuid,
        version: 1,
        creator: null,
        view_items: fn.inputs.map((name) => ({ element: "field_uuid", field_type: "__function", content: name, show_if: null, step_label: null })),
        workflows: [fn.workflow],
        tags: [],
    };
}

function findType(catalog: Record<string, TypeDef>, handle: string): TypeDef {
    const type = catalog[handle] ?? Object.values(catalog).find((candidate) => String(candidate.id) === handle);
    if (!type) {
        throw new NotFoundError(`Unable to find object with ID ${handle}`);
    }
    return type;
}

/** Adds the routes for types and fields, destinations, rules, functions, the org and `/rest/const`. */
export function addMetaRoutes(router: Router, deps: RestDependencies): void {
    const { state } = deps;

    router.add("GET", "/rest/const", restHandler(deps, (call) => sendJson(call.context.res, 200, platformConstants()), false));

    router.add("GET", "/rest/orgs/:org", restHandler(deps, (call) => {
        sendJson(call.context.res, 200, { ...orgDto(state, call.orgId), actions_framework_enabled: true });
    }));

    router.add("GET", "/rest/orgs/:org/types", restHandler(deps, (call) => sendJson(call.context.res, 200, state.catalog)));

    router.add("GET", "/rest/orgs/:org/types/:type", restHandler(deps, (call) => {
        sendJson(call.context.res, 200, findType(state.catalog, call.context.params.type));
    }));

    router.add("GET", "/rest/orgs/:org/types/:type/fields", restHandler(deps, (call) => {
        sendJson(call.context.res, 200, Object.values(findType(state.catalog, call.context.params.type).fields));
    }));

    router.add("GET", "/rest/orgs/:org/types/:type/fields/:field", restHandler(deps, (call) => {
        const type = findType(state.catalog, call.context.params.type);
        const handle = call.context.params.field;
        let field;
        try {
            field = resolveField(type, /^\d+$/.test(handle) ? Number(handle) : handle);
        } catch {
            throw new NotFoundError(`Unable to find object with ID ${handle}`);
        }
        sendJson(call.context.res, 200, field);
    }));

    const orgDestinations = (call: RestCall): MessageDestination[] =>
        [...state.destinations.values()].filter((destination) => destination.org_id === call.orgId);

    router.add("GET", "/rest/orgs/:org/message_destinations", restHandler(deps, (call) => {
        sendJson(call.context.res, 200, { entities: orgDestinations(call).map(destinationDto) });
    }));

    router.add("GET", "/rest/orgs/:org/message_destinations/:id", restHandler(deps, (call) => {
        const id = idParam(call, "id");
        const destination = orgDestinations(call).find((entry) => entry.id === id);
        if (!destination) {
            throw new NotFoundError(`Unable to find object with ID ${id}`);
        }
        sendJson(call.context.res, 200, destinationDto(destination));
    }));

    const orgRules = (call: RestCall): Rule[] => [...state.rules.values()].filter((rule) => rule.org_id === call.orgId);

    router.add("GET", "/rest/orgs/:org/actions", restHandler(deps, (call) => {
        sendJson(call.context.res, 200, { entities: orgRules(call).map(ruleDto) });
    }));

    router.add("GET", "/rest/orgs/:org/actions/:id", restHandler(deps, (call) => {
        const id = idParam(call, "id");
        const rule = orgRules(call).find((entry) => entry.id === id);
        if (!rule) {
            throw new NotFoundError(`Unable to find object with ID ${id}`);
        }
        sendJson(call.context.res, 200, ruleDto(rule));
    }));

    router.add("GET", "/rest/orgs/:org/functions/:name", restHandler(deps, (call) => {
        const fn = state.functionByName(call.orgId, call.context.params.name);
        sendJson(call.context.res, 200, functionDto(fn, call, state.destination(fn.destination_handle)));
    }));
}
