/**
 * The demo: a private ActiveMQ, the platform simulator and Node-RED with
 * the example flows, all on loopback. It fires a menu-item rule with an
 * activity field, an automatic rule and a function, and prints the
 * platform's Action Status.
 *
 *   npm run demo             keeps everything running until Ctrl-C
 *   npm run demo -- --once   fires once, prints, and exits 0 when all completed
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { Simulator } from "../simulator/simulator";
import type { Invocation } from "../simulator/invocations";
import { startBroker, type Broker, type BrokerDescription } from "./broker";
import { startNodeRed, type FlowNode, type NodeRedProcess } from "./node-red";

const ROOT = path.resolve(__dirname, "..", "..");
const EXAMPLES = path.join(ROOT, "examples");
const DEMO_EXAMPLES = [
    "Create helpdesk ticket from a note.json",
    "Review modified incidents.json",
    "Enrich an IP address with a function.json",
];
const COMPLETION_TIMEOUT_MS = 30_000;

/** Prints a line prefixed with the part of the demo it comes from. */
function say(source: string, text: string): void {
    console.log(`[${source}] ${text}`);
}

/**
 * Turns the example flows into one deployable tab wired to the local broker:
 * the platform node gets the broker's STOMP+SSL port, a TLS configuration
 * with the test CA, and the `processor` user as its API key.
 */
export function demoFlows(broker: BrokerDescription, nodeRedPort: number): FlowNode[] {
    const tab: FlowNode = { id: "demo0000000000a1", type: "tab", label: "SOAR demo", disabled: false, info: "" };
    const tlsNode: FlowNode = {
        id: "demo0000000000a2",
        type: "tls-config",
        name: "Demo broker CA",
        cert: "",
        key: "",
        ca: broker.caFile,
        certname: "",
        keyname: "",
        caname: "",
        servername: "",
        verifyservercert: true,
        alpnprotocol: "",
    };
    const nodes = new Map<string, FlowNode>();
    let offsetY = 0;
    for (const file of DEMO_EXAMPLES) {
        const text = fs.readFileSync(path.join(EXAMPLES, file), "utf8").replaceAll("http://127.0.0.1:1880", `http://127.0.0.1:${nodeRedPort}`);
        const flow = JSON.parse(text) as FlowNode[];
        let maxY = 0;
        for (const node of flow) {
            if (node.type === "resilient-platform") {
                nodes.set(String(node.id), {
                    ...node,
                    host: "localhost",
                    stompPort: broker.stompSslPort,
                    usetls: true,
                    tls: tlsNode.id,
                    reconnectMaxDelay: 5,
                    credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: broker.users.processor.passcode },
                });
                continue;
            }
            const y = Number(node.y ?? 0);
            maxY = Math.max(maxY, y);
            nodes.set(String(node.id), { ...node, z: tab.id, y: y + offsetY });
        }
        offsetY += maxY + 80;
    }
    return [tab, tlsNode, ...nodes.values()];
}

/** Formats Action Status as a table, one line per invocation. */
function statusTable(invocations: Invocation[]): string {
    const rows = invocations.map((invocation) => [
        String(invocation.id),
        invocation.ruleName ?? invocation.functionName ?? invocation.kind,
        invocation.destination,
        invocation.status,
        invocation.replies.map((reply) => reply.text).join(" | "),
    ]);
    const header = ["id", "rule or function", "destination", "status", "replies"];
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
    const format = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd();
    return [format(header), format(widths.map((width) => "-".repeat(width))), ...rows.map(format)].join("\n");
}

async function fireDemoInvocations(simulator: Simulator): Promise<Invocation[]> {
    const [ticket] = await simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "High" } });
    say("simulator", `Fired menu-item rule "Create Ticket" on a note (ticket_priority High): ${ticket.correlationId}`);
    const [modified] = await simulator.fireRule(613, { incidentId: 2301 });
    say("simulator", `Fired automatic rule "Incident modified": ${modified.correlationId}`);
    const enrich = await simulator.fireFunction("enrich_ip", { inputs: { artifact_value: "198.51.100.23", incident_id: 2301 } });
    say("simulator", `Called function enrich_ip: ${enrich.correlationId}`);
    return [ticket, modified, enrich];
}

