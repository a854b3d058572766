import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";

import { describeSchemaErrors, validateActionData, validateFunctionData } from "../lib/messages/schemas";
import {
    FieldValueCache,
    idsFromLabels,
    labelsFor,
    LabelNotFoundError,
    lookupLabel,
    normalizeFunctionInputs,
    parseFieldPath,
    replaceIdsWithLabels,
    type FieldDefinition,
    type FunctionInputs,
    type ParsedFieldPath,
    type RuleMessage,
    type SelectId,
    type TypeInfoWarning,
} from "../lib/typeinfo";
import type { PlatformNode } from "./common/platform-types";

/** Conversion that a node applies to each msg, chosen in the editor. */
type TypeInfoMode = "labels" | "beside" | "field" | "ids" | "inputs";

interface TypeInfoNodeDef extends NodeDef {
    mode: TypeInfoMode;
    /** Whether the `labels` mode writes a labelled copy to `property` and leaves msg.payload unchanged. */
    keepPayload: boolean;
    /** msg property that receives the result, or empty for the mode's default. */
    property: string;
    /** Field path for the `field` and `ids` modes, such as `incident.severity_code`. */
    field: string;
    /** API name of the data table that a rule message's `row` belongs to, or empty to find it from type_info. */
    tableType: string;
    /** `ids` mode: msg property that contains the label or list of labels. */
    labelsProperty: string;
    /** `inputs` mode: comma-separated API names of date and date-time inputs. */
    dateInputs: string;
    /** Optional `resilient-platform` node, for labels that type_info lacks. */
    platform: string;
}

/** Checked settings of one node. */
interface TypeInfoSettings {
    mode: TypeInfoMode;
    keepPayload: boolean;
    property: string;
    field: ParsedFieldPath | undefined;
    fieldPath: string;
    tableType: string | undefined;
    labelsProperty: string;
    dateInputs: string[];
    platform: PlatformNode | undefined;
}

const MODES: readonly TypeInfoMode[] = ["labels", "beside", "field", "ids", "inputs"];

/** Output property of each mode when the node sets none. */
const DEFAULT_PROPERTIES: Record<TypeInfoMode, string> = {
    labels: "labelled",
    beside: "labels",
    field: "label",
    ids: "id",
    inputs: "inputs",
};

/** msg property that receives the warnings of the last conversion, as a list (empty when there were none). */
const WARNINGS_PROPERTY = "typeinfoWarnings";

/**
 * Time that select values loaded from the platform stay cached, in
 * milliseconds (4 minutes). A label missing from the cache reloads the field
 * at once, so this only limits how long a renamed or deleted value keeps its old label.
 */
const CACHE_TTL_MS = 240_000;

/** Maximum number of fields per node whose first warning is logged. Warnings for further fields go to the msg only. */
const MAX_WARNED_FIELDS = 1000;

