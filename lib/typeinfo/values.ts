import type { FieldValue, SelectId, TypeInfoWarning } from "./types";

/** Maximum number of values that a warning or error message lists before it ends with "and N more". */
const MAX_LISTED_VALUES = 20;

/** Checks for a non-null object that is not an array, the shape of every JSON object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Returns `container[key]` when `container` is a plain object that has `key`
 * as its own property, and `undefined` otherwise. Ids such as "constructor"
 * must never resolve to inherited properties.
 */
export function ownProperty(container: unknown, key: string): unknown {
    if (!isPlainObject(container) || !Object.hasOwn(container, key)) {
        return undefined;
    }
    return container[key];
}

/**
 * Sets an own, enumerable property. Unlike assignment it also works for the
 * key "__proto__", which JSON may contain as an ordinary field name.
 */
export function setOwnProperty(object: Record<string, unknown>, key: string, value: unknown): void {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

function isSelectId(value: unknown): value is SelectId {
    return typeof value === "number" || typeof value === "string";
}

function hasOwnKeys(object: Record<string, unknown>): boolean {
    for (const key in object) {
        if (Object.hasOwn(object, key)) {
            return true;
        }
    }
    return false;
}

/**
 * Returns the `values` map of `type_info.<type>.fields.<field>`, or `undefined`
 * when the map is missing or empty. Only fields with a non-empty map count as
 * select-like, because `type_info` lists text and number fields with an empty map.
 * NOTE: a single select whose id has no entry has an empty map, so it looks
 * like a text field and its id stays without a warning.
 */
export function selectValuesOf(typeInfo: unknown, type: string, field: string): Record<string, unknown> | undefined {
    const fields = ownProperty(ownProperty(typeInfo, type), "fields");
    const values = ownProperty(ownProperty(fields, field), "values");
    if (!isPlainObject(values) || !hasOwnKeys(values)) {
        return undefined;
    }
    return values;
}

/** Lists the select-like fields of one type in `type_info`, with their `values` maps. */
export function selectFieldsOf(typeInfo: unknown, type: string): Array<[string, Record<string, unknown>]> {
    const fields = ownProperty(ownProperty(typeInfo, type), "fields");
    if (!isPlainObject(fields)) {
        return [];
    }
    const selectFields: Array<[string, Record<string, unknown>]> = [];
    for (const field of Object.keys(fields)) {
        const values = selectValuesOf(typeInfo, type, field);
        if (values !== undefined) {
            selectFields.push([field, values]);
        }
    }
    return selectFields;
}

/**
 * Returns the label of one id from a `values` map. Numbers and numeric
 * strings match by their string form, so 55 and "55" both find key "55".
 * Disabled values still give their label.
 */
export function labelForId(values: Record<string, unknown>, id: unknown): string | undefined {
    if (!isSelectId(id)) {
        return undefined;
    }
    const label = ownProperty(ownProperty(values, String(id)), "label");
    return typeof label === "string" ? label : undefined;
}

/** Result of turning the ids of one field into labels. */
export interface Translation {
    /** The labels; the value itself when nothing changed. */
    value: unknown;
    /** Whether at least one id was replaced by its label. */
    changed: boolean;
    /** Values without a label, in the order they appear. */
    unmatched: unknown[];
}

/**
 * Turns the value of one select-like field into labels. A list keeps its
 * order and length, with ids that have no label left in place; `null` and
 * `undefined` stay as they are. The given value is never modified.
 */
export function translateIds(values: Record<string, unknown>, raw: unknown): Translation {
    if (raw === null || raw === undefined) {
        return { value: raw, changed: false, unmatched: [] };
    }

    if (Array.isArray(raw)) {
        const unmatched: unknown[] = [];
        let changed = false;
        const labels = raw.map((item: unknown) => {
            const label = labelForId(values, item);
            if (label === undefined) {
                unmatched.push(item);
                return item;
            }
            changed = true;
            return label;
        });
        return { value: changed ? labels : raw, changed, unmatched };
    }

    const label = labelForId(values, raw);
    if (label === undefined) {
        return { value: raw, changed: false, unmatched: [raw] };
    }
    return { value: label, changed: true, unmatched: [] };
}

/** Formats a value for a message: strings quoted, long texts cut. */
export function formatValue(value: unknown): string {
    const text = typeof value === "number" ? String(value) : (JSON.stringify(value) ?? String(value));
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Formats a list of values for a message, naming at most MAX_LISTED_VALUES of them. */
export function formatValueList(values: readonly unknown[]): string {
    const listed = values.slice(0, MAX_LISTED_VALUES).map(formatValue).join(", ");
    const rest = values.length - MAX_LISTED_VALUES;
    return rest > 0 ? `${listed} and ${rest} more` : listed;
}

/** Builds the one warning for a field whose ids have no label in `type_info`. */
export function unknownIdWarning(path: string, type: string, field: string, unmatched: readonly unknown[]): TypeInfoWarning {
    const subject = unmatched.length === 1 ? "it stays" : "they stay";
    return {
        code: "unknown-id",
        path,
        message:
            `${path}: type_info.${type}.fields.${field} has no label for ${formatValueList(unmatched)}, ` +
            `so ${subject} unchanged. Check that the value still exists in the field's values on the platform.`,
    };
}

/** Raised when a field value lookup resolves to something other than select values. */
export class InvalidFieldValuesError extends TypeError {
    public constructor(message: string) {
        super(message);
        this.name = "InvalidFieldValuesError";
    }
}

/**
 * Converts a field value lookup result to a list of select values. It takes a
 * list or a REST field definition with the list under `values`, and drops
 * entries that lack an id or a text label.
 * @throws {InvalidFieldValuesError} when the result is neither of those shapes.
 */
export function toFieldValueList(result: unknown, type: string, field: string): FieldValue[] {
    let list: unknown = result;
    if (isPlainObject(result) && Array.isArray(result.values)) {
        list = result.values;
    }
    if (!Array.isArray(list)) {
        throw new InvalidFieldValuesError(
            `The select values loaded for ${type}.${field} are ${formatValue(result)}, not a list. ` +
                "The field value lookup must resolve to a list of {value, label} objects " +
                "or to a field definition that has such a list under values.",
        );
    }
    return list.filter(isFieldValue);
}

function isFieldValue(entry: unknown): entry is FieldValue {
    return isPlainObject(entry) && isSelectId(entry.value) && typeof entry.label === "string";
}

/**
 * Lists the select values of a field that `type_info` contains. An entry
 * without a usable `value` takes its key as id, because `type_info` keys the
 * map by the id.
 */
export function fieldValuesFromTypeInfo(typeInfo: unknown, type: string, field: string): FieldValue[] {
    const values = selectValuesOf(typeInfo, type, field);
    if (values === undefined) {
        return [];
    }
    const list: FieldValue[] = [];
    for (const [key, entry] of Object.entries(values)) {
        if (!isPlainObject(entry) || typeof entry.label !== "string") {
            continue;
        }
        const value = isSelectId(entry.value) ? entry.value : key;
        list.push({ ...entry, value, label: entry.label });
    }
    return list;
}
