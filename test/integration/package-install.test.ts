import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { readEditorRegistrations } from "../support/editor-html";
import { startInstalledNodeRed, type InstalledNodeRed } from "../support/installed-node-red";

/**
 * Packs the repository as `npm publish` would, installs the tarball into a
 * fresh Node-RED user directory with the palette manager's npm command,
 * and starts Node-RED on it. This runs twice: on the repo's Node-RED 4.1,
 * and on the oldest Node-RED line that package.json declares in
 * `node-red.version`. That one is installed from the npm registry once
 * and kept under `.cache/`.
 */

const ROOT = path.resolve(__dirname, "..", "..", "..");
const CACHE_DIR = path.join(ROOT, ".cache");
const INSTALL_TIMEOUT_MS = 5 * 60_000;

interface PackageJson {
    name: string;
    version: string;
    "node-red": { version: string; nodes: Record<string, string> };
}

// semver is installed as a dependency of node-red and has no type declarations here.
const semver = require("semver") as {
    minVersion(range: string): { major: number; minor: number; version: string } | null;
    satisfies(version: string, range: string): boolean;
};

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as PackageJson;
const exampleNames = fs
    .readdirSync(path.join(ROOT, "examples"))
    .filter((name) => name.endsWith(".json"))
    .map((name) => name.slice(0, -".json".length))
    .sort();

/** Arguments the Node-RED 4.x palette manager passes to `npm install` (`@node-red/registry` installer.js). */
const PALETTE_INSTALL_ARGS = ["--no-audit", "--no-update-notifier", "--no-fund", "--save", "--save-prefix=~", "--omit=dev", "--engine-strict"];

/** Runs npm with `args` in `cwd` and returns its output. `npmCli` is an npm-cli.js to run with this Node, or undefined for the npm on PATH. */
function runNpm(npmCli: string | undefined, args: string[], cwd: string): { stdout: string; stderr: string } {
    const [command, commandArgs] = npmCli ? [process.execPath, [npmCli, ...args]] : ["npm", args];
    const result = spawnSync(command, commandArgs, { cwd, encoding: "utf8", timeout: INSTALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    if (result.error) {
        throw new Error(`npm ${args.join(" ")} failed to run in ${cwd}: ${result.error.message}`);
    }
    if (result.status !== 0) {
        throw new Error(`npm ${args.join(" ")} exited with ${String(result.status)} in ${cwd}:\n${result.stderr}\n${result.stdout}`);
    }
    return { stdout: result.stdout, stderr: result.stderr };
}

/**
 * Returns the npm-cli.js that the palette manager of the Node-RED at
 * `redJs` runs, or undefined when it runs the `npm` on PATH. In 4.1.15
 * `@node-red/registry` depends on npm 10 and runs that copy, while 4.0.9
 * runs `npm` through the shell.
 */
function paletteNpm(redJs: string): string | undefined {
    const registryJson = require.resolve("@node-red/registry/package.json", { paths: [path.dirname(redJs)] });
    const registry = JSON.parse(fs.readFileSync(registryJson, "utf8")) as { dependencies?: Record<string, string> };
    if (registry.dependencies?.npm === undefined) {
        return undefined;
    }
    // Resolve only after checking the dependency: the lookup walks up parent
    // folders and would find this repo's npm for a Node-RED under .cache/.
    const npmPackage = require.resolve("npm/package.json", { paths: [path.dirname(registryJson)] });
    return path.join(path.dirname(npmPackage), "bin", "npm-cli.js");
}

/**
 * Installs `node-red@<spec>` into `.cache/node-red-<label>` unless a finished
 * install of the same spec is there, and returns the path of its red.js.
 * The install goes to a staging folder first, so an interrupted run leaves
 * no half-filled cache behind.
 */
function cachedNodeRed(spec: string, label: string): string {
    const target = path.join(CACHE_DIR, `node-red-${label}`);
    const marker = path.join(target, "installed-spec.txt");
    const redJs = path.join(target, "node_modules", "node-red", "red.js");
    if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === spec && fs.existsSync(redJs)) {
        return redJs;
    }

    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const staging = fs.mkdtempSync(path.join(CACHE_DIR, `staging-node-red-${label}-`));
    try {
        fs.writeFileSync(path.join(staging, "package.json"), JSON.stringify({ name: `node-red-${label}`, private: true }));
        runNpm(undefined, ["install", "--omit=dev", "--no-audit", "--no-fund", `node-red@${spec}`], staging);
        fs.writeFileSync(path.join(staging, "installed-spec.txt"), spec);
        fs.rmSync(target, { recursive: true, force: true });
        fs.renameSync(staging, target);
    } finally {
        fs.rmSync(staging, { recursive: true, force: true });
    }
    return redJs;
}

/** Returns lines that Node-RED logged at warn or error level and that name our package or one of its node types. */
function warningsAboutPackage(output: string[], types: string[]): string[] {
    const ours = [pkg.name.split("/")[1], ...types];
    return output.filter((line) => /\[(warn|error)\]/.test(line) && ours.some((name) => line.includes(name)));
}

/** Lists every file below `dir`, as paths relative to it with forward slashes. */
function listFiles(dir: string, prefix = ""): string[] {
    const files: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const relative = prefix + entry.name;
        if (entry.isDirectory()) {
            files.push(...listFiles(path.join(dir, entry.name), relative + "/"));
        } else {
            files.push(relative);
        }
    }
    return files;
}

