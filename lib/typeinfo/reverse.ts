import { FieldValueCache } from "./cache";
import type { FieldValue, FieldValueLookup, SelectId, TypeInfo } from "./types";
import {
    fieldValuesFromTypeInfo,
    formatValue,
    formatValueList,
    InvalidFieldValuesError,
    toFieldValueList,
} from "./values";

/** Sources of select values for `idsFromLabels`. */
export interface LabelSource {
    /** The `type_info` of the message at hand; searched first, without a request. */
    typeInfo?: TypeInfo | null;
    /**
     * Loads every value of a field from the platform, for labels that
     * `type_info` lacks. A `FieldValueCache` is also asked once more with a
     * refresh when a label is still missing, in case the value was added
     * since the values were cached.
     */
    fieldValues?: FieldValueLookup | FieldValueCache;
}

/** Raised when a label names none of a field's select values. */
export class LabelNotFoundError extends Error {
    public readonly type: string;
    public readonly field: string;
    public readonly label: string;
    /** Labels of the values that were searched. */
    public readonly knownLabels: string[];

    public constructor(type: string, field: string, label: string, knownLabels: string[], searchedPlatform: boolean) {
        const known =
            knownLabels.length > 0
                ? `Labels that exist: ${formatValueList(knownLabels)}.`
                : "No select values were found for it.";
        const advice = searchedPlatform
            ? "Use one of the labels that exist, or add the value to the field on the platform."
            : "Only the message's type_info was searched, and it holds just the values the message uses; " +
              "give a field value lookup to search every value of the field.";
        super(`No value labelled ${formatValue(label)} in ${type} field ${field}. ${known} ${advice}`);
        this.name = "LabelNotFoundError";
        this.type = type;
        this.field = field;
        this.label = label;
        this.knownLabels = knownLabels;
    }
}

/**
 * Finds the ids of select values by their labels: one id for one label, a
 * list in the same order for a list. Labels match exactly first; otherwise a
 * label matches when it equals exactly one value's label ignoring case. An
 * enabled value wins over a disabled one with the same label. `type_info` is
 * searched first, then the platform through `source.fieldValues`, loaded at
 * most once per call (twice for a `FieldValueCache`, the second time refreshed).
 * @throws {LabelNotFoundError} for the first label that matches no value.
 * @throws {TypeError} when `labels` is not a string or a list of strings.
 * @throws {InvalidFieldValuesError} when the lookup resolves to something other than select values.
 * @throws {Error} when the lookup fails; its `cause` is the lookup's error.
 */
export async function idsFromLabels(type: string, field: string, labels: string, source: LabelSource): Promise<SelectId>;
export async function idsFromLabels(
    type: string,
    field: string,
    labels: readonly string[],
    source: LabelSource,
): Promise<SelectId[]>;
export async function idsFromLabels(
    type: string,
    field: string,
    labels: string | readonly string[],
    source: LabelSource,
): Promise<SelectId | SelectId[]> {
    const requested = typeof labels === "string" ? [labels] : labels;
    if (!Array.isArray(requested) || !requested.every((label) => typeof label === "string")) {
        throw new TypeError(
            `Labels for ${type}.${field} must be a string or a list of strings, got ${formatValue(labels)}.`,
        );
    }

    let known = fieldValuesFromTypeInfo(source.typeInfo, type, field);
    let ids = requested.map((label) => findIdByLabel(known, label));

    const lookup = source.fieldValues;
    if (ids.includes(undefined) && lookup !== undefined) {
        known = await loadFieldValues(lookup, type, field, false);
        ids = requested.map((label) => findIdByLabel(known, label));
        if (ids.includes(undefined) && lookup instanceof FieldValueCache) {
            known = await loadFieldValues(lookup, type, field, true);
            ids = requested.map((label) => findIdByLabel(known, label));
        }
    }

    const missing = ids.indexOf(undefined);
    if (missing >= 0) {
        const knownLabels = [...new Set(known.map((value) => value.label))];
        throw new LabelNotFoundError(type, field, requested[missing], knownLabels, lookup !== undefined);
    }
    const found = ids as SelectId[];
    return typeof labels === "string" ? found[0] : found;
}

/** Returns the id of the value with this label, or `undefined` when none or more than one match. */
function findIdByLabel(values: readonly FieldValue[], label: string): SelectId | undefined {
    const exact = values.filter((value) => value.label === label);
    if (exact.length > 0) {
        return preferEnabled(exact)[0].value;
    }

    const folded = label.toLowerCase();
    const caseless = preferEnabled(values.filter((value) => value.label.toLowerCase() === folded));
    const distinctIds = new Set(caseless.map((value) => String(value.value)));
    return distinctIds.size === 1 ? caseless[0].value : undefined;
}

function preferEnabled(values: FieldValue[]): FieldValue[] {
    const enabled = values.filter((value) => value.enabled !== false);
    return enabled.length > 0 ? enabled : values;
}

async function loadFieldValues(
    lookup: FieldValueLookup | FieldValueCache,
    type: string,
    field: string,
    refresh: boolean,
): Promise<FieldValue[]> {
    try {
        if (lookup instanceof FieldValueCache) {
            return await lookup.get(type, field, { refresh });
        }
        return toFieldValueList(await lookup(type, field), type, field);
    } catch (error) {
        if (error instanceof InvalidFieldValuesError) {
            throw error;
        }
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(
            `Loading the select values of ${type}.${field} from the platform failed: ${reason}. ` +
                "Check the connection to the platform and that the type and field exist.",
            { cause: error },
        );
    }
}
