/**
 * Type and field definitions of the simulated org, shaped like the
 * platform's `TypeDTO` and `FieldDefDTO` (`GET /rest/orgs/<id>/types`).
 * Messages take their `type_info` labels from here.
 */

/** One select value of a field (`FieldDefValueDTO`); `value` is the id. */
export interface FieldValue {
    value: number | string;
    label: string;
    enabled: boolean;
    default: boolean;
    hidden: boolean;
    properties: null;
    uuid: string | null;
}

/** A field definition (`FieldDefDTO`), trimmed to the keys processors read. */
export interface FieldDef {
    id: number;
    name: string;
    text: string;
    prefix: "properties" | null;
    type_id: number;
    input_type: string;
    required?: "always" | "close";
    blank_option: boolean;
    chosen: boolean;
    default_chosen_by_server: boolean;
    internal: boolean;
    read_only: boolean;
    changeable: boolean;
    rich_text: boolean;
    hide_notification: boolean;
    placeholder: string;
    tooltip: string;
    uuid: string | null;
    export_key: string;
    operations: string[];
    values: FieldValue[];
    templates: unknown[];
    deprecated: boolean;
    tags: unknown[];
    calculated: boolean;
    is_tracked: boolean;
    allow_default_value: boolean;
}

/** A type definition (`TypeDTO`) with its fields by name. */
export interface TypeDef {
    id: number;
    type_id: number;
    type_name: string;
    display_name: string;
    fields: Record<string, FieldDef>;
    properties: { can_create: boolean; can_destroy: boolean; for_who: unknown[] };
    parent_types: string[];
    for_notifications: boolean;
    for_actions: boolean;
    for_custom_fields: boolean;
    for_workflows: boolean;
    uuid: string | null;
    actions: unknown[];
    scripts: unknown[];
    tags: unknown[];
}

/** Input types whose values are ids of select values (one id or a list of ids). */
export const SELECT_INPUT_TYPES = new Set(["select", "multiselect", "select_owner", "multiselect_members"]);

/** Returns true when a field contains a list of ids rather than one id. */
export function isMultiValued(field: FieldDef): boolean {
    return field.input_type === "multiselect" || field.input_type === "multiselect_members";
}

const SELECT_OPERATIONS = ["equals", "not_equals", "in", "not_in", "changed", "changed_to", "not_changed_to", "has_a_value", "not_has_a_value"];
const TEXT_OPERATIONS = ["equals", "not_equals", "contains", "not_contains", "changed", "changed_to", "has_a_value", "not_has_a_value"];

interface FieldSpec {
    id: number;
    name: string;
    text: string;
    input_type: string;
    custom?: boolean;
    required?: "always" | "close";
    rich_text?: boolean;
    read_only?: boolean;
    tooltip?: string;
    /** Select values as `[id, label]` or `[id, label, {default, enabled}]`. */
    values?: Array<[number | string, string] | [number | string, string, { default?: boolean; enabled?: boolean }]>;
}

function makeField(typeName: string, typeId: number, spec: FieldSpec): FieldDef {
    const field: FieldDef = {
        id: spec.id,
        name: spec.name,
        text: spec.text,
        prefix: spec.custom ? "properties" : null,
        type_id: typeId,
        input_type: spec.input_type,
        blank_option: false,
        chosen: false,
        default_chosen_by_server: false,
        internal: !spec.custom,
        read_only: spec.read_only ?? false,
        changeable: !spec.read_only,
        rich_text: spec.rich_text ?? false,
        hide_notification: false,
        placeholder: "",
        tooltip: spec.tooltip ?? "",
        uuid: null,
        export_key: `${typeName}/${spec.name}`,
        operations: SELECT_INPUT_TYPES.has(spec.input_type) ? SELECT_OPERATIONS : TEXT_OPERATIONS,
        values: (spec.values ?? []).map(([value, label, flags]) => ({
            value,
            label,
            enabled: flags?.enabled ?? true,
            default: flags?.default ?? false,
            hidden: false,
            properties: null,
            uuid: null,
        })),
        templates: [],
        deprecated: false,
        tags: [],
        calculated: false,
        is_tracked: false,
        allow_default_value: false,
    };
    if (spec.required) {
        field.required = spec.required;
    }
    return field;
}

