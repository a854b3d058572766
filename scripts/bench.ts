/**
 * Benchmark: speed and memory of the message path, each measured as a
 * ratio against a reference run on the same machine in the same process,
 * so the numbers do not depend on how fast the machine is.
 *
 *   npm run bench [-- --messages 2000]
 *
 * Runs:
 *   reference   a bare @stomp/stompjs consumer with the same guarantees and
 *               no checks: persistent reply with a receipt, ACK after it
 *   consumer    our ActionConsumer: parse, schema check, track, persistent
 *               reply with receipt, then ACK
 *   node-red    the same through Node-RED: resilient in -> resilient ack
 *   parser      stompjs's frame parser on a 5 KB rule message, against
 *               JSON.parse of the same body
 *
 * Targets are checked at the end; the exit code is 1 when one is missed.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { Client, Parser, type IMessage } from "@stomp/stompjs";

import { ActionConsumer } from "../lib/delivery/consumer";
import { MessageType } from "../lib/messages/replies";
import { StompSocket } from "../lib/stomp/socket";
import { startBroker, type Broker } from "./broker";
import { linkPackage } from "./node-red";

const ROOT = path.resolve(__dirname, "..", "..");
const SAMPLE = JSON.parse(fs.readFileSync(path.join(ROOT, "test", "fixtures", "rule-action-message.json"), "utf8")) as {
    headers: Record<string, string>;
    body: unknown;
};

interface Measurement {
    name: string;
    messages: number;
    seconds: number;
    perSecond: number;
    /** Heap still in use after the run and a full garbage collection, per message, in bytes. */
    retainedPerMessage: number;
}

/** Minimum share of the reference's throughput each run must reach. */
const TARGETS: Record<string, number> = { consumer: 0.6, "node-red": 0.5 };
/** Maximum heap retained per handled message, as a share of the message body's size: bodies must not be kept. */
const RETAINED_TARGET = 0.25;
/** Maximum time the frame parser may take, as a multiple of JSON.parse on the same body. */
const PARSER_TARGET = 20;

function option(name: string, fallback: number): number {
    const index = process.argv.indexOf(`--${name}`);
    return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

function connect(broker: Broker, user: "platform" | "processor"): Promise<Client> {
    const client = new Client({
        webSocketFactory: () => new StompSocket({ host: broker.host, port: broker.stompPort }),
        connectHeaders: { login: broker.users[user].login, passcode: broker.users[user].passcode },
        reconnectDelay: 0,
        heartbeatIncoming: 0,
        heartbeatOutgoing: 0,
        debug: () => undefined,
    });
    return new Promise((resolve, reject) => {
        client.onConnect = () => resolve(client);
        client.onStompError = (frame) => reject(new Error(frame.headers.message));
        client.activate();
    });
}

/** Fills a queue with `count` rule messages, each with its own correlation id, and waits for the broker's receipts. */
async function fill(broker: Broker, queue: string, count: number): Promise<void> {
    const producer = await connect(broker, "platform");
    const body = JSON.stringify(SAMPLE.body);
    const receipts: Array<Promise<void>> = [];
    for (let index = 0; index < count; index += 1) {
        const receipt = `fill-${index}`;
        receipts.push(new Promise<void>((resolve) => producer.watchForReceipt(receipt, () => resolve())));
        producer.publish({
            destination: `/queue/${queue}`,
            headers: {
                "reply-to": `/queue/acks.${queue}`,
                "correlation-id": `invid:${index}`,
                Co3MessagePayload: "ActionDataDTO",
                Co3ContentType: "application/json",
                persistent: "true",
                receipt,
            },
            body,
        });
    }
    await Promise.all(receipts);
    await producer.deactivate();
}

async function measure(name: string, count: number, run: (done: () => void) => Promise<() => Promise<void>>): Promise<Measurement> {
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
        finish = resolve;
    });
    const started = process.hrtime.bigint();
    const stop = await run(finish);
    await finished;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    global.gc?.();
    const retainedPerMessage = (process.memoryUsage().heapUsed - heapBefore) / count;
    await stop();
    return { name, messages: count, seconds, perSecond: count / seconds, retainedPerMessage };
}

