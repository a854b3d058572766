/**
 * Runs any installed Node-RED (`red.js` of a given copy) as a child process
 * on a user directory that the caller filled with `npm install`, the way a
 * palette install leaves it. `scripts/node-red.ts` always runs the repo's
 * Node-RED and links the repo into the user directory, so it cannot test a
 * packed tarball or another Node-RED version.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

import { freePort, stopChild } from "../../scripts/node-red";

const START_TIMEOUT_MS = 60_000;

export interface InstalledNodeRed {
    url: string;
    userDir: string;
    /** Every line printed so far, stdout and stderr. */
    readonly output: string[];
    /** Sends a GET to the admin API with `Accept: application/json` and returns the status and parsed body. */
    getJson(apiPath: string): Promise<{ status: number; body: unknown }>;
    stop(): Promise<void>;
}

/**
 * Writes `settings.js` into `userDir` (loopback only, no telemetry, no
 * palette installs), starts `redJs` on a free loopback port and resolves
 * once Node-RED prints that its server is running, which happens after
 * every node module has been loaded.
 */
export async function startInstalledNodeRed(redJs: string, userDir: string): Promise<InstalledNodeRed> {
    writeSettings(userDir);
    const port = await freePort();
    const child = spawn(process.execPath, [redJs, "--userDir", userDir, "--port", String(port)], {
        cwd: userDir,
        env: { ...process.env, NODE_RED_ENABLE_PROJECTS: "false" },
        stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    const collect = (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) {
            if (line.length > 0) {
                output.push(line);
            }
        }
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);

    try {
        await waitForServer(child, output);
    } catch (error) {
        await stopChild(child);
        throw error;
    }

    const url = `http://127.0.0.1:${port}`;
    return {
        url,
        userDir,
        output,
        getJson: async (apiPath) => {
            const response = await fetch(url + apiPath, { headers: { Accept: "application/json" } });
            const text = await response.text();
            let body: unknown = text;
            try {
                body = JSON.parse(text) as unknown;
            } catch {
                // Error pages are not JSON; the caller reports the text with the status.
            }
            return { status: response.status, body };
        },
        stop: () => stopChild(child),
    };
}

function writeSettings(userDir: string): void {
    const settings = `module.exports = {
    uiHost: "127.0.0.1",
    flowFile: "flows.json",
    credentialSecret: "package-install-test",
    editorTheme: { tours: false, projects: { enabled: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    externalModules: { palette: { allowInstall: false } },
    logging: { console: { level: "info", metrics: false, audit: false } }
};
`;
    fs.writeFileSync(path.join(userDir, "settings.js"), settings);
}

function waitForServer(child: ChildProcess, output: string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
        const finish = (error?: Error) => {
            clearInterval(poll);
            clearTimeout(timer);
            child.off("exit", onExit);
            if (error) {
                reject(error);
            } else {
                resolve();
            }
        };
        const onExit = (code: number | null) =>
            finish(new Error(`Node-RED exited with code ${String(code)} before its server ran:\n${output.slice(-30).join("\n")}`));
        const poll = setInterval(() => {
            if (output.some((line) => line.includes("Server now running at"))) {
                finish();
            }
        }, 50);
        const timer = setTimeout(
            () => finish(new Error(`Node-RED did not start within ${START_TIMEOUT_MS} ms:\n${output.slice(-30).join("\n")}`)),
            START_TIMEOUT_MS,
        );
        child.on("exit", onExit);
    });
}
