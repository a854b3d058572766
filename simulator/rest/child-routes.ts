import { randomUUID } from "node:crypto";
import { HttpError, InvalidRequestError, NotFoundError } from "../errors";
import type { Incident, JsonObject } from "../model";
import { Router, sendJson } from "../router";
import type { PlatformState } from "../state";
import type { Principal } from "./auth";
import { idParam, readJsonObject, restHandler, type RestCall, type RestDependencies } from "./context";
import { formatObject, toStoredValue } from "./fields";
import { parseMultipart } from "./multipart";

/** Maximum attachment size, as the platform's `max_attachment_mb` default (25 MB). */
export const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;

/** Attachment bytes, keyed by the stored attachment object. */
const attachmentContents = new WeakMap<JsonObject, Buffer>();

/** Returns the name parts the platform stores with a note or task for the caller. */
function author(state: PlatformState, principal: Principal): { id: number; fname: string; lname: string } {
    if (principal.kind === "apikey") {
        return { id: principal.key.handle, fname: principal.key.displayName, lname: "" };
    }
    const user = state.user(principal.user.id);
    return { id: user.id, fname: user.fname, lname: user.lname };
}

function list(store: Map<number, JsonObject[]>, incidentId: number): JsonObject[] {
    let entries = store.get(incidentId);
    if (!entries) {
        entries = [];
        store.set(incidentId, entries);
    }
    return entries;
}

function textContent(value: unknown, what: string): string {
    if (typeof value === "string") {
        return value;
    }
    if (typeof value === "object" && value !== null && typeof (value as JsonObject).content === "string") {
        return (value as JsonObject).content as string;
    }
    throw new InvalidRequestError(`${what} must be a string or {"format": "text"|"html", "content": "..."}.`);
}

/** Builds a note (`CommentDTO`) by the caller on an incident, or on one of its tasks when `task` is given. */
function newComment(state: PlatformState, principal: Principal, incident: Incident, text: string, parentId: unknown, task?: JsonObject): JsonObject {
    const writer = author(state, principal);
    const now = Date.now();
    return {
        id: state.allocateObjectId(),
        parent_id: parentId,
        user_id: writer.id,
        user_fname: writer.fname,
        user_lname: writer.lname,
        text,
        create_date: now,
        modify_date: now,
        modify_user: { id: writer.id, first_name: writer.fname, last_name: writer.lname },
        children: [],
        mentioned_users: [],
        comment_perms: { update: true, delete: true },
        is_deleted: false,
        actions: [],
        inc_id: incident.id,
        inc_name: incident.name,
        task_id: task ? task.id : null,
        task_name: task ? task.name : null,
        type: task ? "task" : "incident",
        inc_owner: incident.owner_id ?? null,
    };
}

