import { isDeepStrictEqual } from "node:util";
import type { Incident, Rule, RuleCondition } from "./model";
import type { IncidentChange } from "./rest/context";
import { readField } from "./rest/fields";
import type { PlatformState } from "./state";

/**
 * Returns the enabled automatic incident rules of the change's org whose
 * operations include the change's and whose conditions all hold. The
 * context-token loop guard is applied by the caller.
 */
export function matchAutomaticRules(state: PlatformState, change: IncidentChange, incident: Incident): Rule[] {
    return [...state.rules.values()].filter((rule) =>
        rule.org_id === change.orgId &&
        rule.type === 0 &&
        rule.enabled &&
        rule.object_type === 0 &&
        rule.operations.includes(change.operation) &&
        rule.conditions.every((condition) => conditionHolds(state, condition, change, incident)),
    );
}

/**
 * Evaluates one condition. On a created incident every field with a value
 * counts as changed. Unknown methods and fields never hold.
 */
function conditionHolds(state: PlatformState, condition: RuleCondition, change: IncidentChange, incident: Incident): boolean {
    if (condition.method === "object_added") {
        return change.operation === "created";
    }
    const name = (condition.field_name ?? "").replace(/^incident\./, "");
    const field = state.catalog.incident.fields[name];
    if (!field) {
        return false;
    }
    const current = readField(incident, field);
    const hasValue = current !== null && current !== undefined && !(Array.isArray(current) && current.length === 0);
    const changed = change.operation === "created" ? hasValue : name in change.changedFields;
    switch (condition.method) {
        case "changed":
            return changed;
        case "changed_to":
            return changed && isDeepStrictEqual(current, condition.value);
        case "not_changed_to":
            return changed && !isDeepStrictEqual(current, condition.value);
        case "equals":
            return isDeepStrictEqual(current, condition.value);
        case "not_equals":
            return !isDeepStrictEqual(current, condition.value);
        case "has_a_value":
            return hasValue;
        case "not_has_a_value":
            return !hasValue;
        default:
            return false;
    }
}
