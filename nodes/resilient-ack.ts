import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import Mustache from "mustache";

import { ReplyError } from "../lib/delivery/tracker";
import type { InvocationInfo } from "../lib/messages/inbound";
import { MessageType, wrapResults, type ReplyRequest } from "../lib/messages/replies";
import type { PlatformNode } from "./common/platform-types";

/** Reply kinds offered in the editor. */
type ReplyKind = "complete" | "status" | "error" | "warning" | "result";

interface AckNodeDef extends NodeDef {
    reply: ReplyKind;
    messageSource: "template" | "msg";
    template: string;
    messageProperty: string;
    resultsProperty: string;
    wrapResults: boolean;
    format: "json" | "text";
}

interface ReplyMessage extends NodeMessage {
    resilient?: Partial<InvocationInfo>;
}

const packageInfo = require("../../package.json") as { name: string; version: string };

export = function register(RED: NodeAPI): void {
    function ResilientAckNode(this: Node, config: AckNodeDef): void {
        RED.nodes.createNode(this, config);
        const node = this;
        const kind: ReplyKind = config.reply ?? "complete";
        const template = config.template ?? "";

        node.on("input", (msg: ReplyMessage, send: (msg: NodeMessage) => void, done: (err?: Error) => void) => {
            handle(msg).then(
                (outcome) => {
                    if (outcome === "refused") {
                        done();
                        return;
                    }
                    send(msg);
                    done();
                },
                (error: Error) => {
                    node.status({ fill: "red", shape: "ring", text: "resilient-ack.status.failed" });
                    done(error);
                },
            );
        });

        node.on("close", (done: () => void) => {
            node.status({});
            done();
        });

        async function handle(msg: ReplyMessage): Promise<"sent" | "refused"> {
            const invocation = msg.resilient;
            if (
                !invocation ||
                typeof invocation.messageId !== "string" ||
                typeof invocation.platformId !== "string" ||
                typeof invocation.subscription !== "string"
            ) {
                throw new Error(RED._("resilient-ack.errors.no-invocation"));
            }
            const platform = RED.nodes.getNode(invocation.platformId) as PlatformNode | null;
            if (!platform || typeof platform.consumer !== "function") {
                throw new Error(RED._("resilient-ack.errors.unknown-platform", { id: invocation.platformId }));
            }
            const consumer = await platform.consumer();
            const request = await buildRequest(msg, invocation);

            try {
                await consumer.reply(invocation.subscription, invocation.messageId, request);
            } catch (error) {
                if (error instanceof ReplyError && error.code === "already-complete") {
                    node.warn(RED._("resilient-ack.warnings.already-complete", { correlationId: invocation.correlationId ?? "-" }));
                    node.status({ fill: "yellow", shape: "ring", text: "resilient-ack.status.refused" });
                    return "refused";
                }
                throw error;
            }
            node.status({ fill: request.messageType === MessageType.Error ? "red" : "green", shape: "dot", text: `resilient-ack.status.${kind}` });
            return "sent";
        }

        async function buildRequest(msg: ReplyMessage, invocation: Partial<InvocationInfo>): Promise<ReplyRequest> {
            const message = renderMessage(msg);
            const format = config.format === "text" && (kind === "complete" || kind === "status") ? "text" : "json";
            switch (kind) {
                case "status":
                    return { messageType: MessageType.Information, message: message || "Processing", complete: false, format };
                case "error":
                    return { messageType: MessageType.Error, message: message || "The action processor failed.", complete: true };
                case "warning":
                    return { messageType: MessageType.Warning, message: message || "Completed with warnings", complete: true };
                case "result": {
                    const value = RED.util.getMessageProperty(msg, config.resultsProperty || "payload") as unknown;
                    const results = config.wrapResults
                        ? wrapResults(value, {
                              inputs: (msg.payload as { inputs?: unknown } | undefined)?.inputs ?? null,
                              startedAt: invocation.timestamp ?? Date.now(),
                              packageName: packageInfo.name,
                              packageVersion: packageInfo.version,
                          })
                        : value;
                    return { messageType: MessageType.Information, message: message || "Completed processing", complete: true, results };
                }
                case "complete":
                default:
                    return { messageType: MessageType.Information, message: message || "Completed processing", complete: true, format };
            }
        }

        function renderMessage(msg: ReplyMessage): string {
            if (config.messageSource === "msg") {
                const value = RED.util.getMessageProperty(msg, config.messageProperty || "payload") as unknown;
                if (value === undefined || value === null) {
                    return "";
                }
                return typeof value === "string" ? value : JSON.stringify(value);
            }
            // Replies are plain text on the platform, so no HTML escaping.
            return Mustache.render(template, msg, {}, { escape: (value: unknown) => String(value) }).trim();
        }
    }

    RED.nodes.registerType("resilient-ack", ResilientAckNode);
};
