import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";

interface DelayDef extends NodeDef {
    delay: number;
}

/**
 * Registers `test-delay`, a node that passes each msg on after `delay`
 * milliseconds, standing in for a slow external system in a flow.
 */
export function testNodes(RED: NodeAPI): void {
    function TestDelayNode(this: Node, config: DelayDef): void {
        RED.nodes.createNode(this, config);
        const timers = new Set<NodeJS.Timeout>();
        this.on("input", (msg: NodeMessage, send: (msg: NodeMessage) => void, done: () => void) => {
            const timer = setTimeout(() => {
                timers.delete(timer);
                send(msg);
                done();
            }, Number(config.delay) || 0);
            timers.add(timer);
        });
        this.on("close", () => {
            for (const timer of timers) {
                clearTimeout(timer);
            }
        });
    }
    RED.nodes.registerType("test-delay", TestDelayNode);
}