async function runReference(broker: Broker, count: number): Promise<Measurement> {
    const queue = "actions.201.bench_reference";
    await fill(broker, queue, count);
    return measure("reference", count, async (done) => {
        const client = await connect(broker, "processor");
        let handled = 0;
        client.subscribe(
            `/${"queue"}/${queue}`,
            (message: IMessage) => {
                const receipt = `reply-${message.headers["correlation-id"]}`;
                client.watchForReceipt(receipt, () => {
                    message.ack();
                    handled += 1;
                    if (handled === count) {
                        done();
                    }
                });
                client.publish({
                    destination: message.headers["reply-to"],
                    headers: { "correlation-id": message.headers["correlation-id"], persistent: "true", receipt },
                    body: JSON.stringify({ message_type: 0, message: "done", complete: true }),
                });
            },
            { ack: "client-individual", "activemq.prefetchSize": "50" },
        );
        return () => client.deactivate();
    });
}

async function runConsumer(broker: Broker, count: number): Promise<Measurement> {
    await fill(broker, "actions.201.bench_consumer", count);
    return measure("consumer", count, async (done) => {
        const consumer = new ActionConsumer({
            host: broker.host,
            stompPort: broker.stompPort,
            orgId: 201,
            login: broker.users.processor.login,
            passcode: broker.users.processor.passcode,
        });
        let handled = 0;
        consumer.listen({
            id: "bench",
            programmaticName: "bench_consumer",
            destinationType: "queue",
            prefetch: 50,
            acknowledge: "after-reply",
            processingTimeoutMs: 0,
            onInvocation: (_invocation, _headers, messageId) => {
                consumer
                    .reply("bench", messageId, { messageType: MessageType.Information, message: "done", complete: true })
                    .then(() => {
                        handled += 1;
                        if (handled === count) {
                            done();
                        }
                    }, (error: Error) => console.error(error.message));
            },
            onInvalid: (error) => console.error(error.message),
            onTimeout: () => undefined,
            onState: () => undefined,
            onCount: () => undefined,
        });
        return () => consumer.close();
    });
}

/**
 * Runs the Node-RED runtime in this process, without the test helper, whose
 * spies keep every msg and would spoil the memory figure. Completions are
 * counted as replies arriving on the reply queue.
 */
async function runNodeRed(broker: Broker, count: number): Promise<Measurement> {
    const RED = require("node-red") as {
        init(server: http.Server, settings: Record<string, unknown>): void;
        start(): Promise<void>;
        stop(): Promise<void>;
        runtime: { flows: { setFlows(options: { flows: { flows: unknown[] }; deploymentType: string }): Promise<unknown> } };
    };
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "resilient-bench-node-red-"));
    linkPackage(userDir);
    const server = http.createServer();
    RED.init(server, {
        userDir,
        flowFile: "flows.json",
        credentialSecret: "benchmark-only",
        httpAdminRoot: false,
        httpNodeRoot: false,
        logging: { console: { level: "warn" } },
        editorTheme: { projects: { enabled: false } },
    });
    await RED.start();
    await fill(broker, "actions.201.bench_nodered", count);

    const watcher = await connect(broker, "platform");
    const result = await measure("node-red", count, async (done) => {
        let replies = 0;
        watcher.subscribe(
            "/queue/acks.actions.201.bench_nodered",
            (message) => {
                message.ack();
                replies += 1;
                if (replies === count) {
                    done();
                }
            },
            { ack: "client-individual", "activemq.prefetchSize": "500" },
        );
        await RED.runtime.flows.setFlows({
            deploymentType: "full",
            flows: {
                flows: [
                    { id: "tab", type: "tab", label: "bench" },
                    {
                        id: "platform", type: "resilient-platform", host: broker.host, stompPort: broker.stompPort, org: "201",
                        authType: "apikey", usetls: false,
                        credentials: { apiKeyId: broker.users.processor.login, apiKeySecret: broker.users.processor.passcode },
                    },
                    { id: "in", type: "resilient-in", z: "tab", platform: "platform", destination: "bench_nodered", concurrency: 50, acknowledge: "after-reply", timeout: 0, x: 100, y: 100, wires: [["ack"]] },
                    { id: "ack", type: "resilient-ack", z: "tab", reply: "complete", messageSource: "template", template: "done", x: 300, y: 100, wires: [[]] },
                ],
            },
        });
        return async () => undefined;
    });
    await watcher.deactivate();
    await RED.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
    return result;
}

