/** Builds the body of `GET /rest/const`, with the keys processors read. */
export function platformConstants(): Record<string, unknown> {
    const pairs = (entries: Array<[number | string, string]>): Array<{ id: number | string; name: string }> =>
        entries.map(([id, name]) => ({ id, name }));
    return {
        server_version: { major: 51, minor: 0, build_number: 0, version: "51.0.0.0.0", v: 51, r: 0, m: 0, f: 0 },
        incident_statuses: pairs([["A", "Active"], ["C", "Closed"]]),
        task_statuses: pairs([["O", "Open"], ["C", "Closed"]]),
        crime_statuses: pairs([[1, "Unknown"], [2, "No"], [3, "Yes"]]),
        harm_statuses: pairs([[1, "Unknown"], [2, "No"], [3, "Yes"]]),
        max_artifact_mb: 25,
        max_attachment_mb: 25,
        max_artifacts: 500,
        max_img_mb: 5,
        max_page_size: 100,
        min_session_timeout: 300,
        max_session_timeout: 86400,
        action_types: pairs([[0, "Automatic"], [1, "Manual"]]),
        action_object_types: pairs([[0, "Incident"], [1, "Task"], [2, "Note"], [3, "Milestone"], [4, "Artifact"], [5, "Attachment"], [13, "Email Message"]]),
        message_destination_types: pairs([[0, "Queue"], [1, "Topic"]]),
        actions_framework: {
            action_invocation_statuses: pairs([[0, "Complete"], [1, "Pending"], [2, "Error"], [3, "Timed Out"]]),
            action_invocation_message_types: pairs([[0, "Information"], [1, "Error"], [2, "Warning"]]),
            destination_types: pairs([[0, "Queue"], [1, "Topic"]]),
            action_object_types: pairs([[0, "Incident"], [1, "Task"], [2, "Note"], [3, "Milestone"], [4, "Artifact"], [5, "Attachment"], [13, "Email Message"]]),
        },
    };
}
