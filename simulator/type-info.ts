import { SELECT_INPUT_TYPES, isMultiValued, type FieldDef, type FieldValue, type TypeDef } from "./catalog";
import type { JsonObject } from "./model";

/** Labels for one field: `values` is keyed by the value id as a string. */
export interface TypeInfoField {
    id: number;
    values: Record<string, FieldValue>;
}

/** The `type_info` entry of one type. */
export interface TypeInfoType {
    type_id: number;
    fields: Record<string, TypeInfoField>;
}

/** Reader for the field values of one object in a message. */
export interface TypeInfoSource {
    type: TypeDef;
    /** Reads a field's raw value from the object (an id, a list of ids, or anything else). */
    read(field: FieldDef): unknown;
    /** Limits the entry to these fields; all fields of the type when absent. */
    only?: string[];
}

/** Reads built-in fields from the object and custom fields from its `properties`. */
export function objectSource(type: TypeDef, object: JsonObject): TypeInfoSource {
    return {
        type,
        read: (field) => {
            if (field.prefix === "properties") {
                const properties = object.properties as JsonObject | null | undefined;
                return properties?.[field.name];
            }
            return object[field.name];
        },
    };
}

/**
 * Builds a message's `type_info`: for each type, every field (or the listed
 * ones) with labels for exactly the select values the object uses. A value id
 * that the catalog does not know (a deleted value) is left out; a disabled one
 * is included with `enabled: false`.
 */
export function buildTypeInfo(sources: TypeInfoSource[]): Record<string, TypeInfoType> {
    const typeInfo: Record<string, TypeInfoType> = {};
    for (const source of sources) {
        const fields: Record<string, TypeInfoField> = {};
        const names = source.only ?? Object.keys(source.type.fields);
        for (const name of names) {
            const field = source.type.fields[name];
            if (!field) {
                continue;
            }
            fields[name] = { id: field.id, values: usedValues(field, source.read(field)) };
        }
        typeInfo[source.type.type_name] = { type_id: source.type.type_id, fields };
    }
    return typeInfo;
}

function usedValues(field: FieldDef, raw: unknown): Record<string, FieldValue> {
    const values: Record<string, FieldValue> = {};
    if (!SELECT_INPUT_TYPES.has(field.input_type) || raw === null || raw === undefined) {
        return values;
    }
    const ids = isMultiValued(field) && Array.isArray(raw) ? raw : [raw];
    for (const id of ids) {
        const entry = field.values.find((candidate) => candidate.value === id);
        if (entry) {
            values[String(entry.value)] = { ...entry };
        }
    }
    return values;
}
