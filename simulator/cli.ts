#!/usr/bin/env node
/**
 * Command line of the platform simulator.
 *
 *   serve          run the simulator against a broker until interrupted
 *   fire-rule      fire a rule through a running simulator's HTTP API
 *   fire-function  fire a function the same way
 *   status         print Action Status as a table
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import type { Invocation } from "./invocations";
import type { RestCredentials } from "./rest/auth";
import { Simulator } from "./simulator";

const DEFAULT_HTTP_PORT = 8480;
const DEFAULT_URL = process.env.RESILIENT_SIMULATOR_URL ?? `http://127.0.0.1:${DEFAULT_HTTP_PORT}`;

const USAGE = `Usage:
  cli.js serve --stomp-port N --login USER (--passcode-env VAR | --passcode-file FILE)
               [--broker-host 127.0.0.1] [--ca FILE] [--http-host 127.0.0.1] [--http-port ${DEFAULT_HTTP_PORT}]
               [--tls-cert FILE --tls-key FILE] [--ack-timeout SECONDS]
               [--credentials FILE] [--session-timeout SECONDS]
  cli.js fire-rule RULE_ID --incident ID [--object ID] [--property NAME=VALUE]... [--url URL]
  cli.js fire-function NAME [--input NAME=VALUE]... [--url URL]
  cli.js status [INVOCATION_ID] [--url URL]

The broker passcode is read from an environment variable or a file, never
from the command line. With --ca the simulator connects over STOMP+SSL and
verifies the broker's certificate against that CA file. Values of
--property and --input are parsed as JSON when they are valid JSON, else
taken as text. --credentials names a JSON file with the REST logins:
{"passwords": {"<email>": "<password>"}, "apiKeys": [{"keyId", "secret",
"handle", "displayName", "orgIds"}]}; without it the simulator uses its
built-in test logins. --url defaults to $RESILIENT_SIMULATOR_URL or ${DEFAULT_URL}.`;

async function main(argv: string[]): Promise<number> {
    const [command, ...rest] = argv;
    switch (command) {
        case "serve":
            return serve(rest);
        case "fire-rule":
            return fireRule(rest);
        case "fire-function":
            return fireFunction(rest);
        case "status":
            return status(rest);
        case undefined:
        case "help":
        case "--help":
        case "-h":
            console.log(USAGE);
            return command === undefined ? 2 : 0;
        default:
            console.error(`Unknown command "${command}".\n\n${USAGE}`);
            return 2;
    }
}

async function serve(args: string[]): Promise<number> {
    const { values } = parseArgs({
        args,
        options: {
            "broker-host": { type: "string", default: "127.0.0.1" },
            "stomp-port": { type: "string" },
            login: { type: "string" },
            "passcode-env": { type: "string" },
            "passcode-file": { type: "string" },
            ca: { type: "string" },
            "http-host": { type: "string", default: "127.0.0.1" },
            "http-port": { type: "string", default: String(DEFAULT_HTTP_PORT) },
            "tls-cert": { type: "string" },
            "tls-key": { type: "string" },
            "ack-timeout": { type: "string" },
            credentials: { type: "string" },
            "session-timeout": { type: "string" },
        },
    });
    const stompPort = Number(values["stomp-port"]);
    if (!Number.isInteger(stompPort) || stompPort <= 0) {
        throw new UsageError("--stomp-port must be the broker's STOMP port number.");
    }
    if (!values.login) {
        throw new UsageError("--login must name the broker user the platform logs in as.");
    }
    if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) {
        throw new UsageError("--tls-cert and --tls-key go together.");
    }
    const ackTimeoutSeconds = values["ack-timeout"] === undefined ? undefined : Number(values["ack-timeout"]);
    if (ackTimeoutSeconds !== undefined && !(ackTimeoutSeconds > 0)) {
        throw new UsageError("--ack-timeout must be a positive number of seconds.");
    }

    const sessionTimeoutSeconds = values["session-timeout"] === undefined ? undefined : Number(values["session-timeout"]);
    if (sessionTimeoutSeconds !== undefined && !(sessionTimeoutSeconds > 0)) {
        throw new UsageError("--session-timeout must be a positive number of seconds.");
    }

    const simulator = new Simulator({
        broker: {
            host: values["broker-host"] as string,
            port: stompPort,
            tls: values.ca ? { ca: fs.readFileSync(values.ca) } : undefined,
            login: values.login,
            passcode: readPasscode(values["passcode-env"], values["passcode-file"]),
        },
        http: {
            host: values["http-host"],
            port: Number(values["http-port"]),
            tls: values["tls-cert"] ? { cert: fs.readFileSync(values["tls-cert"]), key: fs.readFileSync(values["tls-key"] as string) } : undefined,
        },
        ackTimeoutMs: ackTimeoutSeconds === undefined ? undefined : ackTimeoutSeconds * 1000,
        credentials: values.credentials ? (JSON.parse(fs.readFileSync(values.credentials, "utf8")) as RestCredentials) : undefined,
        sessionTimeoutSeconds,
        brokerWaitMs: 0,
    });
    await simulator.start();
    if (!["127.0.0.1", "::1", "localhost"].includes(values["http-host"] as string)) {
        console.warn(`[simulator] warning: the /sim/ control API has no authentication and now listens on ${values["http-host"]}.`);
    }

    await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
    });
    console.log("[simulator] Stopping.");
    await simulator.stop();
    return 0;
}

function readPasscode(envName: string | undefined, file: string | undefined): string {
    if (envName && file) {
        throw new UsageError("Give either --passcode-env or --passcode-file, not both.");
    }
    if (envName) {
        const value = process.env[envName];
        if (!value) {
            throw new UsageError(`The environment variable ${envName} named by --passcode-env is not set.`);
        }
        return value;
    }
    if (file) {
        return fs.readFileSync(file, "utf8").trim();
    }
    throw new UsageError("The broker passcode is missing; give --passcode-env VAR or --passcode-file FILE.");
}

async function fireRule(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
            incident: { type: "string" },
            object: { type: "string" },
            property: { type: "string", multiple: true },
            url: { type: "string", default: DEFAULT_URL },
        },
    });
    if (positionals.length !== 1 || !values.incident) {
        throw new UsageError("fire-rule takes one RULE_ID and --incident ID.");
    }
    const request = {
        incidentId: Number(values.incident),
        objectId: values.object === undefined ? undefined : Number(values.object),
        properties: parseAssignments(values.property ?? [], "--property"),
    };
    const answer = (await callApi(values.url as string, `/sim/rules/${encodeURIComponent(positionals[0])}/fire`, request)) as { invocations: Invocation[] };
    printTable(answer.invocations);
    return 0;
}

async function fireFunction(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
            input: { type: "string", multiple: true },
            url: { type: "string", default: DEFAULT_URL },
        },
    });
    if (positionals.length !== 1) {
        throw new UsageError("fire-function takes one function NAME.");
    }
    const request = { inputs: parseAssignments(values.input ?? [], "--input") };
    const answer = (await callApi(values.url as string, `/sim/functions/${encodeURIComponent(positionals[0])}/fire`, request)) as { invocation: Invocation };
    printTable([answer.invocation]);
    return 0;
}

async function status(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { url: { type: "string", default: DEFAULT_URL } },
    });
    if (positionals.length > 1) {
        throw new UsageError("status takes at most one INVOCATION_ID.");
    }
    if (positionals.length === 1) {
        const invocation = (await callApi(values.url as string, `/sim/invocations/${encodeURIComponent(positionals[0])}`)) as Invocation;
        printTable([invocation]);
        for (const reply of invocation.replies) {
            let kind = reply.complete ? "complete" : "interim";
            if (reply.problem) {
                kind = `invalid (${reply.problem})`;
            }
            console.log(`  ${new Date(reply.receivedAt).toISOString()}  ${kind}  ${reply.text}`);
        }
        return 0;
    }
    const answer = (await callApi(values.url as string, "/sim/invocations")) as { invocations: Invocation[] };
    printTable(answer.invocations);
    return 0;
}

function parseAssignments(entries: string[], option: string): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (const entry of entries) {
        const index = entry.indexOf("=");
        if (index <= 0) {
            throw new UsageError(`${option} takes NAME=VALUE, not "${entry}".`);
        }
        const text = entry.slice(index + 1);
        let value: unknown = text;
        try {
            value = JSON.parse(text);
        } catch {
            // Not JSON, so the value is the text itself.
        }
        result[entry.slice(0, index)] = value;
    }
    return result;
}

async function callApi(baseUrl: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
        response = await fetch(new URL(path, baseUrl), {
            method: body === undefined ? "GET" : "POST",
            headers: body === undefined ? undefined : { "Content-Type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
        });
    } catch (error) {
        throw new Error(`Connecting to the simulator at ${baseUrl} failed (${(error as Error).message}); start one with "serve" or pass --url.`);
    }
    const answer = (await response.json()) as { error?: string };
    if (!response.ok) {
        throw new Error(`The simulator responded with HTTP ${response.status}: ${answer.error ?? JSON.stringify(answer)}`);
    }
    return answer;
}

/** Prints invocations as an Action Status table. */
function printTable(invocations: Invocation[]): void {
    const rows = invocations.map((invocation) => {
        const last = invocation.replies.at(-1);
        return [
            String(invocation.id),
            invocationSource(invocation),
            `${invocation.orgId}.${invocation.destination}`,
            invocation.status,
            String(invocation.replies.length),
            last ? last.text.replace(/\s+/g, " ").slice(0, 60) : "",
        ];
    });
    const header = ["ID", "Rule / function", "Destination", "Status", "Replies", "Last message"];
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
    const format = (row: string[]): string => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd();
    console.log(format(header));
    console.log(format(widths.map((width) => "-".repeat(width))));
    for (const row of rows) {
        console.log(format(row));
    }
}

function invocationSource(invocation: Invocation): string {
    if (invocation.kind === "function") {
        return `function ${invocation.functionName}`;
    }
    if (invocation.kind === "rule") {
        return `${invocation.ruleId} ${invocation.ruleName}`;
    }
    return "raw message";
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
    (code) => {
        process.exitCode = code;
    },
    (error: Error) => {
        console.error(error instanceof UsageError ? `${error.message}\n\n${USAGE}` : `Error: ${error.message}`);
        process.exitCode = error instanceof UsageError ? 2 : 1;
    },
);
