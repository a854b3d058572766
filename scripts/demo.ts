/**
 * The demo: a private ActiveMQ, the platform simulator and Node-RED with
 * every example flow, all on loopback. It fires the invocations of each
 * example (menu-item rules, automatic rules and a function) and prints the
 * platform's Action Status.
 *
 *   npm run demo             keeps everything running until Ctrl-C
 *   npm run demo -- --once   fires once, prints, and exits 0 when all completed
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { RestClient, uploadAttachment } from "../lib/rest";
import type { Invocation } from "../simulator/invocations";
import type { SimulatorLogger } from "../simulator/log";
import { DEFAULT_CREDENTIALS } from "../simulator/rest/auth";
import { Simulator } from "../simulator/simulator";
import { startBroker, type Broker, type BrokerDescription } from "./broker";
import { startNodeRed, type FlowNode, type NodeRedProcess } from "./node-red";

const ROOT = path.resolve(__dirname, "..", "..");
const EXAMPLES = path.join(ROOT, "examples");
/** The URL prefix of the stand-in services in the examples, on Node-RED's default port. */
const EXAMPLE_NODE_RED_URL = "http://127.0.0.1:1880";
const COMPLETION_TIMEOUT_MS = 60_000;
/** How long Action Status must stay unchanged before the demo takes it as final. Automatic rules can fire after a reply. */
const QUIET_MS = 1500;
/** Principal id of the processor's API key in the simulator. */
const PROCESSOR_KEY_HANDLE = 111;
/** The start of a Windows executable: the stand-in sandbox calls such a sample malicious. */
const SAMPLE_CONTENT = Buffer.concat([Buffer.from("MZ", "latin1"), Buffer.alloc(62), Buffer.from("demo sample, not a real program\n", "utf8")]);

/** Prints a line prefixed with the part of the demo it comes from. */
function say(source: string, text: string): void {
    console.log(`[${source}] ${text}`);
}

/** Settings of `demoFlows` beyond the broker. */
export interface DemoFlowOptions {
    /**
     * Port of the simulator's REST API, served over HTTPS on localhost with
     * the broker's certificate. Without it the platform node keeps the
     * example's REST port (443), and REST calls of the flows fail.
     */
    restPort?: number;
}

/** Returns the file names of the example flows, sorted. */
export function exampleFiles(): string[] {
    return fs
        .readdirSync(EXAMPLES)
        .filter((file) => file.endsWith(".json"))
        .sort();
}

/**
 * Turns every example flow into one deployable tab wired to the local
 * broker: the platform node gets the broker's STOMP+SSL port, a TLS
 * configuration with the test CA, the `processor` user as its API key and,
 * when given, the simulator's REST port. URLs of the stand-in services move
 * from port 1880 to `nodeRedPort`.
 */
