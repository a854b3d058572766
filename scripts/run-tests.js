#!/usr/bin/env node
// Runs every test file under dist/test with Node's test runner, against one
// private ActiveMQ broker started for the whole run. Test files read the
// broker's ports and users from RESILIENT_TEST_BROKER (JSON).
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");

function findTestFiles(dir) {
    if (!fs.existsSync(dir)) {
        return [];
    }
    const files = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
            files.push(...findTestFiles(full));
        } else if (entry.name.endsWith(".test.js")) {
            files.push(full);
        }
    }
    return files.sort();
}

async function main() {
    const filter = process.argv.slice(2);
    let files = findTestFiles(path.join(root, "dist", "test"));
    if (filter.length > 0) {
        files = files.filter((file) => filter.some((part) => file.includes(part)));
    }
    if (files.length === 0) {
        console.error("No test files found under dist/test. Run `npm run build` first.");
        process.exit(1);
    }

    const { startBroker } = require(path.join(root, "dist", "scripts", "broker.js"));
    // A fresh data folder per run: messages an earlier run left in the store
    // would reach this run's consumers, and two runs can share the machine.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "resilient-test-run-"));
    const broker = await startBroker({ dataDir });
    let status = 1;
    try {
        const result = spawnSync(
            process.execPath,
            ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
            {
                stdio: "inherit",
                env: { ...process.env, RESILIENT_TEST_BROKER: JSON.stringify(broker.describe()) },
            },
        );
        status = result.status === null ? 1 : result.status;
    } finally {
        await broker.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
    }
    process.exit(status);
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
