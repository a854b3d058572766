import { seedIncident2301, seedNote88 } from "./seed-incident";
import type { FunctionDef, Incident, JsonObject, MessageDestination, Org, PlatformUser, Rule, RuleCondition, ViewItem, WorkflowRef } from "./model";

/**
 * The data a fresh simulator starts with: two orgs a user belongs to
 * (201 "Blue Team" enabled, 202 "Red Team" disabled), one org the user is
 * not in (203), destinations, rules, a function and a few incidents.
 */
export interface SeedData {
    orgs: Org[];
    users: PlatformUser[];
    destinations: MessageDestination[];
    rules: Rule[];
    functions: FunctionDef[];
    incidents: Incident[];
    /** Notes (`CommentDTO`) by incident id. */
    comments: Map<number, JsonObject[]>;
    /** Artifacts (`IncidentArtifactDTO`) by incident id. */
    artifacts: Map<number, JsonObject[]>;
    /** Tasks (`TaskDTO`) by incident id. */
    tasks: Map<number, JsonObject[]>;
}

function org(id: number, name: string, enabled: boolean): Org {
    return {
        id,
        name,
        uuid: `4a7e2c1d-0000-4000-8000-000000000${id}`,
        cloud_account: null,
        enabled,
        session_timeout: 1200,
    };
}

function destination(id: number, orgId: number, name: string, programmaticName: string, type: 0 | 1, expectAck: boolean): MessageDestination {
    return {
        id,
        org_id: orgId,
        name,
        programmatic_name: programmaticName,
        destination_type: type,
        expect_ack: expectAck,
        users: [7],
        api_keys: [101],
        uuid: null,
        export_key: programmaticName,
    };
}

function activityField(name: string): ViewItem {
    return { element: "field", field_type: "actioninvocation", content: name, show_if: null, step_label: null };
}

function condition(fieldName: string, method: string, value: unknown = null): RuleCondition {
    return { field_name: fieldName, method, value, type: null, evaluation_id: null };
}

interface RuleSpec {
    id: number;
    orgId: number;
    name: string;
    type: 0 | 1;
    objectType: number;
    destinations: number[];
    fields?: string[];
    conditions?: RuleCondition[];
    operations?: Array<"created" | "modified">;
}

function rule(spec: RuleSpec): Rule {
    return {
        id: spec.id,
        org_id: spec.orgId,
        name: spec.name,
        type: spec.type,
        object_type: spec.objectType,
        conditions: spec.conditions ?? [],
        logic_type: "all",
        message_destinations: spec.destinations,
        view_items: (spec.fields ?? []).map(activityField),
        timeout_seconds: 86400,
        enabled: true,
        uuid: null,
        export_key: spec.name,
        operations: spec.operations ?? [],
    };
}

const ENRICH_WORKFLOW: WorkflowRef = {
    workflow_id: 3,
    programmatic_name: "wf_enrich_ip",
    name: "Enrich IP",
    description: null,
    object_type: { id: 4, name: "artifact" },
    actions: [],
    tags: [],
    uuid: null,
};

/** Builds an incident in the shape of the seeded one, with the given fields replaced. */
export function incidentLike(fields: Partial<Incident> & { id: number; org_id: number; name: string }): Incident {
    const incident = seedIncident2301();
    Object.assign(incident, {
        vers: 1,
        description: "",
        members: [],
        incident_type_ids: [],
        confirmed: false,
        properties: { siem_offense_id: null, vpn_gateway: null, escalated: false, business_unit: null, affected_regions: [] },
        actions: [],
        regulators: { ids: [] },
    });
    return Object.assign(incident, fields);
}

function artifact(id: number, incident: Incident, type: number, value: string, description: string): JsonObject {
    return {
        id,
        type,
        value,
        description,
        creator: { id: 7, fname: "Ada", lname: "Ops", email: "ada@example.test" },
        hits: [],
        attachment: null,
        parent_id: null,
        inc_id: incident.id,
        inc_name: incident.name,
        inc_owner: incident.owner_id ?? null,
        created: 1735690300000,
        pending_sources: [],
        perms: { read: true, write: true, delete: true },
        properties: null,
        location: null,
        whois: null,
        actions: [],
        relating: null,
    };
}

function task(id: number, incident: Incident, name: string, instructions: string): JsonObject {
    return {
        id,
        name,
        inc_id: incident.id,
        inc_name: incident.name,
        inc_owner_id: incident.owner_id ?? null,
        status: "O",
        active: true,
        required: false,
        frozen: false,
        private: false,
        custom: true,
        phase_id: 1004,
        category_id: null,
        cat_name: null,
        owner_id: 7,
        owner_fname: "Ada",
        owner_lname: "Ops",
        due_date: null,
        init_date: 1735690400000,
        closed_date: null,
        instr_text: instructions,
        description: "",
        members: null,
        notes: [],
        notes_count: 0,
        attachments_count: 0,
        perms: { read: true, write: true, comment: true, assign: true, close: true, change_members: true, attach_file: true, read_attachments: true, delete_attachments: true },
        actions: [],
        regs: {},
        at_id: null,
        auto_deactivate: true,
        creator_principal: { id: 7, type: "user", name: "ada@example.test", display_name: "Ada Ops" },
        src_name: null,
        user_notes: null,
        inc_training: false,
    };
}

