import { SELECT_INPUT_TYPES, isMultiValued, type FieldDef, type TypeDef } from "../catalog";
import { InvalidRequestError } from "../errors";
import type { JsonObject } from "../model";

/** Output form of select-like values, from `handle_format` (query wins over header). */
export type HandleFormat = "default" | "ids" | "names" | "objects";

/** Output form of rich text, from `text_content_output_format` (query wins over header). */
export type TextFormat = "default" | "objects_convert" | "objects_no_convert" | "always_text";

/**
 * Finds a field of a type by handle: its API name, its numeric id, or an
 * object `{name}` or `{id}`. Throws InvalidRequestError for an unknown field.
 */
export function resolveField(type: TypeDef, handle: unknown): FieldDef {
    let key = handle;
    if (typeof handle === "object" && handle !== null) {
        const object = handle as JsonObject;
        key = object.name ?? object.id;
    }
    const fields = Object.values(type.fields);
    const field = typeof key === "number" ? fields.find((candidate) => candidate.id === key) : type.fields[String(key)];
    if (!field) {
        throw new InvalidRequestError(`The ${type.type_name} type has no field ${JSON.stringify(handle)}.`);
    }
    return field;
}

/** Reads a field of an object: custom fields live under `properties`. */
export function readField(object: JsonObject, field: FieldDef): unknown {
    if (field.prefix === "properties") {
        return (object.properties as JsonObject | undefined)?.[field.name] ?? null;
    }
    return object[field.name] ?? null;
}

/** Writes a field of an object: custom fields live under `properties`. */
export function writeField(object: JsonObject, field: FieldDef, value: unknown): void {
    if (field.prefix === "properties") {
        object.properties = { ...((object.properties as JsonObject | undefined) ?? {}), [field.name]: value };
        return;
    }
    object[field.name] = value;
}

/**
 * Converts an input value to the stored form: select-like values given by
 * id or by name (label, or email for users) become ids, and rich text given
 * as `{format, content}` becomes its content. A numeric string counts as a
 * name, as on platform version 23 and later.
 */
export function toStoredValue(field: FieldDef, value: unknown): unknown {
    if (value === null || value === undefined) {
        return null;
    }
    if (SELECT_INPUT_TYPES.has(field.input_type)) {
        if (isMultiValued(field)) {
            if (!Array.isArray(value)) {
                throw new InvalidRequestError(`Field "${field.name}" takes a list of ids or names, not ${JSON.stringify(value)}.`);
            }
            return value.map((item) => toStoredId(field, item));
        }
        return toStoredId(field, value);
    }
    if (field.input_type === "textarea" || field.input_type === "text") {
        if (typeof value === "object" && value !== null && "content" in value) {
            return (value as { content: unknown }).content;
        }
    }
    return value;
}

function toStoredId(field: FieldDef, handle: unknown): number | string {
    let key = handle;
    if (typeof handle === "object" && handle !== null) {
        const object = handle as JsonObject;
        key = object.id ?? object.name;
    }
    const byId = field.values.find((entry) => entry.value === key);
    if (byId) {
        return byId.value;
    }
    if (typeof key === "string") {
        const byName = field.values.find((entry) => entry.label === key || emailOf(entry.label) === key);
        if (byName) {
            return byName.value;
        }
    }
    const known = field.values.map((entry) => `${entry.value} ${entry.label}`).join(", ");
    throw new InvalidRequestError(`Field "${field.name}" has no value ${JSON.stringify(handle)}; known values: ${known}.`);
}

/** Converts a stored value for output in the requested handle format. */
export function toOutputValue(field: FieldDef, value: unknown, format: HandleFormat): unknown {
    if (format === "default" || format === "ids" || value === null || !SELECT_INPUT_TYPES.has(field.input_type)) {
        return value;
    }
    const convert = (id: unknown): unknown => {
        const entry = field.values.find((candidate) => candidate.value === id);
        if (!entry) {
            return id;
        }
        const name = field.input_type.includes("owner") || field.input_type.includes("members") ? (emailOf(entry.label) ?? entry.label) : entry.label;
        return format === "names" ? name : { id: entry.value, name };
    };
    return Array.isArray(value) ? value.map(convert) : convert(value);
}

/** Converts a stored rich-text string for output in the requested text format. */
export function toOutputText(field: FieldDef, value: unknown, format: TextFormat): unknown {
    if (typeof value !== "string" || format === "default") {
        return value;
    }
    if (format === "always_text") {
        return stripTags(value);
    }
    if (format === "objects_no_convert") {
        return { format: looksLikeHtml(value) ? "html" : "text", content: value };
    }
    return field.rich_text ? { format: "html", content: value } : { format: "text", content: stripTags(value) };
}

/** Returns a copy of an object with select-like and text fields in the requested output formats. */
export function formatObject(type: TypeDef, object: JsonObject, handles: HandleFormat, text: TextFormat): JsonObject {
    const copy = structuredClone(object);
    for (const field of Object.values(type.fields)) {
        const isText = field.input_type === "textarea";
        if (!SELECT_INPUT_TYPES.has(field.input_type) && !isText) {
            continue;
        }
        const stored = readField(copy, field);
        const output = isText ? toOutputText(field, stored, text) : toOutputValue(field, stored, handles);
        if (stored !== output) {
            writeField(copy, field, output);
        }
    }
    return copy;
}

/** Unwraps a PATCH value: `{"object": v}` or a typed key such as `{"text": v}`, `{"id": n}`, `{"ids": [..]}`. */
export function unwrapPatchValue(wrapper: unknown): unknown {
    if (typeof wrapper !== "object" || wrapper === null || Array.isArray(wrapper)) {
        throw new InvalidRequestError(`A PATCH value must be an object such as {"object": value}, not ${JSON.stringify(wrapper)}.`);
    }
    const keys = Object.keys(wrapper);
    if (keys.length !== 1) {
        throw new InvalidRequestError(`A PATCH value must have exactly one key such as "object", not ${JSON.stringify(wrapper)}.`);
    }
    const known = ["object", "text", "textarea", "id", "ids", "name", "date", "boolean", "number", "value"];
    if (!known.includes(keys[0])) {
        throw new InvalidRequestError(`Unknown PATCH value key "${keys[0]}"; use one of: ${known.join(", ")}.`);
    }
    return (wrapper as JsonObject)[keys[0]];
}

function emailOf(label: string): string | undefined {
    return /\(([^()\s]+@[^()\s]+)\)$/.exec(label)?.[1];
}

function stripTags(html: string): string {
    return html.replace(/<[^>]*>/g, "").replace(/&nbsp;/g, " ").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function looksLikeHtml(text: string): boolean {
    return /<[a-z][^>]*>/i.test(text);
}
