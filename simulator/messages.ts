import { SELECT_INPUT_TYPES, findFieldValue, isMultiValued, type FieldDef, type TypeDef } from "./catalog";
import type { FunctionDef, Incident, JsonObject, MessageDestination, Rule } from "./model";
import { InvalidRequestError } from "./errors";
import { buildTypeInfo, objectSource, type TypeInfoSource } from "./type-info";

/** The child object a rule message is about, with its catalog type name. */
export interface RuleObject {
    /** Key of the object in the ActionDataDTO: `task`, `note`, `artifact`, `milestone` or `attachment`. */
    key: "task" | "note" | "artifact" | "milestone" | "attachment";
    value: JsonObject;
}

/** Inputs for an ActionDataDTO. */
export interface ActionDataInput {
    rule: Rule;
    catalog: Record<string, TypeDef>;
    incident: Incident;
    object?: RuleObject;
    /** Activity-field values, already normalized to ids. */
    properties: JsonObject | null;
    user: JsonObject;
    operation: "created" | "modified" | "deleted" | null;
}

/** Object keys of an ActionDataDTO that are null unless the rule is about that kind of object. */
const OBJECT_KEYS = ["task", "artifact", "note", "milestone", "attachment", "row"] as const;

/** Builds the body of a rule message (`ActionDataDTO`) in the key order of captured messages. */
export function buildActionData(input: ActionDataInput): JsonObject {
    const body: JsonObject = {
        action_id: input.rule.id,
        object_type: input.rule.object_type,
        operation_type: input.operation,
        incident: structuredClone(input.incident),
    };
    for (const key of OBJECT_KEYS) {
        body[key] = input.object?.key === key ? structuredClone(input.object.value) : null;
    }
    body.properties = input.properties;
    body.user = input.user;
    body.type_info = buildTypeInfo(typeInfoSources(input));
    return body;
}

function typeInfoSources(input: ActionDataInput): TypeInfoSource[] {
    const sources: TypeInfoSource[] = [];
    const properties = input.properties;
    if (properties && Object.keys(properties).length > 0) {
        sources.push({
            type: input.catalog.actioninvocation,
            read: (field) => properties[field.name],
            only: Object.keys(properties),
        });
    }
    // Captured note messages carry no `note` entry, so only types with select fields get one.
    if (input.object && (input.object.key === "task" || input.object.key === "artifact")) {
        sources.push(objectSource(input.catalog[input.object.key], input.object.value));
    }
    sources.push(objectSource(input.catalog.incident, input.incident));
    return sources;
}

/**
 * Normalizes the activity-field values a caller gives for a menu-item rule:
 * select values by id or label become ids, and fields the caller leaves out
 * are null. Unknown numeric ids pass through, to simulate a deleted value.
 */
export function normalizeActivityProperties(rule: Rule, catalog: Record<string, TypeDef>, given: JsonObject | undefined): JsonObject | null {
    const names = rule.view_items.filter((item) => item.field_type === "actioninvocation").map((item) => item.content);
    if (rule.type === 0) {
        if (given && Object.keys(given).length > 0) {
            throw new InvalidRequestError(`Rule ${rule.id} is automatic and takes no activity-field values.`);
        }
        return null;
    }
    const result: JsonObject = {};
    for (const key of Object.keys(given ?? {})) {
        if (!names.includes(key)) {
            throw new InvalidRequestError(`Rule ${rule.id} has no activity field "${key}"; its fields are: ${names.join(", ") || "none"}.`);
        }
    }
    for (const name of names) {
        const field = catalog.actioninvocation.fields[name];
        const value = given?.[name];
        result[name] = value === undefined || value === null ? null : toIdValue(field, value);
    }
    return result;
}

function toIdValue(field: FieldDef, value: unknown): unknown {
    if (!SELECT_INPUT_TYPES.has(field.input_type)) {
        return value;
    }
    if (isMultiValued(field)) {
        if (!Array.isArray(value)) {
            throw new InvalidRequestError(`Field "${field.name}" takes a list of ids or labels, not ${JSON.stringify(value)}.`);
        }
        return value.map((item) => toSingleId(field, item));
    }
    return toSingleId(field, value);
}

