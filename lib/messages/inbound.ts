import { describeSchemaErrors, validateActionData, validateFunctionData } from "./schemas";

/** Headers of a STOMP MESSAGE frame, already unescaped. */
export type FrameHeaders = Record<string, string>;

/** Kind of message a destination delivered: a rule action, a function call, or a control message. */
export type MessageKind = "action" | "function" | "control";

/** Reasons a message cannot be handled; each becomes an error reply and a node error. */
export type InvalidMessageCode =
    | "missing-header"
    | "invalid-encoding"
    | "invalid-json"
    | "invalid-body"
    | "unknown-payload-type";

/** Error raised for a message that cannot be handled; `code` is the reason. */
export class InvalidMessageError extends Error {
    public readonly code: InvalidMessageCode;

    public constructor(code: InvalidMessageCode, message: string) {
        super(message);
        this.name = "InvalidMessageError";
        this.code = code;
    }
}

/**
 * Invocation data carried on `msg.resilient`. Plain JSON so that it survives
 * Node-RED's message cloning; other nodes find the in-flight message again
 * through `platformId` and `messageId`.
 */
export interface InvocationInfo {
    kind: "action" | "function";
    platformId: string;
    /** Id of the `resilient-in` node whose subscription delivered the message. */
    subscription: string;
    destination: string;
    orgId: number;
    messageId: string;
    correlationId: string;
    replyTo: string;
    contextToken: string | null;
    redelivered: boolean;
    timestamp: number | null;
    actionId?: number | null;
    objectType?: number;
    functionName?: string;
    headers: FrameHeaders;
}

/** A parsed message that a flow should handle. */
export interface ParsedInvocation {
    kind: "action" | "function";
    payload: Record<string, unknown>;
    correlationId: string;
    replyTo: string;
}

/** A parsed platform control message (not an action; it gets no reply). */
export interface ParsedControl {
    kind: "control";
    payloadType: string;
}

const payloadKinds: Record<string, MessageKind> = {
    ActionDataDTO: "action",
    FunctionDataDTO: "function",
    ConnectorSubscriptionUpdateDTO: "control",
};

/**
 * Tells a rule action, a function call and a control message apart, by the
 * `Co3MessagePayload` header when present and by the body's shape otherwise.
 */
export function classifyMessage(headers: FrameHeaders, body: unknown): MessageKind {
    const payloadType = headers.Co3MessagePayload;
    if (payloadType !== undefined) {
        const kind = payloadKinds[payloadType];
        if (kind === undefined) {
            throw new InvalidMessageError(
                "unknown-payload-type",
                `Unknown Co3MessagePayload "${payloadType}"; expected ActionDataDTO or FunctionDataDTO.`,
            );
        }
        return kind;
    }
    if (isRecord(body) && "function" in body) {
        return "function";
    }
    return "action";
}

/**
 * Parses and checks one MESSAGE frame. Throws `InvalidMessageError` naming the
 * missing header or the invalid part of the body. `validUtf8: false` marks a
 * body whose bytes were not valid UTF-8 before decoding.
 */
export function parseMessage(headers: FrameHeaders, body: string, options: { validUtf8?: boolean } = {}): ParsedInvocation | ParsedControl {
    if (options.validUtf8 === false) {
        // Decoding replaced the bad bytes with U+FFFD, which would reach the flow as silently changed text.
        throw new InvalidMessageError("invalid-encoding", "The message body is not valid UTF-8; the platform always sends UTF-8 JSON.");
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(body);
    } catch (error) {
        const start = body.length > 60 ? `${body.slice(0, 60)}...` : body;
        throw new InvalidMessageError(
            "invalid-json",
            `The message body is not valid JSON (${(error as Error).message}); it starts with ${JSON.stringify(start)}.`,
        );
    }

    const kind = classifyMessage(headers, parsed);
    if (kind === "control") {
        return { kind, payloadType: headers.Co3MessagePayload ?? "" };
    }

    const correlationId = requireHeader(headers, "correlation-id");
    const replyTo = requireHeader(headers, "reply-to");

    const validate = kind === "action" ? validateActionData : validateFunctionData;
    if (!validate(parsed)) {
        const type = kind === "action" ? "rule action (ActionDataDTO)" : "function call (FunctionDataDTO)";
        throw new InvalidMessageError(
            "invalid-body",
            `The ${type} body is invalid: ${describeSchemaErrors(validate.errors)}.`,
        );
    }
    return { kind, payload: parsed as Record<string, unknown>, correlationId, replyTo };
}

/**
 * Builds the `msg.resilient` data for a parsed invocation.
 */
export function describeInvocation(
    parsed: ParsedInvocation,
    headers: FrameHeaders,
    context: { platformId: string; subscription: string; destination: string; orgId: number },
): InvocationInfo {
    const timestamp = Number.parseInt(headers.timestamp ?? "", 10);
    const info: InvocationInfo = {
        kind: parsed.kind,
        platformId: context.platformId,
        subscription: context.subscription,
        destination: context.destination,
        orgId: context.orgId,
        messageId: headers["message-id"] ?? "",
        correlationId: parsed.correlationId,
        replyTo: parsed.replyTo,
        contextToken: headers.Co3ContextToken ?? null,
        redelivered: headers.redelivered === "true",
        timestamp: Number.isFinite(timestamp) ? timestamp : null,
        headers: { ...headers },
    };
    if (parsed.kind === "action") {
        info.actionId = (parsed.payload.action_id as number | null | undefined) ?? null;
        info.objectType = parsed.payload.object_type as number;
    } else {
        info.functionName = (parsed.payload.function as { name: string }).name;
    }
    return info;
}

function requireHeader(headers: FrameHeaders, name: string): string {
    const value = headers[name];
    if (value === undefined || value === "") {
        throw new InvalidMessageError(
            "missing-header",
            `The message has no "${name}" header, so it cannot be answered; the platform always sets it.`,
        );
    }
    return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
