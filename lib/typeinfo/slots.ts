import type { TypeInfoWarning } from "./types";
import { isPlainObject, ownProperty, selectFieldsOf } from "./values";

/** Keys of a rule message that hold platform objects, each described by the type of the same name. */
export const OBJECT_KEYS = ["incident", "task", "artifact", "note", "milestone", "attachment"] as const;

/** Type that describes the activity fields in a rule message's `properties`. */
export const ACTIVITY_TYPE = "actioninvocation";

const BUILT_IN_TYPES: ReadonlySet<string> = new Set<string>([...OBJECT_KEYS, ACTIVITY_TYPE]);

/** Paths that `parseFieldPath` accepts, for error messages. */
const PATH_FORMS =
    "<object>.<field>, <object>.properties.<field>, properties.<field> or row.cells.<field>.value, " +
    `where <object> is one of ${OBJECT_KEYS.join(", ")}`;

/** Options shared by the id-to-label functions. */
export interface SlotOptions {
    /**
     * Type name of the data table that `row` belongs to. Without it the table
     * is found by the row's `type_id`, or as the only data table type in `type_info`.
     */
    tableType?: string;
}

/** A select-like field found in a message. */
export interface FieldSlot {
    /** Keys from the message root to the field, such as `["incident", "properties", "business_unit"]`. */
    path: readonly string[];
    type: string;
    field: string;
    /** The field's `values` map from `type_info`. */
    values: Record<string, unknown>;
    /** The field's current value in the message. */
    value: unknown;
}

/** The data table type of a row, or the warning that explains why none was found. */
export interface TableTypeResolution {
    type?: string;
    warning?: TypeInfoWarning;
}

/**
 * Lists every select-like field of a rule message: the fields of each
 * platform object and their custom fields under `properties`, the activity
 * fields, and the cells of a data table row. Only fields present in the
 * message are listed. Nothing is copied.
 * NOTE: fields inside other sub-objects of an incident, such as
 * `pii.harmstatus_id`, are not looked at.
 */
export function collectSlots(
    message: Record<string, unknown>,
    typeInfo: Record<string, unknown>,
    options: SlotOptions,
    warnings: TypeInfoWarning[],
): FieldSlot[] {
    const slots: FieldSlot[] = [];

    for (const key of OBJECT_KEYS) {
        const object = ownProperty(message, key);
        if (!isPlainObject(object)) {
            continue;
        }
        const customFields = ownProperty(object, "properties");
        for (const [field, values] of selectFieldsOf(typeInfo, key)) {
            if (Object.hasOwn(object, field)) {
                slots.push({ path: [key, field], type: key, field, values, value: object[field] });
            } else if (isPlainObject(customFields) && Object.hasOwn(customFields, field)) {
                const value = customFields[field];
                slots.push({ path: [key, "properties", field], type: key, field, values, value });
            }
        }
    }

    const activityFields = ownProperty(message, "properties");
    if (isPlainObject(activityFields)) {
        for (const [field, values] of selectFieldsOf(typeInfo, ACTIVITY_TYPE)) {
            if (Object.hasOwn(activityFields, field)) {
                const value = activityFields[field];
                slots.push({ path: ["properties", field], type: ACTIVITY_TYPE, field, values, value });
            }
        }
    }

    slots.push(...collectRowSlots(ownProperty(message, "row"), typeInfo, options, warnings));
    return slots;
}

function collectRowSlots(
    row: unknown,
    typeInfo: Record<string, unknown>,
    options: SlotOptions,
    warnings: TypeInfoWarning[],
): FieldSlot[] {
    const cells = ownProperty(row, "cells");
    if (!isPlainObject(cells) || Object.keys(cells).length === 0) {
        return [];
    }

    const table = resolveTableType(row, typeInfo, options.tableType);
    if (table.warning !== undefined) {
        warnings.push(table.warning);
    }
    if (table.type === undefined) {
        return [];
    }

    const slots: FieldSlot[] = [];
    for (const [field, values] of selectFieldsOf(typeInfo, table.type)) {
        const cell = ownProperty(cells, field);
        if (isPlainObject(cell) && Object.hasOwn(cell, "value")) {
            slots.push({ path: ["row", "cells", field, "value"], type: table.type, field, values, value: cell.value });
        }
    }
    return slots;
}

