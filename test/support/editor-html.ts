/**
 * Reads the node registrations out of an editor `.html` file the way the
 * flow library's scorecard (`node-red-dev validate`) does: only
 * `<script type="text/javascript">` blocks are parsed, and a registration
 * counts only when it is `*.registerType(<string literal>, <object literal>)`.
 */
// NOTE: acorn is not in our devDependencies. It is installed as a dependency
// of node-red (@node-red/nodes), and the scorecard parses with it too.
import * as acorn from "acorn";

/** One `registerType` call found in an editor file. */
export interface EditorRegistration {
    /** The type name when the first argument is a string literal, else undefined. */
    type: string | undefined;
    /** Source text of the first argument, for messages. */
    typeSource: string;
    /** Whether the second argument is an inline object literal. */
    definitionIsObjectLiteral: boolean;
    /** The `category` value when it is a string literal, else undefined. */
    category: string | undefined;
    /** Whether the definition has a `category` property at all. */
    hasCategory: boolean;
    /** Types named by `defaults.<property>.type` string literals, i.e. the config nodes this node uses. */
    referencedTypes: string[];
}

type AstNode = acorn.Node & Record<string, unknown>;

const SCRIPT_BLOCK = /<script\b([^>]*)>([\s\S]*?)<\/script>/gi;
const JAVASCRIPT_TYPE = /\btype\s*=\s*["']text\/javascript["']/i;

/** Returns the contents of every `<script type="text/javascript">` block. A bare `<script>` is skipped, as the scorecard does. */
export function javascriptBlocks(html: string): string[] {
    const blocks: string[] = [];
    for (const match of html.matchAll(SCRIPT_BLOCK)) {
        if (JAVASCRIPT_TYPE.test(match[1])) {
            blocks.push(match[2]);
        }
    }
    return blocks;
}

/** Parses every JavaScript block of an editor file and returns its `registerType` calls. `fileName` only labels parse errors. */
export function readEditorRegistrations(html: string, fileName: string): EditorRegistration[] {
    const registrations: EditorRegistration[] = [];
    for (const code of javascriptBlocks(html)) {
        let program: acorn.Program;
        try {
            program = acorn.parse(code, { ecmaVersion: "latest", sourceType: "script" });
        } catch (error) {
            throw new Error(`Invalid JavaScript in a <script type="text/javascript"> block of ${fileName}: ${(error as Error).message}`);
        }
        visit(program as unknown as AstNode, (node) => {
            if (isRegisterTypeCall(node)) {
                registrations.push(describeRegistration(node, code));
            }
        });
    }
    return registrations;
}

function isRegisterTypeCall(node: AstNode): boolean {
    if (node.type !== "CallExpression") {
        return false;
    }
    const callee = node.callee as AstNode;
    if (callee.type !== "MemberExpression") {
        return false;
    }
    const property = callee.property as AstNode;
    return property.type === "Identifier" && property.name === "registerType";
}

function describeRegistration(call: AstNode, code: string): EditorRegistration {
    const [typeArgument, definition] = call.arguments as AstNode[];
    const type = stringLiteral(typeArgument);
    const registration: EditorRegistration = {
        type,
        typeSource: typeArgument ? code.slice(typeArgument.start, typeArgument.end) : "(missing)",
        definitionIsObjectLiteral: definition?.type === "ObjectExpression",
        category: undefined,
        hasCategory: false,
        referencedTypes: [],
    };
    if (!registration.definitionIsObjectLiteral) {
        return registration;
    }

    const category = objectProperty(definition, "category");
    registration.hasCategory = category !== undefined;
    registration.category = stringLiteral(category);

    const defaults = objectProperty(definition, "defaults");
    if (defaults?.type === "ObjectExpression") {
        for (const property of defaults.properties as AstNode[]) {
            const referenced = stringLiteral(objectProperty(property.value as AstNode, "type"));
            if (referenced !== undefined) {
                registration.referencedTypes.push(referenced);
            }
        }
    }
    return registration;
}

/** Returns the value node of property `name` in an object literal, by identifier or string key. */
function objectProperty(node: AstNode | undefined, name: string): AstNode | undefined {
    if (node?.type !== "ObjectExpression") {
        return undefined;
    }
    for (const property of node.properties as AstNode[]) {
        if (property.type !== "Property" || property.computed) {
            continue;
        }
        const key = property.key as AstNode;
        if ((key.type === "Identifier" && key.name === name) || stringLiteral(key) === name) {
            return property.value as AstNode;
        }
    }
    return undefined;
}

function stringLiteral(node: AstNode | undefined): string | undefined {
    return node?.type === "Literal" && typeof node.value === "string" ? node.value : undefined;
}

/** Calls `visitor` on every node of the syntax tree, parents before children. */
function visit(node: AstNode, visitor: (node: AstNode) => void): void {
    visitor(node);
    for (const value of Object.values(node)) {
        const children = Array.isArray(value) ? value : [value];
        for (const child of children) {
            if (child !== null && typeof child === "object" && typeof (child as AstNode).type === "string") {
                visit(child as AstNode, visitor);
            }
        }
    }
}