function makeType(typeName: string, typeId: number, displayName: string, specs: FieldSpec[], parents: string[] = []): TypeDef {
    const fields: Record<string, FieldDef> = {};
    for (const spec of specs) {
        fields[spec.name] = makeField(typeName, typeId, spec);
    }
    return {
        id: typeId,
        type_id: typeId,
        type_name: typeName,
        display_name: displayName,
        fields,
        properties: { can_create: false, can_destroy: false, for_who: [] },
        parent_types: parents,
        for_notifications: false,
        for_actions: typeId !== 6 && typeId !== 11,
        for_custom_fields: typeId === 0 || typeId === 6,
        for_workflows: false,
        uuid: null,
        actions: [],
        scripts: [],
        tags: [],
    };
}

/** Users that select-owner and members fields offer, as `[id, label]`. */
export const USER_VALUES: Array<[number, string]> = [
    [7, "Ada Ops (ada@example.test)"],
    [12, "Ben Night (ben@example.test)"],
    [15, "Cleo Ray (cleo@example.test)"],
];

const PHASES: Array<[number, string]> = [
    [1000, "Engage"],
    [1001, "Detect/Analyze"],
    [1004, "Respond"],
    [1005, "Post-Incident"],
];

/** Built-in artifact types (the platform's stock ids and labels). */
const ARTIFACT_TYPES: Array<[number, string]> = [
    [1, "IP Address"], [2, "DNS Name"], [3, "URL"], [4, "RFC 822 Email Message File"],
    [5, "Email Subject"], [6, "Email Body"], [7, "Email Attachment"], [8, "Email Attachment Name"],
    [9, "Email Sender"], [12, "Malware Sample"], [13, "Malware MD5 Hash"], [14, "Malware SHA-1 Hash"],
    [15, "Log File"], [16, "Other File"], [19, "Email Sender Name"], [20, "Email Recipient"],
    [22, "Malware Sample Fuzzy Hash"], [23, "User Account"], [24, "Registry Key"], [25, "System Name"],
    [26, "Process Name"], [27, "Port"], [28, "Service"], [29, "String"], [30, "Mutex"], [31, "File Name"],
    [32, "Password"], [34, "HTTP Request Header"], [35, "HTTP Response Header"],
    [36, "X509 Certificate File"], [37, "File Path"], [38, "Malware SHA-256 Hash"], [39, "MAC Address"],
    [40, "URL Referer"], [41, "User Agent"], [42, "URI Path"], [43, "Threat CVE ID"],
    [44, "Network CIDR Range"], [45, "Malware Family/Variant"], [46, "Observed Data"],
    [47, "Network Traffic"], [48, "Malware SHA-512 Hash"],
];

