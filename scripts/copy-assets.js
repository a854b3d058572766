#!/usr/bin/env node
// Copies the editor files (.html), message catalogs and icons next to the
// compiled node files, where Node-RED's loader looks for them.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const target = path.join(root, "dist", "nodes");

function copyTree(from, to, filter) {
    if (!fs.existsSync(from)) {
        return;
    }
    fs.mkdirSync(to, { recursive: true });
    for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
        const source = path.join(from, entry.name);
        const destination = path.join(to, entry.name);
        if (entry.isDirectory()) {
            copyTree(source, destination, filter);
        } else if (filter(entry.name)) {
            fs.copyFileSync(source, destination);
        }
    }
}

copyTree(path.join(root, "nodes"), target, (name) => !name.endsWith(".ts"));
copyTree(path.join(root, "icons"), path.join(target, "icons"), () => true);