export = function register(RED: NodeAPI): void {
    /** One cache per platform node, shared by every typeinfo node that uses it. A redeployed platform node is a new object with a new cache. */
    const caches = new WeakMap<PlatformNode, FieldValueCache>();

    function ResilientTypeInfoNode(this: Node, config: TypeInfoNodeDef): void {
        RED.nodes.createNode(this, config);
        const node = this;
        const warnedFields = new Set<string>();
        let lastStatus = "";
        let settings: TypeInfoSettings | undefined;
        let settingsError: Error | undefined;

        try {
            settings = readSettings(config);
        } catch (error) {
            settingsError = error as Error;
            showStatus({ fill: "red", shape: "ring", text: "resilient-typeinfo.status.invalid" });
            node.error(settingsError.message);
        }

        node.on("input", (msg: NodeMessage, send: (msg: NodeMessage) => void, done: (err?: Error) => void) => {
            convert(msg)
                .then((warnings) => {
                    report(msg, warnings);
                    send(msg);
                    done();
                })
                .catch((error: unknown) => {
                    if (settings) {
                        showStatus({ fill: "red", shape: "ring", text: "resilient-typeinfo.status.failed" });
                    }
                    done(error instanceof Error ? error : new Error(String(error)));
                });
        });

        node.on("close", (done: () => void) => {
            node.status({});
            done();
        });

        async function convert(msg: NodeMessage): Promise<TypeInfoWarning[]> {
            if (!settings) {
                throw settingsError as Error;
            }
            switch (settings.mode) {
                case "labels":
                    return replaceLabels(msg, settings);
                case "beside":
                    return labelsBeside(msg, settings);
                case "field":
                    return labelOfField(msg, settings);
                case "ids":
                    return idsOfLabels(msg, settings);
                case "inputs":
                    return plainInputs(msg, settings);
            }
        }

        /** Replaces ids by labels in msg.payload itself, which the msg owns, or in a partial copy when the payload must stay. */
        function replaceLabels(msg: NodeMessage, current: TypeInfoSettings): TypeInfoWarning[] {
            const payload = rulePayload(msg, current.mode);
            const result = replaceIdsWithLabels(payload, { mutate: !current.keepPayload, tableType: current.tableType });
            if (current.keepPayload) {
                writeOutput(msg, current.property, result.message);
            }
            return result.warnings;
        }

        function labelsBeside(msg: NodeMessage, current: TypeInfoSettings): TypeInfoWarning[] {
            const result = labelsFor(rulePayload(msg, current.mode), { tableType: current.tableType });
            writeOutput(msg, current.property, result.labels);
            return result.warnings;
        }

        /** Writes the label of one field. An absent field removes the output property and leaves a warning. */
        function labelOfField(msg: NodeMessage, current: TypeInfoSettings): TypeInfoWarning[] {
            const result = lookupLabel(rulePayload(msg, current.mode), current.fieldPath, { tableType: current.tableType });
            // NOTE: lookupLabel returns the payload's own list when no id in it has a label, so a
            // flow that edits msg.label would edit the payload too. The copy prevents that.
            const label = Array.isArray(result.label) ? [...result.label] : result.label;
            writeOutput(msg, current.property, label);
            return result.warnings;
        }

        async function idsOfLabels(msg: NodeMessage, current: TypeInfoSettings): Promise<TypeInfoWarning[]> {
            const labels = readLabels(msg, current.labelsProperty);
            if (labels === null) {
                writeOutput(msg, current.property, null);
                return [];
            }

            // Any msg may ask for ids, but only a rule message brings type_info to search first.
            const ruleMessage = validateActionData(msg.payload) ? (msg.payload as RuleMessage) : undefined;
            const field = current.field as ParsedFieldPath;
            const type = fieldType(field, current, ruleMessage);
            const source = {
                typeInfo: ruleMessage?.type_info,
                fieldValues: current.platform ? cacheFor(current.platform) : undefined,
            };

            let ids: SelectId | SelectId[];
            try {
                // Two calls, because idsFromLabels' overloads take either one label or a list.
                ids = typeof labels === "string"
                    ? await idsFromLabels(type, field.field, labels, source)
                    : await idsFromLabels(type, field.field, labels, source);
            } catch (error) {
                // The library's advice names its own options, but without a platform the fix is this node's Platform setting.
                if (error instanceof LabelNotFoundError && !current.platform) {
                    const details = { label: error.label, type: error.type, field: error.field };
                    throw new Error(RED._("resilient-typeinfo.errors.label-not-in-typeinfo", details), { cause: error });
                }
                throw error;
            }
            writeOutput(msg, current.property, ids);
            return [];
        }

        function plainInputs(msg: NodeMessage, current: TypeInfoSettings): TypeInfoWarning[] {
            if (!validateFunctionData(msg.payload)) {
                const errors = describeSchemaErrors(validateFunctionData.errors);
                throw new Error(RED._("resilient-typeinfo.errors.not-function-message", { errors }));
            }
            const inputs = (msg.payload as { inputs: FunctionInputs }).inputs;
            const result = normalizeFunctionInputs(inputs, { dateFields: current.dateInputs });
            writeOutput(msg, current.property, result.inputs);
            return result.warnings;
        }

        function rulePayload(msg: NodeMessage, mode: TypeInfoMode): RuleMessage {
            if (!validateActionData(msg.payload)) {
                const errors = describeSchemaErrors(validateActionData.errors);
                throw new Error(RED._("resilient-typeinfo.errors.not-rule-message", { mode, errors }));
            }
            return msg.payload as RuleMessage;
        }

        /** Returns the label or labels to look up, or `null` for an empty field. */
        function readLabels(msg: NodeMessage, property: string): string | string[] | null {
            const labels: unknown = RED.util.getMessageProperty(msg, property);
            if (labels === undefined) {
                throw new Error(RED._("resilient-typeinfo.errors.missing-labels", { property }));
            }
            if (labels === null || typeof labels === "string") {
                return labels;
            }
            if (Array.isArray(labels) && labels.every((label) => typeof label === "string")) {
                return labels as string[];
            }
            const value = JSON.stringify(labels) ?? String(labels);
            throw new Error(RED._("resilient-typeinfo.errors.invalid-labels", { property, value: value.slice(0, 80) }));
        }

        /**
         * Returns the type whose values the field takes. A data table row's
         * type is the node's data table setting, else the one type_info names for the row.
         */
        function fieldType(field: ParsedFieldPath, current: TypeInfoSettings, ruleMessage: RuleMessage | undefined): string {
            if (field.type !== undefined) {
                return field.type;
            }
            if (current.tableType) {
                return current.tableType;
            }
            const resolved = ruleMessage ? lookupLabel(ruleMessage, current.fieldPath).type : undefined;
            if (resolved === undefined) {
                throw new Error(RED._("resilient-typeinfo.errors.unknown-table", { path: current.fieldPath }));
            }
            return resolved;
        }

        function writeOutput(msg: NodeMessage, property: string, value: unknown): void {
            if (!RED.util.setMessageProperty(msg, property, value, true)) {
                throw new Error(RED._("resilient-typeinfo.errors.unwritable", { property }));
            }
        }

        /** Puts the warnings on the msg, logs each field's first warning, and shows their number. */
        function report(msg: NodeMessage, warnings: TypeInfoWarning[]): void {
            (msg as NodeMessage & Record<string, unknown>)[WARNINGS_PROPERTY] = warnings;
            for (const warning of warnings) {
                const key = `${warning.code} ${warning.path}`;
                if (warnedFields.has(key) || warnedFields.size >= MAX_WARNED_FIELDS) {
                    continue;
                }
                warnedFields.add(key);
                node.warn(RED._("resilient-typeinfo.warnings.logged-once", { message: warning.message, path: warning.path || "type_info" }));
            }
            if (warnings.length > 0) {
                showStatus({ fill: "yellow", shape: "ring", text: RED._("resilient-typeinfo.status.warnings", { count: warnings.length }) });
            } else {
                showStatus({});
            }
        }

        /** Sets the status only when it changes, so a busy node does not send one status event per msg. */
        function showStatus(status: { fill?: "red" | "yellow"; shape?: "ring"; text?: string }): void {
            const key = JSON.stringify(status);
            if (key !== lastStatus) {
                lastStatus = key;
                node.status(status);
            }
        }
    }

    function readSettings(config: TypeInfoNodeDef): TypeInfoSettings {
        const mode = config.mode ?? "beside";
        if (!MODES.includes(mode)) {
            throw new Error(RED._("resilient-typeinfo.errors.invalid-mode", { mode: String(mode) }));
        }

        const fieldPath = String(config.field ?? "").trim();
        let field: ParsedFieldPath | undefined;
        if (mode === "field" || mode === "ids") {
            if (!fieldPath) {
                throw new Error(RED._("resilient-typeinfo.errors.missing-field", { mode }));
            }
            field = parseFieldPath(fieldPath);
        }

        let platform: PlatformNode | undefined;
        if (mode === "ids" && config.platform) {
            platform = (RED.nodes.getNode(config.platform) as PlatformNode | null) ?? undefined;
            if (!platform || typeof platform.restClient !== "function") {
                throw new Error(RED._("resilient-typeinfo.errors.unknown-platform", { id: config.platform }));
            }
        }

        const tableType = String(config.tableType ?? "").trim();
        return {
            mode,
            keepPayload: config.keepPayload === true,
            property: String(config.property ?? "").trim() || DEFAULT_PROPERTIES[mode],
            field,
            fieldPath,
            tableType: tableType || undefined,
            labelsProperty: String(config.labelsProperty ?? "").trim() || "label",
            dateInputs: String(config.dateInputs ?? "")
                .split(",")
                .map((name) => name.trim())
                .filter((name) => name.length > 0),
            platform,
        };
    }

    function cacheFor(platform: PlatformNode): FieldValueCache {
        let cache = caches.get(platform);
        if (!cache) {
            cache = new FieldValueCache((type, field) => fetchFieldDefinition(platform, type, field), { ttlMs: CACHE_TTL_MS });
            caches.set(platform, cache);
        }
        return cache;
    }

    RED.nodes.registerType("resilient-typeinfo", ResilientTypeInfoNode);
};

/** Loads one field's definition, whose `values` lists every select value, with `GET /rest/orgs/<org>/types/<type>/fields/<field>`. */
async function fetchFieldDefinition(platform: PlatformNode, type: string, field: string): Promise<FieldDefinition> {
    const path = `/types/${encodeURIComponent(type)}/fields/${encodeURIComponent(field)}`;
    const response = await platform.restClient().request<FieldDefinition>({ method: "GET", path });
    return response.body;
}
