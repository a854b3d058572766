/**
 * Id of a select value. Most fields use numbers; a few built-in fields use
 * letter codes, such as `plan_status` ("A" Active, "C" Closed).
 */
export type SelectId = number | string;

/**
 * One select value, as `type_info` stores it (keyed by the id as a string) and
 * as the REST API lists it under a field definition's `values`.
 */
export interface FieldValue {
    value: SelectId;
    label: string;
    enabled?: boolean;
    default?: boolean;
    hidden?: boolean;
    properties?: unknown;
    uuid?: string | null;
}

/** Type info of one field: its select values keyed by the id as a string. */
export interface TypeInfoField {
    id?: number;
    /** Empty for fields without select values, such as text fields. */
    values?: Record<string, FieldValue>;
}

/** Type info of one object type, such as `incident` or a data table. */
export interface TypeInfoType {
    type_id?: number;
    fields?: Record<string, TypeInfoField>;
}

/**
 * A rule message's `type_info`: object type name to its fields. It contains
 * labels only for the values that the message itself uses.
 */
export type TypeInfo = Record<string, TypeInfoType>;

/** One data table cell in a rule message's `row`. */
export interface DataTableCell {
    id?: string;
    row_id?: number;
    value?: unknown;
    [key: string]: unknown;
}

/** The data table row of a rule message that applies to a row. */
export interface DataTableRow {
    id?: number;
    /** Type id of the data table; `type_info.<table name>.type_id` repeats it. */
    type_id?: number;
    cells?: Record<string, DataTableCell>;
    [key: string]: unknown;
}

/** A platform object (incident, task, artifact, ...) in a rule message. */
export type PlatformObject = Record<string, unknown>;

/**
 * The parts of a rule message (ActionDataDTO) that type info applies to.
 * Every other key passes through unchanged.
 */
export interface RuleMessage {
    incident?: PlatformObject | null;
    task?: PlatformObject | null;
    artifact?: PlatformObject | null;
    note?: PlatformObject | null;
    milestone?: PlatformObject | null;
    attachment?: PlatformObject | null;
    row?: DataTableRow | null;
    /** Values of the menu-item rule's activity fields, by API name. */
    properties?: Record<string, unknown> | null;
    type_info?: TypeInfo | null;
    [key: string]: unknown;
}

/** A label, or the id itself where type info has no label for it. */
export type Label = string | number;

/**
 * Labels of one field: one label for a select, a list in the original order
 * for a multiselect, and `null` where the field is empty.
 */
export type FieldLabels = Label | Label[] | null;

/** Labels arranged like the message they came from, for example `{incident: {severity_code: "Medium"}}`. */
export interface LabelTree {
    [key: string]: FieldLabels | LabelTree;
}

/** Kinds of problems found in a message; none of them stops the conversion. */
export type TypeInfoWarningCode =
    /** The message has no `type_info` at all. */
    | "missing-type-info"
    /** A field contains ids that `type_info` has no label for, so they stay as ids. */
    | "unknown-id"
    /** The `row` names a data table that `type_info` does not identify. */
    | "unknown-table"
    /** A field or function input that the caller named is absent from the message. */
    | "missing-field"
    /** A field that a caller asked for by path has no select values in `type_info`. */
    | "not-select"
    /** A function input listed as a date contains no epoch milliseconds value. */
    | "invalid-date";

/** A problem in the data that the conversion worked around. */
export interface TypeInfoWarning {
    code: TypeInfoWarningCode;
    /** Dotted path of the field concerned, such as `incident.severity_code`; empty for the whole message. */
    path: string;
    message: string;
}

/** The part of a REST field definition (`GET .../types/<type>/fields/<field>`) that contains select values. */
export interface FieldDefinition {
    name?: string;
    values?: readonly FieldValue[];
}

/**
 * Loads the select values of one field from the platform. It may resolve to
 * the list of values or to the whole field definition that
 * `GET /rest/orgs/<org>/types/<type>/fields/<field>` returns.
 */
export type FieldValueLookup = (type: string, field: string) => Promise<readonly FieldValue[] | FieldDefinition>;

/** A select value in a function's inputs. */
export interface SelectInput {
    id: SelectId;
    name: string;
}

/** A rich-text or "text with value string" function input. */
export interface RichTextInput {
    /** "text" or "html". */
    format: string;
    content: string | null;
}

/**
 * A function message's (FunctionDataDTO) `inputs`, by API name: text as a
 * string, numbers and dates (epoch milliseconds) as numbers, booleans,
 * selects as `SelectInput`, multiselects as lists of them, and rich text as
 * `RichTextInput`.
 */
export type FunctionInputs = Record<string, unknown>;