/**
 * Finds the `type_info` entry of the data table that a row belongs to. A
 * message names the table only through the row's `type_id`, so the entry is,
 * in this order: the one named by `tableType`, the one whose `type_id` equals
 * the row's, or the only data table entry that no `type_id` contradicts.
 * With no data table entry at all there is nothing to label and no warning.
 */
export function resolveTableType(row: unknown, typeInfo: Record<string, unknown>, tableType?: string): TableTypeResolution {
    if (tableType !== undefined) {
        if (isPlainObject(ownProperty(typeInfo, tableType))) {
            return { type: tableType };
        }
        return {
            warning: {
                code: "unknown-table",
                path: "row",
                message:
                    `type_info has no entry for the data table "${tableType}", so the row's cells stay unchanged. ` +
                    "Check the table's API name.",
            },
        };
    }

    const rowTypeId = ownProperty(row, "type_id");
    const tables = Object.keys(typeInfo).filter((name) => !BUILT_IN_TYPES.has(name) && isPlainObject(typeInfo[name]));
    const tableTypeId = (name: string): unknown => ownProperty(typeInfo[name], "type_id");

    const hasRowTypeId = typeof rowTypeId === "number" || typeof rowTypeId === "string";
    if (hasRowTypeId) {
        const match = tables.find((name) => String(tableTypeId(name)) === String(rowTypeId));
        if (match !== undefined) {
            return { type: match };
        }
    }

    const compatible = tables.filter((name) => !hasRowTypeId || tableTypeId(name) === undefined);
    if (compatible.length === 1) {
        return { type: compatible[0] };
    }
    if (tables.length === 0) {
        return {};
    }

    const idText = hasRowTypeId ? `type_id ${String(rowTypeId)}` : "no type_id";
    return {
        warning: {
            code: "unknown-table",
            path: "row",
            message:
                `The row has ${idText} and type_info has no single data table that matches it ` +
                `(data tables in type_info: ${tables.join(", ")}), so the row's cells stay unchanged. ` +
                "Set tableType to the data table's API name to choose one.",
        },
    };
}

/** A field path split into message keys, with the type and field it names. */
export interface ParsedFieldPath {
    keys: string[];
    /** The object key the path starts with: one of OBJECT_KEYS, "properties" or "row". */
    root: string;
    /** The type that describes the field; `undefined` for a data table row, whose type depends on the message. */
    type: string | undefined;
    field: string;
}

/**
 * Splits a field path such as `incident.severity_code`,
 * `incident.properties.business_unit`, `properties.ticket_priority` or
 * `row.cells.status.value`.
 * @throws {TypeError} for any other path, naming the accepted forms.
 */
export function parseFieldPath(path: string): ParsedFieldPath {
    const keys = typeof path === "string" ? path.split(".") : [];
    const valid = keys.length > 0 && keys.every((key) => key.length > 0);
    const [root, second, third, fourth] = keys;

    if (valid && keys.length === 2 && root === "properties") {
        return { keys, root, type: ACTIVITY_TYPE, field: second };
    }
    if (valid && isObjectKey(root)) {
        if (keys.length === 2) {
            return { keys, root, type: root, field: second };
        }
        if (keys.length === 3 && second === "properties") {
            return { keys, root, type: root, field: third };
        }
    }
    if (valid && keys.length === 4 && root === "row" && second === "cells" && fourth === "value") {
        return { keys, root, type: undefined, field: third };
    }

    throw new TypeError(`Invalid field path ${JSON.stringify(path)}. Use ${PATH_FORMS}.`);
}

function isObjectKey(key: string): boolean {
    return (OBJECT_KEYS as readonly string[]).includes(key);
}