/** Builds a fresh copy of the seed data; every simulator gets its own. */
export function buildSeed(): SeedData {
    const incident2301 = seedIncident2301();
    const incident2303 = incidentLike({
        id: 2303,
        org_id: 201,
        name: "Phishing mail reported by finance",
        description: "<div>Reported through the phishing button.</div>",
        severity_code: 50,
        phase_id: 1001,
        incident_type_ids: [19],
        discovered_date: 1735700000000,
        create_date: 1735700060000,
    });
    const incident2401 = incidentLike({
        id: 2401,
        org_id: 202,
        name: "Red Team exercise: badge cloning",
        severity_code: 52,
        phase_id: 1000,
        discovered_date: 1735710000000,
        create_date: 1735710060000,
    });

    const users: PlatformUser[] = [
        { id: 7, fname: "Ada", lname: "Ops", email: "ada@example.test", orgIds: [201, 202] },
        { id: 12, fname: "Ben", lname: "Night", email: "ben@example.test", orgIds: [201] },
        { id: 15, fname: "Cleo", lname: "Ray", email: "cleo@example.test", orgIds: [201, 203] },
    ];

    return {
        orgs: [org(201, "Blue Team", true), org(202, "Red Team", false), org(203, "Green Team", true)],
        users,
        destinations: [
            destination(1, 201, "Tickets", "ticket", 0, true),
            destination(2, 201, "Enrichment functions", "fn_enrich", 0, true),
            destination(3, 201, "Severity changes", "severity", 0, false),
            destination(4, 201, "Incident updates", "incident_updates", 0, true),
            destination(5, 201, "Broadcasts", "broadcast", 1, false),
            destination(6, 201, "Artifact lookups", "artifact_lookup", 0, true),
            destination(7, 202, "Tickets", "ticket", 0, true),
            destination(8, 201, "Account actions", "disable_account", 0, true),
            destination(9, 201, "Sandbox submissions", "sandbox", 0, true),
        ],
        rules: [
            rule({ id: 612, orgId: 201, name: "Create Ticket", type: 1, objectType: 2, destinations: [1], fields: ["ticket_priority", "ticket_note", "notify_teams"] }),
            rule({ id: 613, orgId: 201, name: "Incident modified", type: 0, objectType: 0, destinations: [4], operations: ["modified"] }),
            rule({
                id: 614, orgId: 201, name: "Severity raised to High", type: 0, objectType: 0, destinations: [3],
                operations: ["created", "modified"], conditions: [condition("incident.severity_code", "changed_to", 52)],
            }),
            rule({ id: 615, orgId: 201, name: "Broadcast incident", type: 1, objectType: 0, destinations: [5] }),
            rule({ id: 616, orgId: 201, name: "Look up artifact", type: 1, objectType: 4, destinations: [6], fields: ["lookup_reason"] }),
            rule({ id: 617, orgId: 201, name: "Ticket for task", type: 1, objectType: 1, destinations: [1], fields: ["ticket_priority"] }),
            // Fires only for new incidents that have a type, because the severity example derives the severity from the type.
            rule({
                id: 618, orgId: 201, name: "Incident created", type: 0, objectType: 0, destinations: [4],
                operations: ["created"], conditions: [condition("incident.incident_type_ids", "has_a_value")],
            }),
            rule({ id: 619, orgId: 201, name: "Disable user account", type: 1, objectType: 1, destinations: [8], fields: ["account_name"] }),
            rule({ id: 620, orgId: 201, name: "Detonate in sandbox", type: 1, objectType: 5, destinations: [9] }),
            rule({ id: 712, orgId: 202, name: "Create Ticket", type: 1, objectType: 0, destinations: [7], fields: ["ticket_priority"] }),
        ],
        functions: [
            {
                id: 3,
                org_id: 201,
                name: "enrich_ip",
                display_name: "Enrich IP address",
                description: null,
                destination_handle: 2,
                inputs: ["incident_id", "artifact_value", "verbose", "lookup_mode", "sources", "analyst_note", "since"],
                workflow: ENRICH_WORKFLOW,
                uuid: null,
            },
        ],
        incidents: [incident2301, incident2303, incident2401],
        comments: new Map([[2301, [seedNote88()]]]),
        artifacts: new Map([
            [
                2301,
                [
                    artifact(3101, incident2301, 1, "198.51.100.23", "Source of the login burst"),
                    artifact(3103, incident2301, 2, "login-portal.example.net", "Host name the VPN clients were sent to"),
                ],
            ],
            [2303, [artifact(3102, incident2303, 9, "billing@invoices.example.net", "Sender of the phishing mail")]],
        ]),
        tasks: new Map([[2301, [task(4101, incident2301, "Collect VPN logs", "Pull the gateway logs for 02:00-03:00.")]]]),
    };
}