function toSingleId(field: FieldDef, handle: unknown): unknown {
    if (typeof handle === "number") {
        return handle;
    }
    const entry = findFieldValue(field, handle);
    if (!entry) {
        const known = field.values.map((value) => `${value.value} ${value.label}`).join(", ");
        throw new InvalidRequestError(`Field "${field.name}" has no value ${JSON.stringify(handle)}; known values: ${known}.`);
    }
    return entry.value;
}

/** Inputs for a FunctionDataDTO. */
export interface FunctionDataInput {
    fn: FunctionDef;
    destination: MessageDestination;
    catalog: Record<string, TypeDef>;
    /** Raw inputs from the caller, normalized here. */
    inputs: JsonObject;
    /** Workflow instance id; the simulator uses the invocation id. */
    workflowInstanceId: number;
    principal: JsonObject;
}

/** Builds the body of a function message (`FunctionDataDTO`) in the key order of captured messages. */
export function buildFunctionData(input: FunctionDataInput): JsonObject {
    const { fn } = input;
    return {
        function: {
            id: fn.id,
            name: fn.name,
            display_name: fn.display_name,
            uuid: fn.uuid,
            version: null,
            creator: null,
            description: fn.description,
            view_items: [],
            workflows: [],
            tags: [
                {
                    tag_handle: { id: 9, name: input.destination.programmatic_name, display_name: input.destination.programmatic_name },
                    value: null,
                },
            ],
        },
        groups: [],
        inputs: normalizeFunctionInputs(fn, input.catalog.__function, input.inputs),
        playbook_instance: null,
        principal: input.principal,
        workflow: structuredClone(fn.workflow),
        workflow_instance: {
            workflow_instance_id: input.workflowInstanceId,
            workflow: structuredClone(fn.workflow),
        },
    };
}

/**
 * Converts caller inputs to the shapes a function message uses: select as
 * `{id, name}`, multiselect as a list of those, rich text as
 * `{format, content}`, dates as epoch milliseconds. Inputs the caller leaves
 * out are null.
 */
export function normalizeFunctionInputs(fn: FunctionDef, type: TypeDef, given: JsonObject): JsonObject {
    for (const key of Object.keys(given)) {
        if (!fn.inputs.includes(key)) {
            throw new InvalidRequestError(`Function "${fn.name}" has no input "${key}"; its inputs are: ${fn.inputs.join(", ")}.`);
        }
    }
    const result: JsonObject = {};
    for (const name of fn.inputs) {
        const value = given[name];
        result[name] = value === undefined || value === null ? null : toFunctionInput(type.fields[name], value);
    }
    return result;
}

function toFunctionInput(field: FieldDef, value: unknown): unknown {
    switch (field.input_type) {
        case "select":
            return toSelectObject(field, value);
        case "multiselect":
            if (!Array.isArray(value)) {
                throw new InvalidRequestError(`Input "${field.name}" takes a list of ids or names, not ${JSON.stringify(value)}.`);
            }
            return value.map((item) => toSelectObject(field, item));
        case "textarea":
            return typeof value === "string" ? { format: "text", content: value } : value;
        case "datepicker":
        case "datetimepicker":
            return toEpochMs(field, value);
        case "number":
            if (typeof value !== "number") {
                throw new InvalidRequestError(`Input "${field.name}" takes a number, not ${JSON.stringify(value)}.`);
            }
            return value;
        case "boolean":
            if (typeof value !== "boolean") {
                throw new InvalidRequestError(`Input "${field.name}" takes true or false, not ${JSON.stringify(value)}.`);
            }
            return value;
        default:
            return typeof value === "string" ? value : JSON.stringify(value);
    }
}

function toSelectObject(field: FieldDef, value: unknown): { id: unknown; name: string } {
    const handle = typeof value === "object" && value !== null && "id" in value ? (value as { id: unknown }).id : value;
    const entry = findFieldValue(field, handle);
    if (!entry) {
        const known = field.values.map((item) => `${item.value} ${item.label}`).join(", ");
        throw new InvalidRequestError(`Input "${field.name}" has no value ${JSON.stringify(value)}; known values: ${known}.`);
    }
    return { id: entry.value, name: entry.label };
}

function toEpochMs(field: FieldDef, value: unknown): number {
    if (typeof value === "number") {
        return value;
    }
    const parsed = typeof value === "string" ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(parsed)) {
        throw new InvalidRequestError(`Input "${field.name}" takes epoch milliseconds or an ISO date, not ${JSON.stringify(value)}.`);
    }
    return parsed;
}
