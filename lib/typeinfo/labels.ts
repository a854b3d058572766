import { collectSlots, parseFieldPath, resolveTableType, type FieldSlot, type SlotOptions } from "./slots";
import type { FieldLabels, LabelTree, RuleMessage, TypeInfoWarning } from "./types";
import {
    formatValue,
    isPlainObject,
    ownProperty,
    selectValuesOf,
    setOwnProperty,
    translateIds,
    unknownIdWarning,
} from "./values";

/** Options of `labelsFor` and `lookupLabel`. */
export type LabelOptions = SlotOptions;

/** Options of `replaceIdsWithLabels`. */
export interface ReplaceOptions extends SlotOptions {
    /**
     * Whether to change the given message in place, which only a caller that
     * owns the message should do. By default the message stays unchanged and
     * the result shares every part that needed no change.
     */
    mutate?: boolean;
}

/** Labels of every select-like field of a message, arranged like the message. */
export interface LabelsResult {
    labels: LabelTree;
    warnings: TypeInfoWarning[];
}

/** A message with its ids replaced by labels. */
export interface ReplaceResult<T extends RuleMessage> {
    /** The given message when `mutate` is set or nothing changed, otherwise a partial copy. */
    message: T;
    changed: boolean;
    warnings: TypeInfoWarning[];
}

/** The labels of one field. */
export interface FieldLookupResult {
    path: string;
    /** The type whose type info describes the field; `undefined` for a row whose data table is unknown. */
    type: string | undefined;
    field: string;
    /** The field's value in the message; `undefined` when the field is absent. */
    value: unknown;
    /**
     * The label or labels for a select-like field, the value unchanged for
     * any other field, and `undefined` when the field is absent.
     */
    label: FieldLabels | undefined;
    /** Whether `type_info` has select values for the field. */
    selectLike: boolean;
    warnings: TypeInfoWarning[];
}

/**
 * Collects the labels of every select-like field of a rule message, arranged
 * like the message, for example `{incident: {severity_code: "Medium",
 * properties: {business_unit: "Retail banking"}}, properties: {ticket_priority: "High"}}`.
 * The message is neither changed nor copied. Ids without a label stay in
 * place and get one warning per field.
 * @throws {TypeError} when `message` is not an object.
 */
export function labelsFor(message: RuleMessage, options: LabelOptions = {}): LabelsResult {
    const { slots, warnings } = scanMessage(message, options);
    const labels: LabelTree = {};
    for (const slot of slots) {
        const labelled = labelSlot(slot, warnings);
        setInTree(labels, slot.path, Array.isArray(labelled) ? [...labelled] : labelled);
    }
    return { labels, warnings };
}

/**
 * Replaces the ids in every select-like field of a rule message by their
 * labels. With `mutate` the given message changes in place. Without it the
 * given message stays unchanged and the result copies only the objects on the
 * path to a changed field, sharing everything else (large descriptions,
 * artifact lists) with the given message.
 * @throws {TypeError} when `message` is not an object.
 */
export function replaceIdsWithLabels<T extends RuleMessage>(message: T, options: ReplaceOptions = {}): ReplaceResult<T> {
    const { slots, warnings } = scanMessage(message, options);
    const writer = new PathWriter(message, options.mutate === true);
    for (const slot of slots) {
        const translation = translateIds(slot.values, slot.value);
        reportUnmatched(slot, translation.unmatched, warnings);
        if (translation.changed) {
            writer.set(slot.path, translation.value);
        }
    }
    return { message: writer.root as T, changed: writer.changed, warnings };
}

/**
 * Looks up the labels of one field by its path: `incident.severity_code`,
 * `incident.properties.business_unit`, `properties.ticket_priority`,
 * `row.cells.status.value`, or the same forms for task, artifact, note,
 * milestone and attachment. The message is neither changed nor copied. An
 * absent field, or one without select values, gives a warning.
 * @throws {TypeError} when `message` is not an object or `path` has none of these forms.
 */
export function lookupLabel(message: RuleMessage, path: string, options: LabelOptions = {}): FieldLookupResult {
    const parsed = parseFieldPath(path);
    const { typeInfo, warnings } = readTypeInfo(message);
    const { keys, field } = parsed;

    let type = parsed.type;
    if (parsed.root === "row" && typeInfo !== undefined) {
        const table = resolveTableType(ownProperty(message, "row"), typeInfo, options.tableType);
        type = table.type;
        if (table.warning !== undefined) {
            warnings.push(table.warning);
        }
    }
    const result: FieldLookupResult = { path, type, field, value: undefined, label: undefined, selectLike: false, warnings };

    const container = readPath(message, keys.slice(0, -1));
    const lastKey = keys[keys.length - 1];
    if (!isPlainObject(container) || !Object.hasOwn(container, lastKey)) {
        warnings.push(missingFieldWarning(message, parsed.root, path, field));
        return result;
    }
    result.value = container[lastKey];

    const values = type === undefined ? undefined : selectValuesOf(typeInfo, type, field);
    if (type === undefined || values === undefined) {
        result.label = copyList(result.value) as FieldLabels;
        // A missing type_info or an ambiguous data table has already left a warning with the reason.
        if (typeInfo !== undefined && warnings.length === 0) {
            const reason =
                type === undefined
                    ? "type_info has no data table type for the row"
                    : `type_info.${type}.fields.${field} has no select values`;
            warnings.push({ code: "not-select", path, message: `${reason}, so ${path} is returned unchanged.` });
        }
        return result;
    }

    result.selectLike = true;
    result.label = labelSlot({ path: keys, type, field, values, value: result.value }, warnings);
    return result;
}

