/**
 * Runs Node-RED 4.1 as a child process with this package installed in a
 * private user directory, as a user's palette install would have it. Used
 * by the demo and by tests that need the real runtime, its files and its
 * admin API.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");
const START_TIMEOUT_MS = 60_000;

/** A flow node as the admin API takes it; credentials ride along in `credentials`. */
export type FlowNode = Record<string, unknown>;

export interface StartNodeRedOptions {
    /** User directory; a new temporary one when absent. */
    userDir?: string;
    /** Console log level; `debug` shows everything the nodes log. */
    logLevel?: "info" | "debug" | "trace";
    /** Receives every line Node-RED prints. */
    log?: (line: string) => void;
    /** Package folder to link into the user directory; this repository by default. */
    packageDir?: string;
}

export interface NodeRedProcess {
    url: string;
    port: number;
    userDir: string;
    /** Every line printed so far, stdout and stderr. */
    readonly output: string[];
    /** Deploys a full set of flows and waits until Node-RED has started them. */
    deploy(flows: FlowNode[]): Promise<void>;
    /** Sends a request to the admin API and returns the parsed JSON response. */
    admin(method: string, apiPath: string, body?: unknown): Promise<unknown>;
    /** Waits until a printed line matches `pattern`. */
    waitForOutput(pattern: RegExp, timeoutMs: number, after?: number): Promise<string>;
    stop(): Promise<void>;
}

/** Starts Node-RED on a free loopback port and resolves once its HTTP server is listening. */
export async function startNodeRed(options: StartNodeRedOptions = {}): Promise<NodeRedProcess> {
    const userDir = options.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "resilient-node-red-"));
    const port = await freePort();
    prepareUserDir(userDir, options.packageDir ?? ROOT, options.logLevel ?? "info");

    const redJs = require.resolve("node-red/red.js", { paths: [ROOT] });
    const child = spawn(process.execPath, [redJs, "--userDir", userDir, "--port", String(port)], {
        cwd: userDir,
        env: { ...process.env, NODE_RED_ENABLE_PROJECTS: "false" },
        stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    const listeners = new Set<(line: string) => void>();
    const collect = (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) {
            if (line.length === 0) {
                continue;
            }
            output.push(line);
            options.log?.(line);
            for (const listener of listeners) {
                listener(line);
            }
        }
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);

    const url = `http://127.0.0.1:${port}`;
    const handle: NodeRedProcess = {
        url,
        port,
        userDir,
        output,
        admin: (method, apiPath, body) => adminRequest(url, method, apiPath, body),
        waitForOutput: (pattern, timeoutMs, after = 0) => waitForLine(output, listeners, pattern, timeoutMs, after),
        deploy: async (flows) => {
            const mark = output.length;
            await adminRequest(url, "POST", "/flows", flows, { "Node-RED-Deployment-Type": "full" });
            // The admin API responds before the new flows run.
            await waitForLine(output, listeners, /Started flows/, 30000, mark);
        },
        stop: () => stopChild(child),
    };

    try {
        await waitForLine(output, listeners, /Server now running at/, START_TIMEOUT_MS, 0, child);
    } catch (error) {
        await stopChild(child);
        throw error;
    }
    return handle;
}

/** Links the package into a Node-RED user directory, where the runtime looks for node modules. */
export function linkPackage(userDir: string, packageDir = ROOT): void {
    const modules = path.join(userDir, "node_modules", "@soarflow");
    fs.mkdirSync(modules, { recursive: true });
    const target = path.join(modules, "node-red-resilient");
    if (!fs.existsSync(target)) {
        fs.symlinkSync(packageDir, target, "dir");
    }
}

function prepareUserDir(userDir: string, packageDir: string, logLevel: string): void {
    linkPackage(userDir, packageDir);
    fs.writeFileSync(
        path.join(userDir, "package.json"),
        JSON.stringify({ name: "node-red-user", private: true, dependencies: { "@soarflow/node-red-resilient": "*" } }, null, 2),
    );
    const settings = `module.exports = {
    uiHost: "127.0.0.1",
    flowFile: "flows.json",
    credentialSecret: "a-test-secret-for-flows-cred",
    editorTheme: { tours: false, projects: { enabled: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    externalModules: { palette: { allowInstall: false } },
    logging: { console: { level: ${JSON.stringify(logLevel)}, metrics: false, audit: false } }
};
`;
    fs.writeFileSync(path.join(userDir, "settings.js"), settings);
}

async function adminRequest(url: string, method: string, apiPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    const response = await fetch(url + apiPath, {
        method,
        headers: { "Content-Type": "application/json", "Node-RED-API-Version": "v1", ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
        throw new Error(`Node-RED admin API ${method} ${apiPath} failed with ${response.status}: ${text.slice(0, 300)}`);
    }
    return text ? (JSON.parse(text) as unknown) : undefined;
}

function waitForLine(
    output: string[],
    listeners: Set<(line: string) => void>,
    pattern: RegExp,
    timeoutMs: number,
    after: number,
    child?: ChildProcess,
): Promise<string> {
    const earlier = output.slice(after).find((line) => pattern.test(line));
    if (earlier) {
        return Promise.resolve(earlier);
    }
    return new Promise<string>((resolve, reject) => {
        const finish = (error: Error | undefined, line?: string) => {
            clearTimeout(timer);
            listeners.delete(listener);
            child?.off("exit", onExit);
            if (error) {
                reject(error);
            } else {
                resolve(line as string);
            }
        };
        const listener = (line: string) => {
            if (pattern.test(line)) {
                finish(undefined, line);
            }
        };
        const onExit = (code: number | null) =>
            finish(new Error(`Node-RED exited with code ${String(code)}:\n${output.slice(-30).join("\n")}`));
        const timer = setTimeout(
            () => finish(new Error(`Timed out after ${timeoutMs} ms waiting for Node-RED to print ${pattern}:\n${output.slice(-30).join("\n")}`)),
            timeoutMs,
        );
        listeners.add(listener);
        child?.on("exit", onExit);
    });
}

/** Stops a child process with SIGINT, and with SIGKILL after 20 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) {
        return;
    }
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
    await exited;
    clearTimeout(timer);
}

/** Returns a TCP port that is free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}
