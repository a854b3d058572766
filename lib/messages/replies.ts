import * as os from "node:os";

import { describeSchemaErrors, validateReply } from "./schemas";

/** `message_type` of a reply: 0 information, 1 error, 2 warning. */
export const MessageType = { Information: 0, Error: 1, Warning: 2 } as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

/** A reply the flow wants to send for an invocation. */
export interface ReplyRequest {
    messageType: MessageTypeValue;
    message: string;
    /** True for the one reply that finishes the invocation. */
    complete: boolean;
    /** Function results; sent as `results` of a JSON reply. */
    results?: unknown;
    /** `text` sends a plain-text body with the `Co3InvocationComplete` header instead of JSON. */
    format?: "json" | "text";
}

/** A STOMP SEND ready to go out: destination, headers and body. */
export interface OutboundFrame {
    destination: string;
    headers: Record<string, string>;
    body: string;
}

/**
 * Builds the SEND frame of a reply. The frame is persistent because ActiveMQ
 * drops non-persistent messages on restart, and a lost reply leaves the
 * invocation Pending on the platform.
 */
export function buildReplyFrame(replyTo: string, correlationId: string, request: ReplyRequest): OutboundFrame {
    const headers: Record<string, string> = {
        "correlation-id": correlationId,
        persistent: "true",
    };
    if (request.format === "text") {
        if (request.messageType !== MessageType.Information) {
            throw new TypeError("A plain-text reply can only carry an information message; use JSON for errors and warnings.");
        }
        headers.Co3InvocationComplete = request.complete ? "true" : "false";
        return { destination: replyTo, headers, body: request.message };
    }

    headers["content-type"] = "application/json";
    const body: Record<string, unknown> = {
        message_type: request.messageType,
        message: request.message,
        complete: request.complete,
    };
    if (request.results !== undefined) {
        body.results = request.results;
    }
    if (!validateReply(body)) {
        throw new TypeError(`The reply is invalid: ${describeSchemaErrors(validateReply.errors)}.`);
    }
    let text: string;
    try {
        text = JSON.stringify(body);
    } catch (error) {
        throw new TypeError(
            `The function results cannot be sent as JSON (${(error as Error).message}); remove circular references and BigInt values.`,
        );
    }
    return { destination: replyTo, headers, body: text };
}

/** Fields IBM's Python framework puts around a function's value; workflows read `results.content`. */
export interface WrappedResults {
    version: 2.0;
    success: boolean;
    reason: string | null;
    content: unknown;
    raw: null;
    inputs: unknown;
    metrics: {
        version: "1.0";
        package: string;
        package_version: string;
        host: string;
        execution_time_ms: number;
        timestamp: string;
    };
}

/**
 * Wraps a function's value the way IBM apps do, so that workflows and
 * playbooks written for those apps find it under `results.content`.
 */
export function wrapResults(
    content: unknown,
    details: { inputs: unknown; startedAt: number; success?: boolean; reason?: string | null; packageName: string; packageVersion: string; now?: Date },
): WrappedResults {
    const now = details.now ?? new Date();
    return {
        version: 2.0,
        success: details.success ?? true,
        reason: details.reason ?? null,
        content,
        raw: null,
        inputs: details.inputs,
        metrics: {
            version: "1.0",
            package: details.packageName,
            package_version: details.packageVersion,
            host: os.hostname(),
            execution_time_ms: Math.max(0, now.getTime() - details.startedAt),
            timestamp: formatLocalTimestamp(now),
        },
    };
}

/** Formats a date as `YYYY-MM-DD HH:MM:SS` in local time, the form IBM apps use in metrics. */
function formatLocalTimestamp(date: Date): string {
    const pad = (value: number) => String(value).padStart(2, "0");
    return (
        `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
        `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
    );
}