/** Builds the type catalog; every org of the simulator shares one copy. */
export function buildCatalog(): Record<string, TypeDef> {
    const incident = makeType("incident", 0, "Incident", [
        { id: 1236, name: "name", text: "Name", input_type: "text", required: "always" },
        { id: 1238, name: "description", text: "Description", input_type: "textarea", rich_text: true },
        { id: 1235, name: "discovered_date", text: "Date Discovered", input_type: "datetimepicker", required: "always" },
        { id: 1244, name: "create_date", text: "Date Created", input_type: "datetimepicker", read_only: true },
        { id: 1234, name: "plan_status", text: "Status", input_type: "select", values: [["A", "Active", { default: true }], ["C", "Closed"]] },
        { id: 1240, name: "phase_id", text: "Phase", input_type: "select", values: PHASES },
        {
            id: 1257, name: "severity_code", text: "Severity", input_type: "select",
            tooltip: "How bad is it compared with other events",
            values: [[50, "Low", { default: true }], [51, "Medium"], [52, "High"]],
        },
        {
            id: 1239, name: "incident_type_ids", text: "Incident Type", input_type: "multiselect",
            values: [[17, "Lost documents / files / records"], [18, "Lost PC / laptop / tablet"], [19, "Phishing"], [21, "Denial of Service"], [23, "Malware"]],
        },
        { id: 1253, name: "owner_id", text: "Owner", input_type: "select_owner", values: USER_VALUES },
        { id: 1254, name: "members", text: "Members", input_type: "multiselect_members", values: USER_VALUES },
        { id: 1241, name: "confirmed", text: "Confirmed", input_type: "boolean" },
        { id: 1270, name: "crimestatus_id", text: "Was a crime committed?", input_type: "select", values: [[1, "Unknown"], [2, "No"], [3, "Yes"]] },
        { id: 1271, name: "exposure_type_id", text: "Exposure Type", input_type: "select", values: [[1, "Unknown"], [2, "External Party"], [3, "Individual"]] },
        {
            id: 1242, name: "resolution_id", text: "Resolution", input_type: "select", required: "close",
            values: [[7, "Unresolved"], [8, "Duplicate"], [9, "Not an Issue"], [10, "Resolved"]],
        },
        { id: 1243, name: "resolution_summary", text: "Resolution Summary", input_type: "textarea", required: "close", rich_text: true },
        { id: 3027, name: "siem_offense_id", text: "SIEM offense id", input_type: "text", custom: true },
        { id: 3028, name: "vpn_gateway", text: "VPN gateway", input_type: "text", custom: true },
        { id: 3029, name: "escalated", text: "Escalated", input_type: "boolean", custom: true },
        {
            id: 3040, name: "business_unit", text: "Business unit", input_type: "select", custom: true,
            values: [[305, "Retail banking"], [306, "Corporate banking"], [307, "Wholesale (closed)", { enabled: false }]],
        },
        {
            id: 3041, name: "affected_regions", text: "Affected regions", input_type: "multiselect", custom: true,
            values: [[401, "EMEA"], [402, "Americas"], [403, "APAC"]],
        },
    ]);

    const task = makeType("task", 1, "Task", [
        { id: 1301, name: "name", text: "Name", input_type: "text", required: "always" },
        { id: 1302, name: "phase_id", text: "Phase", input_type: "select", values: PHASES },
        { id: 1303, name: "owner_id", text: "Owner", input_type: "select_owner", values: USER_VALUES },
        { id: 1304, name: "status", text: "Status", input_type: "select", values: [["O", "Open", { default: true }], ["C", "Closed"]] },
        { id: 1305, name: "instr_text", text: "Instructions", input_type: "textarea", rich_text: true },
        { id: 1306, name: "due_date", text: "Due date", input_type: "datepicker" },
    ], ["incident"]);

    const note = makeType("note", 2, "Note", [
        { id: 1401, name: "text", text: "Text", input_type: "textarea", rich_text: true },
    ], ["incident", "task"]);

    const milestone = makeType("milestone", 3, "Milestone", [
        { id: 1701, name: "title", text: "Title", input_type: "text" },
        { id: 1702, name: "date", text: "Date", input_type: "datepicker" },
    ], ["incident"]);

    const artifact = makeType("artifact", 4, "Artifact", [
        { id: 1501, name: "type", text: "Type", input_type: "select", values: ARTIFACT_TYPES },
        { id: 1502, name: "value", text: "Value", input_type: "text" },
        { id: 1503, name: "description", text: "Description", input_type: "textarea" },
    ], ["incident"]);

    const attachment = makeType("attachment", 5, "Attachment", [
        { id: 1601, name: "name", text: "Name", input_type: "text" },
    ], ["incident", "task"]);

    const actioninvocation = makeType("actioninvocation", 6, "Action invocation", [
        {
            id: 3301, name: "ticket_priority", text: "Ticket priority", input_type: "select",
            values: [[7001, "Low"], [7002, "High"], [7003, "Urgent"]],
        },
        { id: 3302, name: "ticket_note", text: "Note for the helpdesk", input_type: "text" },
        {
            id: 3303, name: "notify_teams", text: "Notify teams", input_type: "multiselect",
            values: [[901, "SOC"], [902, "Network"], [903, "Identity"]],
        },
        { id: 3304, name: "lookup_reason", text: "Reason for the lookup", input_type: "text" },
        { id: 3305, name: "account_name", text: "Account to disable", input_type: "text", tooltip: "User name in the directory, e.g. jdoe" },
    ]);

    const functionInputs = makeType("__function", 11, "Function", [
        { id: 3401, name: "incident_id", text: "Incident id", input_type: "number" },
        { id: 3402, name: "artifact_value", text: "Artifact value", input_type: "text" },
        { id: 3403, name: "verbose", text: "Verbose", input_type: "boolean" },
        { id: 3404, name: "lookup_mode", text: "Lookup mode", input_type: "select", values: [[53, "fast"], [54, "thorough"]] },
        { id: 3405, name: "sources", text: "Sources", input_type: "multiselect", values: [[55, "asset database"], [56, "SIEM"], [57, "threat feed"]] },
        { id: 3406, name: "analyst_note", text: "Analyst note", input_type: "textarea", rich_text: true },
        { id: 3407, name: "since", text: "Since", input_type: "datetimepicker" },
    ]);

    return { incident, task, note, milestone, artifact, attachment, actioninvocation, __function: functionInputs };
}

/** Finds a select value of a field by id, or by label when `allowLabel` is set. */
export function findFieldValue(field: FieldDef, handle: unknown, allowLabel = true): FieldValue | undefined {
    const byId = field.values.find((entry) => entry.value === handle);
    if (byId || !allowLabel || typeof handle !== "string") {
        return byId;
    }
    return field.values.find((entry) => entry.label === handle);
}
