import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";

/**
 * JSON Schemas for the bodies the platform sends and the replies we send,
 * compiled once per process and shared by every node.
 *
 * The schemas check only what the nodes rely on; the platform adds fields
 * between releases, so unknown properties are allowed everywhere.
 */

const nullableObject = { type: ["object", "null"] } as const;
const nullableInteger = { type: ["integer", "null"] } as const;

/** Rule action body (`Co3MessagePayload: ActionDataDTO`). */
export const actionDataSchema = {
    $id: "resilient/action-data",
    type: "object",
    required: ["incident", "object_type"],
    properties: {
        action_id: nullableInteger,
        object_type: { type: "integer", minimum: 0 },
        operation_type: { type: ["string", "null"] },
        incident: { type: "object", required: ["id"], properties: { id: { type: "integer" } } },
        task: nullableObject,
        artifact: nullableObject,
        note: nullableObject,
        milestone: nullableObject,
        attachment: nullableObject,
        row: nullableObject,
        properties: nullableObject,
        user: nullableObject,
        type_info: nullableObject,
    },
} as const;

/** Function call body (`Co3MessagePayload: FunctionDataDTO`). */
export const functionDataSchema = {
    $id: "resilient/function-data",
    type: "object",
    required: ["function", "inputs"],
    properties: {
        function: {
            type: "object",
            required: ["name"],
            properties: { name: { type: "string", minLength: 1 } },
        },
        inputs: { type: "object" },
        workflow: nullableObject,
        workflow_instance: nullableObject,
        playbook_instance: nullableObject,
        principal: nullableObject,
        groups: { type: ["array", "null"] },
    },
} as const;

/** JSON reply (`ActionAcknowledgementDTO`). */
export const replySchema = {
    $id: "resilient/reply",
    type: "object",
    required: ["message_type", "message", "complete"],
    properties: {
        message_type: { enum: [0, 1, 2] },
        message: { type: "string" },
        complete: { type: "boolean" },
        results: {},
    },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });

export const validateActionData: ValidateFunction = ajv.compile(actionDataSchema);
export const validateFunctionData: ValidateFunction = ajv.compile(functionDataSchema);
export const validateReply: ValidateFunction = ajv.compile(replySchema);

/** Formats ajv errors as one line, e.g. `/incident/id must be integer; must have required property 'inputs'`. */
export function describeSchemaErrors(errors: ErrorObject[] | null | undefined): string {
    if (!errors || errors.length === 0) {
        return "unknown schema error";
    }
    return errors.map((error) => `${error.instancePath || "(body)"} ${error.message ?? "is invalid"}`).join("; ");
}
