/** Records the simulator keeps, shaped like the platform's DTOs where processors see them. */

/** JSON object as read from or written to the wire. */
export type JsonObject = Record<string, unknown>;

/** An organization; `enabled: false` orgs are listed by `GET /rest/session` but refuse access. */
export interface Org {
    id: number;
    name: string;
    uuid: string;
    cloud_account: string | null;
    enabled: boolean;
    /** Idle time after which a session expires, in seconds. */
    session_timeout: number;
}

/** A platform user who can log in with email and password. */
export interface PlatformUser {
    id: number;
    fname: string;
    lname: string;
    email: string;
    orgIds: number[];
}

/** An API key account; REST calls carry it as HTTP Basic `keyId:secret`. */
export interface ApiKey {
    keyId: string;
    secret: string;
    /** Principal id, reported as `api_key_handle`. */
    handle: number;
    displayName: string;
    orgIds: number[];
}

/** A message destination (`MessageDestinationDTO`) plus the org it belongs to. */
export interface MessageDestination {
    id: number;
    org_id: number;
    name: string;
    programmatic_name: string;
    /** 0 queue, 1 topic. */
    destination_type: 0 | 1;
    expect_ack: boolean;
    users: number[];
    api_keys: number[];
    uuid: string | null;
    export_key: string;
}

/** A condition of an automatic rule, as in `ActionDTO.conditions`. */
export interface RuleCondition {
    field_name: string | null;
    method: string;
    value: unknown;
    type: null;
    evaluation_id: null;
}

/** A field shown in a menu-item rule's dialog (`view_items`). */
export interface ViewItem {
    element: "field";
    field_type: string;
    content: string;
    show_if: null;
    step_label: null;
}

/** A rule (`ActionDTO`) plus the org it belongs to. */
export interface Rule {
    id: number;
    org_id: number;
    name: string;
    /** 0 automatic, 1 manual (menu item). */
    type: 0 | 1;
    /** 0 incident, 1 task, 2 note, 3 milestone, 4 artifact, 5 attachment. */
    object_type: number;
    conditions: RuleCondition[];
    logic_type: "all" | "any";
    message_destinations: number[];
    view_items: ViewItem[];
    timeout_seconds: number;
    enabled: boolean;
    uuid: string | null;
    export_key: string;
    /** Incident operations that fire an automatic rule; not part of the platform's DTO. */
    operations: Array<"created" | "modified">;
}

/** A workflow reference as function messages carry it. */
export interface WorkflowRef {
    workflow_id: number;
    programmatic_name: string;
    name: string;
    description: string | null;
    object_type: { id: number; name: string };
    actions: unknown[];
    tags: unknown[];
    uuid: string | null;
}

/** A function definition plus the org, destination and workflow it runs with. */
export interface FunctionDef {
    id: number;
    org_id: number;
    name: string;
    display_name: string;
    description: string | null;
    /** Id of the message destination the function's messages go to. */
    destination_handle: number;
    /** Input field names, defined in the catalog's `__function` type. */
    inputs: string[];
    workflow: WorkflowRef;
    uuid: string | null;
}

/** An incident (`FullIncidentDataDTO`); other keys are kept as the seed or the caller gave them. */
export interface Incident extends JsonObject {
    id: number;
    org_id: number;
    vers: number;
    name: string;
    properties: JsonObject;
}

/** The object-type numbers of the Action Module. */
export const OBJECT_TYPES: Record<number, string> = {
    0: "incident",
    1: "task",
    2: "note",
    3: "milestone",
    4: "artifact",
    5: "attachment",
    13: "email message",
};
