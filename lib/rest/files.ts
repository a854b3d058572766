import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

import type { RestClient } from "./client";

/** Options of `uploadAttachment`. */
export interface UploadAttachmentOptions {
    incidentId: number;
    /** Attach to this task of the incident instead of the incident itself. */
    taskId?: number;
    /** File name shown on the platform, default the base name of `data` when it is a path. */
    fileName?: string;
    /** MIME type of the file, default `application/octet-stream`. */
    contentType?: string;
    /** File content, or the path of a file to read. */
    data: Buffer | string;
    contextToken?: string;
}

/** The platform's `AttachmentDTO`, with the fields processors usually read. */
export interface AttachmentInfo {
    id: number;
    name: string;
    content_type?: string;
    size?: number;
    type?: string;
    inc_id?: number;
    task_id?: number | null;
    vers?: number;
    [key: string]: unknown;
}

/** Options of `createArtifact`. */
export interface CreateArtifactOptions {
    incidentId: number;
    /** Artifact type id, or its name such as `"IP Address"`. */
    type: number | string;
    value: string;
    /** Plain text, or `{format: "text" | "html", content}`. */
    description?: string | { format: "text" | "html"; content: string };
    contextToken?: string;
}

/** The platform's `IncidentArtifactDTO`, with the fields processors usually read. */
export interface ArtifactInfo {
    id: number;
    type: number | string;
    value: string;
    description?: unknown;
    inc_id?: number;
    [key: string]: unknown;
}

/**
 * Uploads a file to `/incidents/<id>/attachments`, or to
 * `/tasks/<taskId>/attachments` when `taskId` is set, as
 * `multipart/form-data` with the file in part `file`. Returns the
 * platform's `AttachmentDTO`. The body is built in memory, so a retry
 * (only before the request reached the server, as for any POST) sends the
 * same bytes.
 */
export async function uploadAttachment(client: RestClient, options: UploadAttachmentOptions): Promise<AttachmentInfo> {
    const content = typeof options.data === "string" ? await readFile(options.data) : options.data;
    const fileName = options.fileName ?? (typeof options.data === "string" ? basename(options.data) : undefined);
    if (!fileName) {
        throw new Error("uploadAttachment needs a fileName when the data is a Buffer.");
    }
    const path = options.taskId !== undefined ? `/tasks/${options.taskId}/attachments` : `/incidents/${options.incidentId}/attachments`;
    const form = buildMultipart([{ name: "file", fileName, contentType: options.contentType ?? "application/octet-stream", data: content }]);

    const response = await client.request<AttachmentInfo | AttachmentInfo[]>({
        method: "POST",
        path,
        headers: { "content-type": form.contentType },
        body: form.body,
        contextToken: options.contextToken,
    });
    // Some platform versions wrap the new attachment in a list.
    return Array.isArray(response.body) ? response.body[0] : response.body;
}

/**
 * Creates an artifact with `POST /incidents/<id>/artifacts`. Returns the
 * platform's response, an array holding the new artifact and any artifacts
 * the platform derived from it.
 */
export async function createArtifact(client: RestClient, options: CreateArtifactOptions): Promise<ArtifactInfo[]> {
    const body: Record<string, unknown> = { type: options.type, value: options.value };
    if (options.description !== undefined) {
        body.description = options.description;
    }
    const response = await client.request<ArtifactInfo[] | ArtifactInfo>({
        method: "POST",
        path: `/incidents/${options.incidentId}/artifacts`,
        body,
        contextToken: options.contextToken,
    });
    return Array.isArray(response.body) ? response.body : [response.body];
}

/** One part of a multipart body. */
export interface MultipartPart {
    name: string;
    fileName?: string;
    contentType?: string;
    data: Buffer | string;
}

/**
 * Builds a `multipart/form-data` body (RFC 7578). Quotes and line breaks in
 * names are percent-encoded as browsers do. Non-ASCII file names are sent as
 * UTF-8.
 */
export function buildMultipart(parts: MultipartPart[]): { contentType: string; body: Buffer } {
    const boundary = `----node-red-resilient-${randomBytes(12).toString("hex")}`;
    const chunks: Buffer[] = [];
    for (const part of parts) {
        let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeQuoted(part.name)}"`;
        if (part.fileName !== undefined) {
            head += `; filename="${escapeQuoted(part.fileName)}"`;
        }
        head += "\r\n";
        if (part.contentType) {
            head += `Content-Type: ${part.contentType.replace(/[\r\n]/g, "")}\r\n`;
        }
        head += "\r\n";
        chunks.push(Buffer.from(head, "utf8"), Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data, "utf8"), Buffer.from("\r\n"));
    }
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(chunks) };
}

function escapeQuoted(value: string): string {
    return value.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}