export function demoFlows(broker: BrokerDescription, nodeRedPort: number, options: DemoFlowOptions = {}): FlowNode[] {
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
    for (const file of exampleFiles()) {
        const text = fs.readFileSync(path.join(EXAMPLES, file), "utf8").replaceAll(EXAMPLE_NODE_RED_URL, `http://127.0.0.1:${nodeRedPort}`);
        const flow = JSON.parse(text) as FlowNode[];
        let maxY = 0;
        for (const node of flow) {
            if (node.type === "resilient-platform") {
                nodes.set(String(node.id), {
                    ...node,
                    host: "localhost",
                    restPort: options.restPort ?? node.restPort,
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

/**
 * Starts a simulator for the examples. Its REST API serves HTTPS on
 * 127.0.0.1 with the broker's server certificate (CN localhost, signed by
 * the broker's test CA). It accepts the broker's `processor` user as an API
 * key of org 201, so one login works for STOMP and REST as on the platform.
 * It keeps its built-in logins, and `extraApiKeys` adds more.
 */
export async function startExampleSimulator(
    broker: BrokerDescription,
    logger: SimulatorLogger,
    extraApiKeys: Array<(typeof DEFAULT_CREDENTIALS.apiKeys)[number]> = [],
): Promise<Simulator> {
    // scripts/broker.ts writes the server certificate and key beside the CA file.
    const tlsDir = path.dirname(broker.caFile);
    const processor = broker.users.processor;
    const simulator = new Simulator({
        broker: { host: broker.host, port: broker.stompPort, ...broker.users.platform },
        http: {
            tls: {
                cert: fs.readFileSync(path.join(tlsDir, "server.pem")),
                key: fs.readFileSync(path.join(tlsDir, "server.key")),
            },
        },
        credentials: {
            passwords: DEFAULT_CREDENTIALS.passwords,
            apiKeys: [
                ...DEFAULT_CREDENTIALS.apiKeys,
                { keyId: processor.login, secret: processor.passcode, handle: PROCESSOR_KEY_HANDLE, displayName: "Node-RED processor", orgIds: [201] },
                ...extraApiKeys,
            ],
        },
        logger,
    });
    await simulator.start();
    return simulator;
}

/** Returns the port of the simulator's REST API. */
export function restPortOf(simulator: Simulator): number {
    return Number(new URL(simulator.url).port);
}

/**
 * Returns a REST client for the simulator, logged in as the broker's
 * `processor` user, that verifies the simulator's certificate with the
 * broker's CA. The demo and tests use it to prepare data as a platform
 * user would: new incidents, uploaded samples.
 */
export function simulatorRestClient(broker: BrokerDescription, simulator: Simulator): RestClient {
    return new RestClient({
        host: "localhost",
        port: restPortOf(simulator),
        org: 201,
        auth: { kind: "apikey", id: broker.users.processor.login, secret: broker.users.processor.passcode },
        tls: { ca: fs.readFileSync(broker.caFile) },
    });
}

/** One step of the demo: an example and the invocations fired for it. */
interface DemoStep {
    example: string;
    description: string;
    invocationIds: number[];
}

/**
 * Fires the invocations of every example. They are the ticket rule, the
 * function, both severity rules (the "created" one through a new incident)
 * and the account rule on a task. Then the artifact rule runs on an IP
 * address, a DNS name and an unsupported type, and the sandbox rule on an
 * uploaded sample.
 */
async function fireDemoInvocations(simulator: Simulator, rest: RestClient): Promise<DemoStep[]> {
    const steps: DemoStep[] = [];
    const fired = async (example: string, description: string, invocations: Promise<Invocation[]>) => {
        const ids = (await invocations).map((invocation) => invocation.id);
        steps.push({ example, description, invocationIds: ids });
        say("simulator", `${example}: ${description}`);
    };

    await fired("Create helpdesk ticket from a note", 'menu-item rule "Create Ticket" on note 88, ticket_priority High', simulator.fireRule(612, { incidentId: 2301, properties: { ticket_priority: "High" } }));
    await fired(
        "Enrich an IP address with a function",
        "function enrich_ip for 198.51.100.23",
        simulator.fireFunction("enrich_ip", { inputs: { artifact_value: "198.51.100.23", incident_id: 2301 } }).then((invocation) => [invocation]),
    );
    await fired("Set severity of new and modified incidents", 'automatic rule "Incident modified" on incident 2303 (Phishing, Low)', simulator.fireRule(613, { incidentId: 2303 }));

    const before = simulator.automaticRuleEvaluations().length;
    const created = await rest.request<{ id: number }>({
        method: "POST",
        path: "/incidents",
        body: { name: "Phishing mail reported by the legal team", discovered_date: Date.now(), incident_type_ids: ["Phishing"], severity_code: "Low" },
    });
    const creation = simulator.automaticRuleEvaluations().slice(before).filter((evaluation) => evaluation.ruleId === 618);
    steps.push({
        example: "Set severity of new and modified incidents",
        description: `automatic rule "Incident created" on new incident ${created.body.id} (Phishing, Low)`,
        invocationIds: creation.flatMap((evaluation) => evaluation.invocationIds),
    });
    say("simulator", `Set severity of new and modified incidents: created incident ${created.body.id}`);

    await fired("Disable a user account from a task", 'menu-item rule "Disable user account" on task 4101, account_name jdoe', simulator.fireRule(619, { incidentId: 2301, objectId: 4101, properties: { account_name: "jdoe" } }));
    await fired("Search a SIEM for an artifact", 'menu-item rule "Look up artifact" on IP address 198.51.100.23', simulator.fireRule(616, { incidentId: 2301, objectId: 3101, properties: { lookup_reason: "Source of the login burst" } }));
    await fired("Search a SIEM for an artifact", 'menu-item rule "Look up artifact" on DNS name login-portal.example.net', simulator.fireRule(616, { incidentId: 2301, objectId: 3103 }));
    await fired("Search a SIEM for an artifact", 'menu-item rule "Look up artifact" on an email sender (unsupported: warning)', simulator.fireRule(616, { incidentId: 2303, objectId: 3102 }));

    const sample = await uploadAttachment(rest, { incidentId: 2301, fileName: "invoice-2025.pdf.exe", contentType: "application/octet-stream", data: SAMPLE_CONTENT });
    await fired("Detonate a malware sample in a sandbox", `menu-item rule "Detonate in sandbox" on attachment ${sample.id} (${sample.name})`, simulator.fireRule(620, { incidentId: 2301, objectId: sample.id }));
    return steps;
}

/**
 * Waits until no invocation is Pending and none was added for QUIET_MS,
 * because a flow's REST change can fire an automatic rule after its own
 * reply. Returns every invocation, oldest first.
 */
async function waitForOutcome(simulator: Simulator): Promise<Invocation[]> {
    const deadline = Date.now() + COMPLETION_TIMEOUT_MS;
    let count = -1;
    let settledAt = Date.now();
    for (;;) {
        const current = simulator.invocations();
        const settled = current.every((invocation) => invocation.status !== "Pending");
        if (!settled || current.length !== count) {
            count = current.length;
            settledAt = Date.now();
        } else if (Date.now() - settledAt >= QUIET_MS) {
            return current;
        }
        if (Date.now() > deadline) {
            return current;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

/** Formats a reply for the table: its text, with the kind in front unless it is information. */
function replyText(reply: Invocation["replies"][number]): string {
    if (reply.messageType === 1) {
        return `error: ${reply.text}`;
    }
    if (reply.messageType === 2) {
        return `warning: ${reply.text}`;
    }
    return reply.text;
}

/** Formats Action Status as a table, one line per invocation. */
function statusTable(invocations: Invocation[]): string {
    const rows = invocations.map((invocation) => [
        String(invocation.id),
        invocation.ruleName ?? invocation.functionName ?? invocation.kind,
        invocation.destination,
        invocation.status,
        invocation.expectAck ? invocation.replies.map(replyText).join(" | ") : "(no reply expected)",
    ]);
    const header = ["id", "rule or function", "destination", "status", "replies"];
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
    const format = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd();
    return [format(header), format(widths.map((width) => "-".repeat(width))), ...rows.map(format)].join("\n");
}

/** True when the invocation ended as the platform counts success: Completed, with a reply where one is expected. */
function succeeded(invocation: Invocation): boolean {
    return invocation.status === "Completed" && (!invocation.expectAck || invocation.replies.length > 0);
}

async function main(): Promise<number> {
    const once = process.argv.includes("--once");
    const verbose = process.argv.includes("--verbose");
    let broker: Broker | undefined;
    let simulator: Simulator | undefined;
    let rest: RestClient | undefined;
    let nodeRed: NodeRedProcess | undefined;
    let dataDir: string | undefined;
    const stopAll = async () => {
        await nodeRed?.stop();
        await rest?.close();
        await simulator?.stop();
        await broker?.stop();
        if (dataDir) {
            fs.rmSync(dataDir, { recursive: true, force: true });
        }
    };

    try {
        // A fresh data folder: an interrupted demo leaves no messages behind, and two demos can run at once.
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "resilient-demo-"));
        say("broker", "Starting ActiveMQ...");
        broker = await startBroker({ dataDir });
        say("broker", `ActiveMQ is up: STOMP+SSL on ${broker.host}:${broker.stompSslPort} (TLS verified against its test CA).`);

        simulator = await startExampleSimulator(broker, {
            info: (text) => verbose && say("simulator", text),
            warn: (text) => say("simulator", text),
            error: (text) => say("simulator", text),
        });
        rest = simulatorRestClient(broker, simulator);
        say("simulator", `Platform simulator is up; its API is at ${simulator.url} (HTTPS, the broker's test CA).`);

        say("node-red", "Starting Node-RED with @soarflow/node-red-resilient...");
        nodeRed = await startNodeRed({ log: verbose ? (line) => say("node-red", line) : undefined });
        say("node-red", `Node-RED is up: ${nodeRed.url}`);
        const mark = nodeRed.output.length;
        await nodeRed.deploy(demoFlows(broker, nodeRed.port, { restPort: restPortOf(simulator) }));
        await nodeRed.waitForOutput(/Connected to broker/, 30000, mark);
        say("node-red", `Deployed ${exampleFiles().length} example flows; the platform node is connected to the broker.`);
        // The subscriptions follow the connection by a few milliseconds.
        await new Promise((resolve) => setTimeout(resolve, 500));

        const steps = await fireDemoInvocations(simulator, rest);
        const outcome = await waitForOutcome(simulator);
        console.log("\nAction Status:\n" + statusTable(outcome) + "\n");
        const completed = steps.every((step) => step.invocationIds.length > 0) && outcome.every(succeeded);

        if (once) {
            say("demo", completed ? "All invocations completed." : "Some invocations did not complete.");
            await stopAll();
            return completed ? 0 : 1;
        }

        say("demo", `Open ${nodeRed.url} to see the flows. Fire more with:`);
        const env = `NODE_EXTRA_CA_CERTS=${broker.caFile} RESILIENT_SIMULATOR_URL=${simulator.url}`;
        console.log(`  ${env} node dist/simulator/cli.js fire-rule 612 --incident 2301 --property ticket_priority=Urgent`);
        console.log(`  ${env} node dist/simulator/cli.js fire-rule 619 --incident 2301 --object 4101 --property account_name=asmith`);
        console.log(`  ${env} node dist/simulator/cli.js fire-rule 616 --incident 2301 --object 3103`);
        console.log(`  ${env} node dist/simulator/cli.js status`);
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
