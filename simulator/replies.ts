import type { Reply } from "./invocations";

/**
 * Parses a reply frame the way the platform reads it: a JSON object with
 * `message_type` is an ActionAcknowledgementDTO, anything else is a text
 * reply. A text reply is complete unless its `Co3InvocationComplete` header
 * is `false`.
 */
export function parseReply(headers: Record<string, string>, body: string, receivedAt = Date.now()): Reply {
    const base = { receivedAt, headers: { ...headers }, body };
    const parsed = parseJsonObject(body);
    if (!parsed || !("message_type" in parsed)) {
        return {
            ...base,
            format: "text",
            messageType: 0,
            text: body,
            complete: headers.Co3InvocationComplete?.toLowerCase() !== "false",
        };
    }

    const reply: Reply = {
        ...base,
        format: "json",
        messageType: null,
        text: typeof parsed.message === "string" ? parsed.message : "",
        complete: false,
    };
    const messageType = parsed.message_type;
    if (messageType !== 0 && messageType !== 1 && messageType !== 2) {
        reply.problem = `message_type must be 0, 1 or 2, not ${JSON.stringify(messageType)}`;
        return reply;
    }
    if (typeof parsed.complete !== "boolean") {
        reply.problem = `complete must be true or false, not ${JSON.stringify(parsed.complete)}`;
        return reply;
    }
    if (parsed.message !== undefined && parsed.message !== null && typeof parsed.message !== "string") {
        reply.problem = `message must be a string, not ${JSON.stringify(parsed.message)}`;
        return reply;
    }
    reply.messageType = messageType;
    reply.complete = parsed.complete;
    if ("results" in parsed) {
        reply.results = parsed.results;
    }
    return reply;
}

function parseJsonObject(body: string): Record<string, unknown> | undefined {
    const trimmed = body.trim();
    if (!trimmed.startsWith("{")) {
        return undefined;
    }
    try {
        const value: unknown = JSON.parse(trimmed);
        return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
        return undefined;
    }
}
