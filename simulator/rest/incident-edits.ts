import { isDeepStrictEqual } from "node:util";
import type { TypeDef } from "../catalog";
import { InvalidRequestError } from "../errors";
import type { Incident, JsonObject } from "../model";
import { readField, resolveField, toOutputValue, toStoredValue, unwrapPatchValue, writeField, type HandleFormat } from "./fields";

/** Changed fields by API name, with stored values before and after. */
export type FieldChanges = Record<string, { old: unknown; new: unknown }>;

/** Incident keys a PUT or POST cannot set; the server maintains them. */
const READ_ONLY_KEYS = new Set([
    "id", "org_id", "vers", "create_date", "creator_id", "creator", "perms", "actions",
    "inc_last_modified_date", "artifacts", "comments", "tasks", "cm", "dtm", "task_changes",
]);

/**
 * Applies the fields of a PUT or POST body to an incident and returns what
 * changed. Catalog fields are converted (select names become ids). Other
 * keys the incident already has are copied as given, read-only keys and
 * unknown keys are ignored, and `properties` must only name custom fields.
 */
export function applyIncidentBody(type: TypeDef, incident: Incident, body: JsonObject): FieldChanges {
    const changes: FieldChanges = {};
    const set = (name: string, field: Parameters<typeof readField>[1] | undefined, value: unknown): void => {
        const old = field ? readField(incident, field) : incident[name];
        const stored = field ? toStoredValue(field, value) : value;
        if (isDeepStrictEqual(old ?? null, stored ?? null)) {
            return;
        }
        changes[name] = { old: old ?? null, new: stored };
        if (field) {
            writeField(incident, field, stored);
        } else {
            incident[name] = stored;
        }
    };

    for (const [key, value] of Object.entries(body)) {
        if (READ_ONLY_KEYS.has(key)) {
            continue;
        }
        if (key === "properties") {
            applyProperties(type, value, set);
            continue;
        }
        const field = type.fields[key];
        if (field && field.prefix === null) {
            if (!field.read_only) {
                set(key, field, value);
            }
        } else if (key in incident) {
            set(key, undefined, value);
        }
    }
    return changes;
}

function applyProperties(type: TypeDef, value: unknown, set: (name: string, field: TypeDef["fields"][string], value: unknown) => void): void {
    if (value === null || value === undefined) {
        return;
    }
    if (typeof value !== "object" || Array.isArray(value)) {
        throw new InvalidRequestError('"properties" must be an object of custom field values.');
    }
    for (const [name, propertyValue] of Object.entries(value as JsonObject)) {
        const field = type.fields[name];
        if (!field || field.prefix !== "properties") {
            throw new InvalidRequestError(`The incident type has no custom field "${name}".`);
        }
        set(name, field, propertyValue);
    }
}

/** One failed change of a PATCH, as `PatchStatusDTO.field_failures` lists it. */
export interface FieldFailure {
    field: string;
    your_original_value: unknown;
    actual_current_value: unknown;
}

/** Outcome of a PATCH: the applied changes, or the failures that stopped it. */
export type PatchOutcome = { applied: true; changes: FieldChanges } | { applied: false; failures: FieldFailure[] };

/**
 * Applies a `PatchDTO` all or nothing. When `version` equals the incident's
 * `vers` the changes apply unchecked. Otherwise each change's `old_value`
 * must equal the current value. A change without `old_value` fails when
 * the PATCH has a stale `version`, and applies unchecked when it has none.
 */
export function applyPatch(type: TypeDef, incident: Incident, body: JsonObject, handles: HandleFormat): PatchOutcome {
    if (!Array.isArray(body.changes)) {
        throw new InvalidRequestError('A PATCH body needs a "changes" list of {field, old_value, new_value}.');
    }
    if (body.version !== undefined && body.version !== null && !Number.isInteger(body.version)) {
        throw new InvalidRequestError(`"version" must be an integer, not ${JSON.stringify(body.version)}.`);
    }
    const hasVersion = body.version !== undefined && body.version !== null;
    const versionMatches = body.version === incident.vers;

    const planned: Array<{ field: ReturnType<typeof resolveField>; value: unknown }> = [];
    const failures: FieldFailure[] = [];
    for (const change of body.changes as unknown[]) {
        if (typeof change !== "object" || change === null) {
            throw new InvalidRequestError(`Each PATCH change must be an object, not ${JSON.stringify(change)}.`);
        }
        const entry = change as JsonObject;
        const field = resolveField(type, entry.field);
        if (field.read_only) {
            throw new InvalidRequestError(`Field "${field.name}" is read-only.`);
        }
        if (entry.new_value === undefined) {
            throw new InvalidRequestError(`The change of "${field.name}" has no new_value.`);
        }
        const value = toStoredValue(field, unwrapPatchValue(entry.new_value));
        planned.push({ field, value });
        if (versionMatches) {
            continue;
        }
        const current = readField(incident, field);
        const hasOld = entry.old_value !== undefined && entry.old_value !== null;
        if (!hasOld && !hasVersion) {
            continue;
        }
        const original = hasOld ? toStoredValue(field, unwrapPatchValue(entry.old_value)) : null;
        if (!hasOld || !isDeepStrictEqual(original ?? null, current ?? null)) {
            failures.push({
                field: field.name,
                your_original_value: toOutputValue(field, original, handles),
                actual_current_value: toOutputValue(field, current, handles),
            });
        }
    }
    if (failures.length > 0) {
        return { applied: false, failures };
    }

    const changes: FieldChanges = {};
    for (const { field, value } of planned) {
        const old = readField(incident, field);
        if (!isDeepStrictEqual(old ?? null, value ?? null)) {
            changes[field.name] = { old, new: value };
            writeField(incident, field, value);
        }
    }
    return { applied: true, changes };
}
