import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { labelsFor, lookupLabel, replaceIdsWithLabels, type LabelTree, type RuleMessage } from "../../lib/typeinfo";
import { ruleMessage } from "../fixtures/typeinfo-samples";

const MEGABYTE = 1024 * 1024;

/**
 * Builds a rule message of about 3 MB: a 1 MB HTML description and 4000
 * artifacts of about 500 bytes each, on top of the sample message.
 */
function largeMessage(): RuleMessage {
    const message = ruleMessage();
    const incident = message.incident as Record<string, unknown>;
    incident.description = `<div>${"Seen by the SIEM at 02:14 from 198.51.100.23. ".repeat(MEGABYTE / 48)}</div>`;
    incident.artifacts = Array.from({ length: 4000 }, (_, index) => ({
        id: 10_000 + index,
        type: 1,
        value: `198.51.${Math.floor(index / 256)}.${index % 256}`,
        description: `Address seen in the VPN gateway logs. ${"x".repeat(400)}`,
        created: 1735690000000 + index,
        properties: [{ name: "source", value: "siem" }],
    }));
    return message;
}

/** Freezes every object and array of a value, so that any write to it throws in strict mode. */
function deepFreeze<T>(value: T): T {
    if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
        Object.freeze(value);
        for (const child of Object.values(value)) {
            deepFreeze(child);
        }
    }
    return value;
}

describe("large payload", () => {
    const message = largeMessage();
    const incident = message.incident as Record<string, unknown>;

    test("large payload is about 3 MB", () => {
        assert.ok(JSON.stringify(message).length > 3 * MEGABYTE);
    });

    test("beside keeps every reference", () => {
        const before = {
            incident: message.incident,
            artifacts: incident.artifacts,
            firstArtifact: (incident.artifacts as unknown[])[0],
            properties: incident.properties,
            typeInfo: message.type_info,
        };
        labelsFor(message);
        assert.equal(message.incident, before.incident);
        assert.equal(incident.artifacts, before.artifacts);
        assert.equal((incident.artifacts as unknown[])[0], before.firstArtifact);
        assert.equal(incident.properties, before.properties);
        assert.equal(message.type_info, before.typeInfo);
    });

    test("beside result holds only labels", () => {
        const { labels } = labelsFor(message);
        assert.ok(JSON.stringify(labels).length < 1024);
    });

    test("beside writes nothing to payload", () => {
        const frozen = deepFreeze(largeMessage());
        const labels = labelsFor(frozen).labels.incident as LabelTree;
        assert.equal(labels.severity_code, "Medium");
    });

    test("field writes nothing to payload", () => {
        const frozen = deepFreeze(largeMessage());
        assert.equal(lookupLabel(frozen, "incident.severity_code").label, "Medium");
    });

    test("replace copy writes nothing to payload", () => {
        const frozen = deepFreeze(largeMessage());
        assert.equal((replaceIdsWithLabels(frozen).message.incident as Record<string, unknown>).severity_code, "Medium");
    });

    test("replace copy shares artifacts", () => {
        const result = replaceIdsWithLabels(message).message;
        assert.equal((result.incident as Record<string, unknown>).artifacts, incident.artifacts);
    });

    test("replace copy keeps description", () => {
        const result = replaceIdsWithLabels(message).message;
        assert.equal((result.incident as Record<string, unknown>).description, incident.description);
    });

    test("replace copy keeps payload's ids", () => {
        replaceIdsWithLabels(message);
        assert.equal(incident.severity_code, 51);
    });
});
