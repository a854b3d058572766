import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";

import type { ActionConsumer, SubscriptionState } from "../lib/delivery/consumer";
import { describeInvocation, type FrameHeaders, type InvalidMessageError } from "../lib/messages/inbound";
import type { PlatformNode } from "./common/platform-types";

interface InNodeDef extends NodeDef {
    platform: string;
    destination: string;
    destinationType: "queue" | "topic";
    concurrency: string | number;
    acknowledge: "after-reply" | "on-receipt";
    timeout: string | number;
}

/** Limits of `activemq.prefetchSize` that IBM's framework also enforces. */
const MIN_CONCURRENCY = 1;
const MAX_CONCURRENCY = 2000;

export = function register(RED: NodeAPI): void {
    function ResilientInNode(this: Node, config: InNodeDef): void {
        RED.nodes.createNode(this, config);
        const node = this;
        const platform = RED.nodes.getNode(config.platform) as PlatformNode | null;
        const programmaticName = String(config.destination ?? "").trim();
        const destinationType = config.destinationType === "topic" ? "topic" : "queue";
        const concurrency = Number(config.concurrency || 25);
        const timeoutSeconds = Number(config.timeout ?? 600);
        let consumer: ActionConsumer | undefined;
        let closed = false;
        let subscriptionState: SubscriptionState = "connecting";
        let inFlight = 0;

        if (!platform) {
            node.status({ fill: "red", shape: "ring", text: "resilient-in.status.no-platform" });
            node.error(RED._("resilient-in.errors.missing-platform"));
            return;
        }
        if (!Number.isInteger(concurrency) || concurrency < MIN_CONCURRENCY || concurrency > MAX_CONCURRENCY) {
            node.status({ fill: "red", shape: "ring", text: "resilient-in.status.invalid" });
            node.error(RED._("resilient-in.errors.invalid-concurrency", { value: String(config.concurrency) }));
            return;
        }
        if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
            node.status({ fill: "red", shape: "ring", text: "resilient-in.status.invalid" });
            node.error(RED._("resilient-in.errors.invalid-timeout", { value: String(config.timeout) }));
            return;
        }

        platform.register(node);
        updateStatus();
        platform.consumer().then(start, (error: Error) => {
            node.status({ fill: "red", shape: "ring", text: "resilient-in.status.config-error" });
            node.error(error.message);
        });

        node.on("close", (removed: boolean, done: () => void) => {
            closed = true;
            platform.deregister(node);
            if (removed) {
                node.status({});
            }
            const stopping = consumer ? consumer.unlisten(node.id) : Promise.resolve();
            stopping.then(
                () => done(),
                (error: Error) => {
                    node.warn(error.message);
                    done();
                },
            );
        });

        function start(current: ActionConsumer): void {
            if (closed) {
                return;
            }
            consumer = current;
            try {
                current.listen({
                    id: node.id,
                    programmaticName,
                    destinationType,
                    prefetch: concurrency,
                    acknowledge: config.acknowledge === "on-receipt" ? "on-receipt" : "after-reply",
                    processingTimeoutMs: Math.round(timeoutSeconds * 1000),
                    onInvocation: (invocation, headers, messageId) => {
                        const info = describeInvocation(invocation, headers, {
                            platformId: platform!.id,
                            subscription: node.id,
                            destination: programmaticName,
                            orgId: current.orgId,
                        });
                        info.messageId = messageId;
                        node.send({ payload: invocation.payload, topic: programmaticName, resilient: info } as NodeMessage);
                    },
                    onInvalid: (error, headers) => reportInvalid(error, headers),
                    onTimeout: (correlationId) => {
                        node.error(RED._("resilient-in.errors.timeout", { correlationId, seconds: String(timeoutSeconds) }), {
                            topic: programmaticName,
                            payload: null,
                            resilient: { correlationId, destination: programmaticName },
                        } as NodeMessage);
                    },
                    onState: (state, detail) => {
                        subscriptionState = state;
                        if (state === "refused") {
                            node.error(RED._("resilient-in.errors.refused", { destination: programmaticName, message: detail ?? "" }));
                        }
                        updateStatus();
                    },
                    onCount: (count) => {
                        inFlight = count;
                        updateStatus();
                    },
                });
            } catch (error) {
                node.status({ fill: "red", shape: "ring", text: "resilient-in.status.invalid" });
                node.error((error as Error).message);
            }
        }

        function reportInvalid(error: InvalidMessageError, headers: FrameHeaders): void {
            const message = RED._("resilient-in.errors.invalid-message", {
                destination: programmaticName,
                correlationId: headers["correlation-id"] ?? "-",
                message: error.message,
            });
            const msg = {
                topic: programmaticName,
                payload: null,
                resilient: {
                    destination: programmaticName,
                    correlationId: headers["correlation-id"] ?? null,
                    messageId: headers["message-id"] ?? null,
                    code: error.code,
                },
            };
            node.error(message, msg as NodeMessage);
        }

        function updateStatus(): void {
            switch (subscriptionState) {
                case "subscribed":
                    if (inFlight > 0) {
                        node.status({ fill: "green", shape: "dot", text: RED._("resilient-in.status.in-flight", { count: inFlight }) });
                    } else {
                        node.status({ fill: "green", shape: "dot", text: "node-red:common.status.connected" });
                    }
                    break;
                case "connecting":
                    node.status({ fill: "yellow", shape: "ring", text: "node-red:common.status.connecting" });
                    break;
                case "refused":
                case "unauthorized":
                    node.status({ fill: "red", shape: "dot", text: "resilient-in.status.refused" });
                    break;
                case "disconnected":
                    node.status({ fill: "red", shape: "ring", text: "node-red:common.status.disconnected" });
                    break;
            }
        }
    }

    RED.nodes.registerType("resilient-in", ResilientInNode);
};