describe("package tarball", () => {
    let workDir: string;
    let tarball: string;
    let packedFiles: string[];
    let unpacked: string;

    before(() => {
        workDir = fs.mkdtempSync(path.join(os.tmpdir(), "resilient-package-"));
        // `npm pack` runs the `prepare` script, which builds dist/ as a publish would.
        const { stdout } = runNpm(undefined, ["pack", "--json", "--pack-destination", workDir], ROOT);
        const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
        tarball = path.join(workDir, packed.filename);
        packedFiles = packed.files.map((file) => file.path).sort();

        unpacked = path.join(workDir, "unpacked");
        fs.mkdirSync(unpacked);
        const untar = spawnSync("tar", ["-xzf", tarball, "-C", unpacked], { encoding: "utf8" });
        assert.equal(untar.status, 0, `tar -xzf ${tarball} failed: ${untar.stderr}`);
    });

    after(() => {
        fs.rmSync(workDir, { recursive: true, force: true });
    });

    test("tarball lists the same files as npm pack", () => {
        assert.deepEqual(listFiles(path.join(unpacked, "package")).sort(), packedFiles);
    });

    test("tarball contains every node file", () => {
        for (const [set, file] of Object.entries(pkg["node-red"].nodes)) {
            assert.ok(packedFiles.includes(file), `runtime file ${file} of node set ${set} is not in the tarball`);
            const html = file.replace(/\.js$/, ".html");
            assert.ok(packedFiles.includes(html), `editor file ${html} of node set ${set} is not in the tarball`);
        }
    });

    test("tarball contains every example", () => {
        for (const name of exampleNames) {
            assert.ok(packedFiles.includes(`examples/${name}.json`), `example "${name}.json" is not in the tarball`);
        }
    });

    test("tarball contains no tests", () => {
        const tests = packedFiles.filter((file) => /(^|\/)(test|tests|__tests__)\//.test(file) || /[._-](test|spec)\.[cm]?[jt]s(\.map)?$/.test(file));
        assert.deepEqual(tests, [], "test files are in the tarball; narrow \"files\" in package.json");
    });

    test("tarball contains no dev tooling", () => {
        const tooling = packedFiles.filter((file) => /^(dist\/)?(simulator|scripts|\.ci|node_modules)\//.test(file) || file === "tsconfig.json");
        assert.deepEqual(tooling, [], "simulator, scripts or build files are in the tarball; narrow \"files\" in package.json");
    });

    test("tarball contains no stale build output", () => {
        // dist/ is not cleaned before a build, so output of a deleted source would still be packed.
        const hasSource = (file: string) => {
            const source = file.replace(/^dist\//, "");
            // A .js file may also be copied as it is from nodes/ by scripts/copy-assets.js.
            return fs.existsSync(path.join(ROOT, source.replace(/\.js(\.map)?$/, ".ts"))) || fs.existsSync(path.join(ROOT, source));
        };
        const stale = packedFiles.filter((file) => file.startsWith("dist/") && /\.js(\.map)?$/.test(file) && !hasSource(file));
        assert.deepEqual(stale, [], "compiled files without a TypeScript source are in the tarball; run npm run clean and pack again");
    });

    test("tarball contains no broker data", () => {
        const data = packedFiles.filter((file) => /(^|\/)(\.broker|\.cache|kahadb|test-artifacts)\//.test(file));
        assert.deepEqual(data, [], "broker data or caches are in the tarball");
    });

    test("tarball contains no secret files", () => {
        const secretNames = /(^|\/)(\.env(\..*)?|\.npmrc|flows_cred\.json|id_rsa[^/]*|id_ed25519[^/]*|[^/]+\.(pem|key|p12|pfx|jks|keystore))$/i;
        const found = packedFiles.filter((file) => secretNames.test(file));
        assert.deepEqual(found, [], "files that usually hold keys or credentials are in the tarball");
    });

    test("file contents contain no secrets", () => {
        const secretContent: Array<[string, RegExp]> = [
            ["a PEM private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
            ["an npm token", /npm_[A-Za-z0-9]{36}|_authToken\s*=/],
            ["a Node-RED credentialSecret", /credentialSecret\s*[:=]/],
        ];
        for (const file of packedFiles) {
            const text = fs.readFileSync(path.join(unpacked, "package", file), "utf8");
            for (const [what, pattern] of secretContent) {
                assert.doesNotMatch(text, pattern, `${file} contains ${what}`);
            }
        }
    });

    test("examples carry no credentials", () => {
        for (const name of exampleNames) {
            const flow = JSON.parse(fs.readFileSync(path.join(unpacked, "package", "examples", `${name}.json`), "utf8")) as Array<Record<string, unknown>>;
            for (const node of flow) {
                const credentials = node.credentials as Record<string, unknown> | undefined;
                const values = Object.values(credentials ?? {}).filter((value) => value !== "" && value !== undefined && value !== null);
                assert.deepEqual(values, [], `node ${String(node.id)} in example "${name}" carries credentials`);
            }
        }
    });

    /**
     * Installs the tarball into a new user directory with the palette
     * manager's npm of the Node-RED at `redJs()`, starts that Node-RED, and
     * checks what a user would see after a palette install.
     */
    function describeInstalledOn(label: string, redJs: () => string): void {
        describe(`installed on Node-RED ${label}`, () => {
            let userDir: string;
            let nodeRed: InstalledNodeRed;
            let editorTypes: string[];
            let npmVersion: string;
            let npmWarnings: string[];

            before(async () => {
                const red = redJs();
                userDir = fs.mkdtempSync(path.join(workDir, "user-"));
                fs.writeFileSync(path.join(userDir, "package.json"), JSON.stringify({ name: "node-red-project", private: true }));
                const npmCli = paletteNpm(red);
                npmVersion = runNpm(npmCli, ["--version"], userDir).stdout.trim();
                const { stderr } = runNpm(npmCli, ["install", ...PALETTE_INSTALL_ARGS, "--", tarball], userDir);
                npmWarnings = stderr.split("\n").filter((line) => /npm warn/i.test(line));

                const installed = path.join(userDir, "node_modules", ...pkg.name.split("/"));
                editorTypes = Object.values(pkg["node-red"].nodes).flatMap((file) => {
                    const html = path.join(installed, file.replace(/\.js$/, ".html"));
                    return readEditorRegistrations(fs.readFileSync(html, "utf8"), html).map((registration) => registration.type ?? registration.typeSource);
                });
                nodeRed = await startInstalledNodeRed(red, userDir);
            });

            after(async () => {
                await nodeRed?.stop();
            });

            test("package installed as a copy", (context: TestContext) => {
                // npm's warnings depend on the npm version, so they are shown rather than asserted.
                context.diagnostic(`installed with npm ${npmVersion}${npmWarnings.length > 0 ? `, which warned:\n${npmWarnings.join("\n")}` : " without warnings"}`);
                const installed = path.join(userDir, "node_modules", ...pkg.name.split("/"));
                assert.equal(fs.lstatSync(installed).isSymbolicLink(), false, `${installed} is a link, not an installed copy`);
            });

            test("runtime is the expected release", () => {
                const line = nodeRed.output.find((entry) => entry.includes("Node-RED version:"));
                assert.ok(line, `Node-RED printed no version line:\n${nodeRed.output.slice(0, 20).join("\n")}`);
                const releaseLine = label.split(".").slice(0, 2).join("\\.");
                assert.match(line, new RegExp(`v${releaseLine}\\.`), `expected Node-RED ${label}, got: ${line}`);
            });

            test("module loads without warnings", () => {
                assert.deepEqual(warningsAboutPackage(nodeRed.output, editorTypes), [], `Node-RED log:\n${nodeRed.output.join("\n")}`);
            });

            test("every node set loads", async () => {
                const { status, body } = await nodeRed.getJson("/nodes");
                assert.equal(status, 200, `GET /nodes answered ${status}: ${String(body)}`);
                const sets = (body as Array<{ id: string; module: string; enabled: boolean; err?: unknown; version?: string }>).filter((set) => set.module === pkg.name);
                for (const name of Object.keys(pkg["node-red"].nodes)) {
                    const set = sets.find((candidate) => candidate.id === `${pkg.name}/${name}`);
                    assert.ok(set, `node set ${name} is not registered; registered sets: ${sets.map((entry) => entry.id).join(", ") || "none"}`);
                    assert.equal(set.err, undefined, `node set ${name} failed to load: ${JSON.stringify(set.err)}`);
                    assert.equal(set.enabled, true, `node set ${name} is disabled`);
                    assert.equal(set.version, pkg.version, `node set ${name} has version ${String(set.version)}`);
                }
            });

            test("every editor type registered", async () => {
                const { body } = await nodeRed.getJson("/nodes");
                const registered = (body as Array<{ module: string; types: string[] }>).filter((set) => set.module === pkg.name).flatMap((set) => set.types);
                for (const type of editorTypes) {
                    assert.ok(registered.includes(type), `type ${type} from the editor files is not registered at runtime; registered: ${registered.join(", ")}`);
                }
            });

            test("message catalogs served", async () => {
                for (const name of Object.keys(pkg["node-red"].nodes)) {
                    const { status, body } = await nodeRed.getJson(`/nodes/${pkg.name}/${name}/messages?lng=en-US`);
                    assert.equal(status, 200, `catalog of ${name} answered ${status}`);
                    assert.equal(typeof body, "object", `catalog of ${name} is not JSON: ${String(body)}`);
                assert.notEqual(body, null, `catalog of ${name} is null`);
                assert.ok(Object.keys(body as object).length > 0, `catalog of ${name} is empty: ${JSON.stringify(body)}`);
                }
            });

            test("examples listed in the library", async () => {
                const modules = await nodeRed.getJson("/library/examples/flows/");
                assert.ok((modules.body as string[]).includes(pkg.name), `examples library lists ${JSON.stringify(modules.body)}`);

                const { status, body } = await nodeRed.getJson(`/library/examples/flows/${pkg.name}`);
                assert.equal(status, 200, `examples of ${pkg.name} answered ${status}`);
                const listed = (body as Array<{ fn: string }>).map((entry) => entry.fn).sort();
                assert.deepEqual(listed, exampleNames);
            });

            test("examples served as flows", async () => {
                for (const name of exampleNames) {
                    const { status, body } = await nodeRed.getJson(`/library/examples/flows/${pkg.name}/${encodeURIComponent(name)}`);
                    assert.equal(status, 200, `example "${name}" answered ${status}`);
                    assert.ok(Array.isArray(body), `example "${name}" is not a JSON array`);
                    const original = JSON.parse(fs.readFileSync(path.join(ROOT, "examples", `${name}.json`), "utf8")) as unknown;
                    assert.deepEqual(body, original, `example "${name}" differs from examples/${name}.json`);
                }
            });
        });
    }

    const repoNodeRed = JSON.parse(fs.readFileSync(require.resolve("node-red/package.json", { paths: [ROOT] }), "utf8")) as { version: string };
    describeInstalledOn(repoNodeRed.version, () => require.resolve("node-red/red.js", { paths: [ROOT] }));

    // The oldest line package.json admits, at its newest patch: ">=4.0.0" gives "~4.0.0".
    const oldest = semver.minVersion(pkg["node-red"].version);
    const oldestLine = oldest ? `${oldest.major}.${oldest.minor}` : "unknown";
    if (oldest === null) {
        test("oldest Node-RED derivable", () => {
            assert.fail(`package.json node-red.version "${pkg["node-red"].version}" admits no Node-RED version`);
        });
    } else if (semver.satisfies(repoNodeRed.version, `~${oldestLine}.0`)) {
        test("oldest Node-RED is the repo's", { skip: `the oldest declared line ${oldestLine} is the devDependency's` }, () => undefined);
    } else {
        describeInstalledOn(`${oldestLine}.x`, () => cachedNodeRed(`~${oldestLine}.0`, oldestLine));
    }
});
