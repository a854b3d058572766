import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import { readEditorRegistrations, type EditorRegistration } from "../support/editor-html";

/**
 * Re-checks offline the flow library scorecard items that need no network
 * (`node-red-dev validate` 0.1.6: P01, P03-P07, N02, D01), from package.json,
 * the examples and the built editor files. The real run also queries the
 * npm registry and the flow library catalogue (P08, N01, D02, D03).
 */

const ROOT = path.resolve(__dirname, "..", "..", "..");

/** Newest Node-RED releases that must load the package: the 4.1 line that runs on Node 20, and 5.0 (npm `latest`). */
const NODE_RED_RELEASES = ["4.1.15", "5.0.7"];
/** Minimum Node.js of Node-RED 5.0.7 (`engines.node` ">=22.9"). The scorecard's P07 tests our range with it. */
const LATEST_NODE_RED_MIN_NODE = "22.9.0";
/** The Node.js line the package is tested on. */
const TESTED_NODE_LINE = "20.x";
const MAX_DEPENDENCIES = 6;

interface PackageJson {
    name?: string;
    version?: string;
    license?: string;
    repository?: unknown;
    bugs?: unknown;
    keywords?: string[];
    engines?: { node?: string };
    "node-red"?: { version?: string; nodes?: Record<string, string> };
    dependencies?: Record<string, string>;
}

// semver is installed as a dependency of node-red and has no type declarations here.
const semver = require("semver") as {
    validRange(range: string): string | null;
    satisfies(version: string, range: string): boolean;
    intersects(range1: string, range2: string): boolean;
    minVersion(range: string): { version: string } | null;
};

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as PackageJson;
const nodeFiles = pkg["node-red"]?.nodes ?? {};

/** Lists every `.json` file below `dir`, recursively, as the scorecard does for `examples/`. */
function jsonFiles(dir: string): string[] {
    const files: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
            files.push(...jsonFiles(full));
        } else if (entry.name.endsWith(".json")) {
            files.push(full);
        }
    }
    return files.sort();
}

/** Reads the registrations of the editor file beside each runtime file in `node-red.nodes` (the built copy under dist/). */
function editorRegistrations(): Array<EditorRegistration & { file: string }> {
    return Object.values(nodeFiles).flatMap((runtimeFile) => {
        const file = runtimeFile.replace(".js", ".html");
        const html = fs.readFileSync(path.join(ROOT, file), "utf8");
        return readEditorRegistrations(html, file).map((registration) => ({ ...registration, file }));
    });
}

/**
 * Finds the package.json that `require(name)` would load from `fromDir`,
 * walking up through parent `node_modules` folders as Node does.
 */
function installedPackageJson(name: string, fromDir: string): string | undefined {
    let dir = fromDir;
    for (;;) {
        const candidate = path.join(dir, "node_modules", name, "package.json");
        if (fs.existsSync(candidate)) {
            return candidate;
        }
        const parent = path.dirname(dir);
        if (parent === dir) {
            return undefined;
        }
        dir = parent;
    }
}