async function waitForOutcome(simulator: Simulator, invocations: Invocation[]): Promise<Invocation[]> {
    const deadline = Date.now() + COMPLETION_TIMEOUT_MS;
    for (;;) {
        const current = invocations.map((invocation) => simulator.invocation(invocation.id) ?? invocation);
        if (current.every((invocation) => invocation.status !== "Pending") || Date.now() > deadline) {
            return current;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

async function main(): Promise<number> {
    const once = process.argv.includes("--once");
    const verbose = process.argv.includes("--verbose");
    let broker: Broker | undefined;
    let simulator: Simulator | undefined;
    let nodeRed: NodeRedProcess | undefined;
    const stopAll = async () => {
        await nodeRed?.stop();
        await simulator?.stop();
        await broker?.stop();
    };

    try {
        const dataDir = path.join(ROOT, ".broker", "demo");
        // Start from an empty message store so that an earlier, interrupted demo leaves nothing behind.
        fs.rmSync(path.join(dataDir, "kahadb"), { recursive: true, force: true });
        say("broker", "Starting ActiveMQ...");
        broker = await startBroker({ dataDir });
        say("broker", `ActiveMQ is up: STOMP+SSL on ${broker.host}:${broker.stompSslPort} (TLS verified against its test CA).`);

        simulator = new Simulator({
            broker: { host: broker.host, port: broker.stompPort, ...broker.users.platform },
            logger: { info: (text) => verbose && say("simulator", text), warn: (text) => say("simulator", text), error: (text) => say("simulator", text) },
        });
        await simulator.start();
        say("simulator", `Platform simulator is up; its API is at ${simulator.url}.`);

        say("node-red", "Starting Node-RED with @soarflow/node-red-resilient...");
        nodeRed = await startNodeRed({ log: verbose ? (line) => say("node-red", line) : undefined });
        say("node-red", `Node-RED is up: ${nodeRed.url}`);
        const mark = nodeRed.output.length;
        await nodeRed.deploy(demoFlows(broker, nodeRed.port));
        await nodeRed.waitForOutput(/Connected to broker/, 30000, mark);
        say("node-red", "Deployed the example flows; the platform node is connected to the broker.");
        // The subscriptions follow the connection by a few milliseconds.
        await new Promise((resolve) => setTimeout(resolve, 500));

        const fired = await fireDemoInvocations(simulator);
        const outcome = await waitForOutcome(simulator, fired);
        console.log("\nAction Status:\n" + statusTable(outcome) + "\n");
        const completed = outcome.every((invocation) => invocation.status === "Completed" && invocation.replies.length > 0);

        if (once) {
            say("demo", completed ? "All invocations completed." : "Some invocations did not complete.");
            await stopAll();
            return completed ? 0 : 1;
        }

        say("demo", `Open ${nodeRed.url} to see the flows. Fire more with:`);
        console.log(`  RESILIENT_SIMULATOR_URL=${simulator.url} node dist/simulator/cli.js fire-rule 612 --incident 2301 --property ticket_priority=Urgent`);
        console.log(`  RESILIENT_SIMULATOR_URL=${simulator.url} node dist/simulator/cli.js status`);
        say("demo", "Press Ctrl-C to stop.");
        await new Promise<void>((resolve) => {
            process.once("SIGINT", resolve);
            process.once("SIGTERM", resolve);
        });
        await stopAll();
        return 0;
    } catch (error) {
        console.error(`[demo] ${(error as Error).message}`);
        await stopAll().catch(() => undefined);
        return 1;
    }
}

if (require.main === module) {
    main().then((code) => process.exit(code));
}