/** Times stompjs's frame parser against JSON.parse on the same body. */
function runParser(iterations: number): { parserMs: number; jsonMs: number } {
    const body = JSON.stringify(SAMPLE.body);
    const headerLines = Object.entries(SAMPLE.headers).map(([name, value]) => `${name}:${value.replace(/:/g, "\\c")}`);
    const frame = new TextEncoder().encode(`MESSAGE\n${headerLines.join("\n")}\ncontent-length:${Buffer.byteLength(body)}\n\n${body}\0`);
    let frames = 0;
    const parser = new Parser(
        () => {
            frames += 1;
        },
        () => undefined,
    );
    const chunk = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer;
    let started = process.hrtime.bigint();
    for (let index = 0; index < iterations; index += 1) {
        parser.parseChunk(chunk);
    }
    const parserMs = Number(process.hrtime.bigint() - started) / 1e6;
    started = process.hrtime.bigint();
    for (let index = 0; index < iterations; index += 1) {
        JSON.parse(body);
    }
    const jsonMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (frames !== iterations) {
        throw new Error(`The parser returned ${frames} frames for ${iterations} chunks.`);
    }
    return { parserMs, jsonMs };
}

async function main(): Promise<number> {
    const count = option("messages", 2000);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "resilient-bench-"));
    console.log(`Benchmark on ${os.cpus().length} x ${os.cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, ${count} messages of ${Buffer.byteLength(JSON.stringify(SAMPLE.body))} bytes each.`);
    const broker = await startBroker({ dataDir });
    let failed = false;
    try {
        const reference = await runReference(broker, count);
        const results = [reference, await runConsumer(broker, count), await runNodeRed(broker, count)];
        const bodyBytes = Buffer.byteLength(JSON.stringify(SAMPLE.body));
        console.log("\nrun         msgs/s   ratio  retained/msg  share of body");
        for (const result of results) {
            const ratio = result.perSecond / reference.perSecond;
            const retainedShare = result.retainedPerMessage / bodyBytes;
            const target = TARGETS[result.name];
            const verdicts: string[] = [];
            if (target !== undefined) {
                verdicts.push(ratio >= target ? `speed meets >= ${target}` : `speed MISSES >= ${target}`);
                verdicts.push(retainedShare <= RETAINED_TARGET ? `memory meets <= ${RETAINED_TARGET}` : `memory MISSES <= ${RETAINED_TARGET}`);
                failed ||= ratio < target || retainedShare > RETAINED_TARGET;
            }
            console.log(
                `${result.name.padEnd(10)} ${result.perSecond.toFixed(0).padStart(7)}  ${ratio.toFixed(2).padStart(5)}  ` +
                    `${(result.retainedPerMessage / 1024).toFixed(2).padStart(9)} KB  ${retainedShare.toFixed(2).padStart(12)}  ${verdicts.join(", ")}`,
            );
        }

        const parser = runParser(2000);
        const parserRatio = parser.parserMs / parser.jsonMs;
        failed ||= parserRatio > PARSER_TARGET;
        console.log(
            `\nframe parser: ${(parser.parserMs / 2000).toFixed(3)} ms per ${(Buffer.byteLength(JSON.stringify(SAMPLE.body)) / 1024).toFixed(1)} KB frame, ` +
                `${parserRatio.toFixed(1)} x JSON.parse of the body ${parserRatio <= PARSER_TARGET ? "meets" : "MISSES"} <= ${PARSER_TARGET}`,
        );
    } finally {
        await broker.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
    }
    return failed ? 1 : 0;
}

main().then(
    (code) => process.exit(code),
    (error: Error) => {
        console.error(error);
        process.exit(1);
    },
);