/** Adds the routes for an incident's notes, artifacts, attachments and tasks. */
export function addChildRoutes(router: Router, deps: RestDependencies): void {
    const { state } = deps;
    const incidentOf = (call: RestCall): Incident => state.incident(call.orgId, idParam(call, "id"));

    router.add("GET", "/rest/orgs/:org/incidents/:id/comments", restHandler(deps, (call) => {
        const incident = incidentOf(call);
        const all = list(state.comments, incident.id).map((comment) => formatObject(state.catalog.note, comment, call.handles, call.text));
        type Node = JsonObject & { children: JsonObject[] };
        const byId = new Map<unknown, Node>(all.map((comment) => [comment.id, { ...comment, children: [] }]));
        const roots: JsonObject[] = [];
        for (const comment of byId.values()) {
            const parent = comment.parent_id === null ? undefined : byId.get(comment.parent_id);
            if (parent) {
                parent.children.push(comment);
            } else {
                roots.push(comment);
            }
        }
        sendJson(call.context.res, 200, roots);
    }));

    router.add("POST", "/rest/orgs/:org/incidents/:id/comments", restHandler(deps, async (call) => {
        const incident = incidentOf(call);
        const body = await readJsonObject(call);
        const comments = list(state.comments, incident.id);
        const parentId = body.parent_id ?? null;
        if (parentId !== null && !comments.some((comment) => comment.id === parentId)) {
            throw new NotFoundError(`Unable to find object with ID ${JSON.stringify(parentId)}`);
        }
        const comment = newComment(state, call.principal, incident, textContent(body.text, '"text"'), parentId);
        comments.push(comment);
        sendJson(call.context.res, 200, formatObject(state.catalog.note, comment, call.handles, call.text));
    }));

    router.add("GET", "/rest/orgs/:org/incidents/:id/artifacts", restHandler(deps, (call) => {
        const incident = incidentOf(call);
        const artifacts = list(state.artifacts, incident.id).map((artifact) => formatObject(state.catalog.artifact, artifact, call.handles, call.text));
        sendJson(call.context.res, 200, artifacts);
    }));

    router.add("GET", "/rest/orgs/:org/incidents/:id/artifacts/:artifact", restHandler(deps, (call) => {
        const incident = incidentOf(call);
        const artifact = state.childObject("artifacts", incident.id, idParam(call, "artifact"));
        if (!artifact) {
            throw new NotFoundError(`Unable to find object with ID ${call.context.params.artifact}`);
        }
        sendJson(call.context.res, 200, formatObject(state.catalog.artifact, artifact, call.handles, call.text));
    }));

    router.add("POST", "/rest/orgs/:org/incidents/:id/artifacts", restHandler(deps, async (call) => {
        const incident = incidentOf(call);
        const body = await readJsonObject(call);
        if (typeof body.value !== "string" || body.value === "") {
            throw new InvalidRequestError('A new artifact needs a "value" string.');
        }
        if (body.type === undefined || body.type === null) {
            throw new InvalidRequestError('A new artifact needs a "type", as an artifact type id or name.');
        }
        const writer = author(state, call.principal);
        const artifact: JsonObject = {
            id: state.allocateObjectId(),
            type: toStoredValue(state.catalog.artifact.fields.type, body.type),
            value: body.value,
            description: body.description === undefined || body.description === null ? null : textContent(body.description, '"description"'),
            creator: { id: writer.id, fname: writer.fname, lname: writer.lname },
            hits: [],
            attachment: null,
            parent_id: null,
            inc_id: incident.id,
            inc_name: incident.name,
            inc_owner: incident.owner_id ?? null,
            created: Date.now(),
            pending_sources: [],
            perms: { read: true, write: true, delete: true },
            properties: null,
            location: null,
            whois: null,
            actions: [],
            relating: body.relating ?? null,
        };
        list(state.artifacts, incident.id).push(artifact);
        // The platform returns a list: the new artifact plus any it derived from it (none here).
        sendJson(call.context.res, 200, [formatObject(state.catalog.artifact, artifact, call.handles, call.text)]);
    }));

    router.add("GET", "/rest/orgs/:org/incidents/:id/attachments", restHandler(deps, (call) => {
        sendJson(call.context.res, 200, list(state.attachments, incidentOf(call).id));
    }));

    router.add("POST", "/rest/orgs/:org/incidents/:id/attachments", restHandler(deps, async (call) => {
        const incident = incidentOf(call);
        let body: Buffer;
        try {
            body = await call.context.body(MAX_ATTACHMENT_BYTES + 64 * 1024);
        } catch (error) {
            throw new HttpError(413, `The attachment is larger than the platform's limit of ${MAX_ATTACHMENT_BYTES / 1024 / 1024} MB: ${(error as Error).message}`);
        }
        const file = parseMultipart(call.context.req.headers["content-type"], body).find((part) => part.name === "file");
        if (!file) {
            throw new InvalidRequestError('The multipart body needs a part named "file".');
        }
        const writer = author(state, call.principal);
        const attachment: JsonObject = {
            type: "incident",
            id: state.allocateObjectId(),
            uuid: randomUUID(),
            name: file.filename ?? "upload",
            content_type: file.contentType,
            created: Date.now(),
            creator_id: writer.id,
            size: file.data.length,
            actions: [],
            task_id: null,
            task_name: null,
            task_custom: null,
            task_members: null,
            task_at_id: null,
            vers: incident.vers,
            inc_id: incident.id,
            inc_name: incident.name,
            inc_owner: incident.owner_id ?? null,
        };
        attachmentContents.set(attachment, Buffer.from(file.data));
        list(state.attachments, incident.id).push(attachment);
        sendJson(call.context.res, 200, attachment);
    }));

    router.add("GET", "/rest/orgs/:org/incidents/:id/attachments/:attachment/contents", restHandler(deps, (call) => {
        const incident = incidentOf(call);
        const attachment = state.childObject("attachments", incident.id, idParam(call, "attachment"));
        const contents = attachment ? attachmentContents.get(attachment) : undefined;
        if (!attachment || !contents) {
            throw new NotFoundError(`Unable to find object with ID ${call.context.params.attachment}`);
        }
        call.context.res.writeHead(200, {
            "Content-Type": String(attachment.content_type),
            "Content-Length": contents.length,
            "Content-Disposition": `attachment; filename="${String(attachment.name).replace(/"/g, "")}"`,
        });
        call.context.res.end(contents);
    }));

    router.add("GET", "/rest/orgs/:org/incidents/:id/tasks", restHandler(deps, (call) => {
        const tasks = list(state.tasks, incidentOf(call).id).map((task) => formatObject(state.catalog.task, task, call.handles, call.text));
        sendJson(call.context.res, 200, tasks);
    }));

    router.add("POST", "/rest/orgs/:org/incidents/:id/tasks", restHandler(deps, async (call) => {
        const incident = incidentOf(call);
        const body = await readJsonObject(call);
        if (typeof body.name !== "string" || body.name.trim() === "") {
            throw new InvalidRequestError('A new task needs a "name".');
        }
        const fields = state.catalog.task.fields;
        const writer = author(state, call.principal);
        const ownerId = toStoredValue(fields.owner_id, body.owner_id ?? null);
        const owner = typeof ownerId === "number" ? state.users.get(ownerId) : undefined;
        const task: JsonObject = {
            id: state.allocateObjectId(),
            name: body.name,
            inc_id: incident.id,
            inc_name: incident.name,
            inc_owner_id: incident.owner_id ?? null,
            status: "O",
            active: true,
            required: body.required === true,
            frozen: false,
            private: false,
            custom: true,
            phase_id: toStoredValue(fields.phase_id, body.phase_id ?? incident.phase_id ?? null),
            category_id: null,
            cat_name: null,
            owner_id: ownerId,
            owner_fname: owner?.fname ?? null,
            owner_lname: owner?.lname ?? null,
            due_date: body.due_date ?? null,
            init_date: Date.now(),
            closed_date: null,
            instr_text: body.instr_text === undefined || body.instr_text === null ? "" : textContent(body.instr_text, '"instr_text"'),
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
            creator_principal: { id: writer.id, type: call.principal.kind === "apikey" ? "apikey" : "user", name: writer.fname, display_name: `${writer.fname} ${writer.lname}`.trim() },
            src_name: null,
            user_notes: null,
            inc_training: false,
        };
        list(state.tasks, incident.id).push(task);
        // The platform returns only the new id (`IdentifierDTO`).
        sendJson(call.context.res, 200, { id: task.id });
    }));

    /** Finds the task of the path in the call's org, with its incident, or throws 404. */
    const taskOf = (call: RestCall): { incident: Incident; task: JsonObject } => {
        const taskId = idParam(call, "task");
        for (const [incidentId, tasks] of state.tasks) {
            const task = tasks.find((entry) => entry.id === taskId);
            const incident = state.incidents.get(incidentId);
            if (task && incident?.org_id === call.orgId) {
                return { incident, task };
            }
        }
        throw new NotFoundError(`Unable to find object with ID ${taskId.toLocaleString("en-US")}`);
    };

    router.add("GET", "/rest/orgs/:org/tasks/:task", restHandler(deps, (call) => {
        sendJson(call.context.res, 200, formatObject(state.catalog.task, taskOf(call).task, call.handles, call.text));
    }));

    // The simulator keeps a task's notes in the TaskDTO's `notes` list, apart from the incident's own notes.
    router.add("GET", "/rest/orgs/:org/tasks/:task/comments", restHandler(deps, (call) => {
        const notes = (taskOf(call).task.notes as JsonObject[]).map((note) => formatObject(state.catalog.note, note, call.handles, call.text));
        sendJson(call.context.res, 200, notes);
    }));

    router.add("POST", "/rest/orgs/:org/tasks/:task/comments", restHandler(deps, async (call) => {
        const { incident, task } = taskOf(call);
        const body = await readJsonObject(call);
        const notes = task.notes as JsonObject[];
        const parentId = body.parent_id ?? null;
        if (parentId !== null && !notes.some((note) => note.id === parentId)) {
            throw new NotFoundError(`Unable to find object with ID ${JSON.stringify(parentId)}`);
        }
        const note = newComment(state, call.principal, incident, textContent(body.text, '"text"'), parentId, task);
        notes.push(note);
        task.notes_count = notes.length;
        sendJson(call.context.res, 200, formatObject(state.catalog.note, note, call.handles, call.text));
    }));
}