/** Checks the message and collects its select-like fields, with warnings for what is missing. */
function scanMessage(message: RuleMessage, options: SlotOptions): { slots: FieldSlot[]; warnings: TypeInfoWarning[] } {
    const { typeInfo, warnings } = readTypeInfo(message);
    if (typeInfo === undefined) {
        return { slots: [], warnings };
    }
    const slots = collectSlots(message, typeInfo, options, warnings);
    return { slots, warnings };
}

function readTypeInfo(message: RuleMessage): { typeInfo: Record<string, unknown> | undefined; warnings: TypeInfoWarning[] } {
    if (!isPlainObject(message)) {
        throw new TypeError(
            `Expected a rule message (ActionDataDTO) as an object, got ${formatValue(message)}. ` +
                "Pass the parsed message body, such as msg.payload from resilient-in.",
        );
    }
    const typeInfo = ownProperty(message, "type_info");
    if (isPlainObject(typeInfo)) {
        return { typeInfo, warnings: [] };
    }
    const warning: TypeInfoWarning = {
        code: "missing-type-info",
        path: "type_info",
        message:
            "The message has no type_info, so its select ids stay unchanged. Only rule messages (ActionDataDTO) " +
            "carry type_info; function messages (FunctionDataDTO) already give names in their inputs.",
    };
    return { typeInfo: undefined, warnings: [warning] };
}

/** Turns one field's ids into labels and reports the ids without one. */
function labelSlot(slot: FieldSlot, warnings: TypeInfoWarning[]): FieldLabels {
    const translation = translateIds(slot.values, slot.value);
    reportUnmatched(slot, translation.unmatched, warnings);
    // A value that is neither an id nor a list of ids passes through unchanged, so odd data may
    // put other JSON values here. The warning above names them.
    return translation.value as FieldLabels;
}

function reportUnmatched(slot: FieldSlot, unmatched: readonly unknown[], warnings: TypeInfoWarning[]): void {
    if (unmatched.length > 0) {
        warnings.push(unknownIdWarning(slot.path.join("."), slot.type, slot.field, unmatched));
    }
}

function missingFieldWarning(message: RuleMessage, root: string, path: string, field: string): TypeInfoWarning {
    const object = ownProperty(message, root);
    let detail = `The message has no ${path}.`;
    if (!isPlainObject(object)) {
        detail = `The message's ${root} is ${formatValue(object ?? null)}, so it has no ${path}.`;
    } else if (isPlainObject(object.properties) && Object.hasOwn(object.properties, field)) {
        detail += ` Custom fields sit under ${root}.properties: use ${root}.properties.${field}.`;
    }
    return { code: "missing-field", path, message: detail };
}

function readPath(root: unknown, keys: readonly string[]): unknown {
    let current = root;
    for (const key of keys) {
        current = ownProperty(current, key);
    }
    return current;
}

function setInTree(tree: LabelTree, path: readonly string[], value: FieldLabels): void {
    let node = tree;
    for (const key of path.slice(0, -1)) {
        let child = ownProperty(node, key);
        if (!isPlainObject(child)) {
            child = {};
            setOwnProperty(node, key, child);
        }
        node = child as LabelTree;
    }
    setOwnProperty(node, path[path.length - 1], value);
}

function copyList(value: unknown): unknown {
    return Array.isArray(value) ? [...value] : value;
}

/**
 * Writes values at paths of a message. Without `mutate` it copies each
 * object on the way to a changed field once and leaves the original alone,
 * so untouched branches stay shared.
 */
class PathWriter {
    public root: Record<string, unknown>;
    public changed = false;
    private readonly mutate: boolean;
    private readonly copies = new Set<object>();

    public constructor(root: Record<string, unknown>, mutate: boolean) {
        this.root = root;
        this.mutate = mutate;
    }

    /** Sets `value` at `path`; every object on the path must exist, as `collectSlots` guarantees. */
    public set(path: readonly string[], value: unknown): void {
        this.root = this.writable(this.root);
        let container = this.root;
        for (const key of path.slice(0, -1)) {
            const child = this.writable(container[key] as Record<string, unknown>);
            if (child !== container[key]) {
                setOwnProperty(container, key, child);
            }
            container = child;
        }
        setOwnProperty(container, path[path.length - 1], value);
        this.changed = true;
    }

    private writable(object: Record<string, unknown>): Record<string, unknown> {
        if (this.mutate || this.copies.has(object)) {
            return object;
        }
        const copy = { ...object };
        this.copies.add(copy);
        return copy;
    }
}