describe("flow library scorecard", () => {
    test("P01 license present", () => {
        assert.equal(typeof pkg.license, "string", "package.json has no \"license\"");
        assert.notEqual(pkg.license?.trim(), "", "package.json has an empty \"license\"");
    });

    test("P03 repository or bugs present", () => {
        assert.ok(pkg.repository !== undefined || pkg.bugs !== undefined, "package.json has neither \"repository\" nor \"bugs\"");
    });

    test("P04 name is scoped", () => {
        assert.match(pkg.name ?? "", /^@[a-z0-9][a-z0-9._~-]*\/[a-z0-9][a-z0-9._~-]*$/, `name "${String(pkg.name)}" is not a scoped npm name (@scope/name)`);
    });

    test("P05 keyword node-red", () => {
        assert.ok(pkg.keywords?.includes("node-red"), `keywords ${JSON.stringify(pkg.keywords)} lack "node-red"`);
    });

    test("P06 node-red.version admits releases", () => {
        const range = pkg["node-red"]?.version;
        assert.ok(range, "package.json has no \"node-red\".\"version\"");
        assert.ok(semver.validRange(range), `"node-red"."version" "${range}" is not a valid semver range`);
        for (const release of NODE_RED_RELEASES) {
            assert.ok(semver.satisfies(release, range), `"node-red"."version" "${range}" excludes Node-RED ${release}, which then refuses to load the package`);
        }
    });

    test("P07 engines.node admits Node 20 and 22.9", () => {
        const range = pkg.engines?.node;
        assert.ok(range, "package.json has no \"engines\".\"node\"");
        assert.ok(semver.validRange(range), `engines.node "${range}" is not a valid semver range`);
        assert.ok(
            semver.satisfies(LATEST_NODE_RED_MIN_NODE, range),
            `engines.node "${range}" excludes Node ${LATEST_NODE_RED_MIN_NODE}, the minimum of the latest Node-RED`,
        );
        assert.ok(semver.intersects(range, TESTED_NODE_LINE), `engines.node "${range}" excludes Node ${TESTED_NODE_LINE}, the line the package is tested on`);
    });

    test("examples are JSON arrays", () => {
        const files = jsonFiles(path.join(ROOT, "examples"));
        assert.ok(files.length > 0, "examples/ contains no .json file");
        for (const file of files) {
            const name = path.relative(ROOT, file);
            let flow: unknown;
            assert.doesNotThrow(() => {
                flow = JSON.parse(fs.readFileSync(file, "utf8"));
            }, `${name} is not valid JSON`);
            assert.ok(Array.isArray(flow), `${name} is not a JSON array of flow nodes`);
        }
    });

    test("N02 every node type in an example", () => {
        const used = new Set<string>();
        for (const file of jsonFiles(path.join(ROOT, "examples"))) {
            const flow = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
            for (const node of Array.isArray(flow) ? (flow as Array<{ type?: unknown }>) : []) {
                if (typeof node.type === "string") {
                    used.add(node.type);
                }
            }
        }
        const unused = editorRegistrations()
            .filter((registration) => registration.category !== "config" && registration.type !== undefined)
            .map((registration) => registration.type as string)
            .filter((type) => !used.has(type));
        assert.deepEqual(unused, [], `node types used in no example under examples/: ${unused.join(", ")}`);
    });

    test("D01 at most six dependencies", () => {
        const names = Object.keys(pkg.dependencies ?? {});
        assert.ok(names.length <= MAX_DEPENDENCIES, `${names.length} dependencies (${names.join(", ")}); the scorecard allows ${MAX_DEPENDENCIES}`);
    });

    test("editor files register literal types", () => {
        for (const [set, runtimeFile] of Object.entries(nodeFiles)) {
            const file = runtimeFile.replace(".js", ".html");
            assert.ok(fs.existsSync(path.join(ROOT, file)), `editor file ${file} of node set ${set} is missing (run npm run build)`);
        }
        const registrations = editorRegistrations();
        assert.ok(registrations.length >= Object.keys(nodeFiles).length, "some editor file has no registerType call in a <script type=\"text/javascript\"> block");
        for (const registration of registrations) {
            assert.ok(registration.type !== undefined, `${registration.file}: registerType(${registration.typeSource}, ...) needs a string literal type`);
            assert.ok(registration.definitionIsObjectLiteral, `${registration.file}: the definition of ${registration.typeSource} must be an inline object literal`);
            assert.ok(registration.hasCategory, `${registration.file}: ${registration.typeSource} has no category`);
            assert.ok(registration.category !== undefined, `${registration.file}: the category of ${registration.typeSource} must be a string literal`);
        }
    });

    test("config nodes have literal category config", () => {
        const registrations = editorRegistrations();
        const ownTypes = new Set(registrations.map((registration) => registration.type));
        // A type that another node of ours picks in a config select is a config node.
        const configTypes = new Set(registrations.flatMap((registration) => registration.referencedTypes).filter((type) => ownTypes.has(type)));
        assert.ok(configTypes.size > 0, "no node refers to a config node of this package through defaults.<property>.type");
        for (const registration of registrations.filter((entry) => configTypes.has(entry.type as string))) {
            assert.equal(registration.category, "config", `${registration.file}: config node ${String(registration.type)} needs category: "config" as a literal`);
        }
    });

    test("dependencies admit the Node floor", () => {
        const floor = semver.minVersion(pkg.engines?.node ?? "*")?.version;
        assert.ok(floor, `engines.node "${String(pkg.engines?.node)}" has no minimum version`);

        // The palette manager installs with --engine-strict, so every package in the runtime tree counts.
        const seen = new Set<string>();
        const pending: Array<{ name: string; fromDir: string }> = Object.keys(pkg.dependencies ?? {}).map((name) => ({ name, fromDir: ROOT }));
        const excluding: string[] = [];
        while (pending.length > 0) {
            const { name, fromDir } = pending.pop() as { name: string; fromDir: string };
            const file = installedPackageJson(name, fromDir);
            assert.ok(file, `runtime dependency ${name} is not installed below ${fromDir} (run npm install)`);
            if (seen.has(file)) {
                continue;
            }
            seen.add(file);

            const dependency = JSON.parse(fs.readFileSync(file, "utf8")) as { version: string; engines?: { node?: string }; dependencies?: Record<string, string> };
            const range = dependency.engines?.node;
            if (range !== undefined && !semver.satisfies(floor, range)) {
                excluding.push(`${name}@${dependency.version} requires Node ${range}`);
            }
            for (const child of Object.keys(dependency.dependencies ?? {})) {
                pending.push({ name: child, fromDir: path.dirname(file) });
            }
        }
        assert.deepEqual(excluding, [], `runtime packages that reject Node ${floor}, the minimum of engines.node "${String(pkg.engines?.node)}"`);
    });
});
