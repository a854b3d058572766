import type { Incident, JsonObject } from "./model";

/** Builds incident 2301 of org 201, with the values of a captured rule message. */
export function seedIncident2301(): Incident {
    return {
        "id": 2301,
        "org_id": 201,
        "vers": 5,
        "name": "Suspicious login burst on vpn-gw-2",
        "description": "<div>Seen by the SIEM at 02:14. Source 198.51.100.23</div>",
        "discovered_date": 1735690000000,
        "create_date": 1735690123000,
        "start_date": null,
        "end_date": null,
        "due_date": null,
        "inc_start": null,
        "plan_status": "A",
        "phase_id": 1004,
        "severity_code": 51,
        "owner_id": 7,
        "creator_id": 7,
        "creator": {
            "id": 7,
            "fname": "Ada",
            "lname": "Ops",
            "email": "ada@example.test",
            "status": "A",
            "locked": false,
            "is_external": false,
            "last_login": 1735600000000,
            "phone": null,
            "cell": null,
            "title": null,
            "notes": null
        },
        "members": [
            12,
            15
        ],
        "incident_type_ids": [
            19,
            23
        ],
        "confirmed": true,
        "draft": false,
        "is_scenario": false,
        "inc_training": false,
        "resolution_id": null,
        "resolution_summary": null,
        "reporter": "",
        "addr": "",
        "city": "",
        "state": null,
        "zip": "",
        "country": null,
        "crimestatus_id": 1,
        "exposure": 0,
        "exposure_type_id": 1,
        "exposure_vendor_id": null,
        "exposure_dept_id": null,
        "exposure_individual_name": "",
        "employee_involved": null,
        "data_compromised": null,
        "negative_pr_likely": null,
        "nist_attack_vectors": [],
        "jurisdiction_name": null,
        "jurisdiction_reg_id": null,
        "hard_liability": 0,
        "admin_id": null,
        "properties": {
            "siem_offense_id": "88412",
            "vpn_gateway": null,
            "escalated": true,
            "business_unit": 305,
            "affected_regions": [
                401,
                403
            ]
        },
        "pii": {
            "data_compromised": null,
            "data_contained": null,
            "data_encrypted": null,
            "data_format": null,
            "data_source_ids": [],
            "exposure": 0,
            "harmstatus_id": 2
        },
        "hipaa": {
            "hipaa_breach": null,
            "hipaa_adverse": null,
            "hipaa_misused": null,
            "hipaa_acquired": null,
            "hipaa_additional_misuse": null
        },
        "regulators": {
            "ids": [
                150
            ]
        },
        "cm": {
            "total": 0,
            "geo_counts": {},
            "unassigneds": []
        },
        "dtm": {},
        "task_changes": {
            "added": [],
            "removed": []
        },
        "perms": {
            "read": true,
            "write": true,
            "comment": true,
            "assign": true,
            "close": true,
            "change_members": true,
            "attach_file": true,
            "read_attachments": true,
            "delete_attachments": true,
            "create_milestones": true,
            "list_milestones": true,
            "create_artifacts": true,
            "list_artifacts": true,
            "delete": false
        },
        "actions": [
            {
                "id": 612,
                "name": "Create Ticket",
                "enabled": true
            }
        ],
        "artifacts": null,
        "comments": null,
        "tasks": null
    };
}

/** Builds note 88, on which the captured "Create Ticket" message was fired. */
export function seedNote88(): JsonObject {
    return {
        "id": 88,
        "parent_id": null,
        "user_id": 7,
        "user_fname": "Ada",
        "user_lname": "Ops",
        "text": "We need to collect the logs from server xyz",
        "create_date": 1735690200000,
        "modify_date": 1735690200000,
        "children": [],
        "mentioned_users": [],
        "is_deleted": false,
        "inc_id": 2301,
        "type": "incident"
    };
}
