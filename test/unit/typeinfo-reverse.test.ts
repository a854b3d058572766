import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
    FieldValueCache,
    idsFromLabels,
    InvalidFieldValuesError,
    LabelNotFoundError,
    type FieldValue,
    type FieldValueLookup,
    type SelectId,
} from "../../lib/typeinfo";
import { ruleMessage, severityFieldDefinition, typeInfoOf } from "../fixtures/typeinfo-samples";

/** Creates a field value lookup that serves the severity sample and records its calls. */
function countingLookup(values: () => readonly FieldValue[] = () => severityFieldDefinition().values ?? []) {
    const calls: Array<[string, string]> = [];
    const lookup: FieldValueLookup = async (type, field) => {
        calls.push([type, field]);
        return values();
    };
    return { lookup, calls };
}

function value(id: SelectId, label: string, enabled = true): FieldValue {
    return { value: id, label, enabled, default: false, hidden: false, properties: null, uuid: null };
}

/** Creates a clock for cache tests that moves only when the test advances it. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
    let time = 1_000_000;
    return { now: () => time, advance: (ms) => (time += ms) };
}

describe("idsFromLabels", () => {
    const typeInfo = typeInfoOf(ruleMessage());

    const fromTypeInfo: Array<[string, string, string, SelectId]> = [
        ["incident", "severity_code", "Medium", 51],
        ["incident", "plan_status", "Active", "A"],
        ["incident", "business_unit", "Retail banking", 305],
        ["actioninvocation", "ticket_priority", "High", 7002],
    ];
    for (const [type, field, label, id] of fromTypeInfo) {
        test(`id for ${type}.${field} "${label}"`, async () => {
            assert.equal(await idsFromLabels(type, field, label, { typeInfo }), id);
        });
    }

    test("ids for list keep order", async () => {
        assert.deepEqual(await idsFromLabels("incident", "affected_regions", ["APAC", "EMEA"], { typeInfo }), [403, 401]);
    });

    test("ids for empty list are empty", async () => {
        assert.deepEqual(await idsFromLabels("incident", "affected_regions", [], { typeInfo }), []);
    });

    test("type_info hit needs no lookup", async () => {
        const { lookup, calls } = countingLookup();
        await idsFromLabels("incident", "severity_code", "Medium", { typeInfo, fieldValues: lookup });
        assert.equal(calls.length, 0);
    });

    test("id from platform values", async () => {
        const { lookup, calls } = countingLookup();
        assert.equal(await idsFromLabels("incident", "severity_code", "High", { typeInfo, fieldValues: lookup }), 52);
        assert.deepEqual(calls, [["incident", "severity_code"]]);
    });

    test("lookup may return field definition", async () => {
        const lookup: FieldValueLookup = async () => severityFieldDefinition();
        assert.equal(await idsFromLabels("incident", "severity_code", "Low", { fieldValues: lookup }), 50);
    });

    test("mixed list loads values once", async () => {
        const { lookup, calls } = countingLookup();
        const ids = await idsFromLabels("incident", "severity_code", ["High", "Medium", "Low"], { typeInfo, fieldValues: lookup });
        assert.deepEqual(ids, [52, 51, 50]);
        assert.equal(calls.length, 1);
    });

    test("label matches ignoring case", async () => {
        const { lookup } = countingLookup();
        assert.equal(await idsFromLabels("incident", "severity_code", "hIGH", { fieldValues: lookup }), 52);
    });

    test("exact case wins over other case", async () => {
        const { lookup } = countingLookup(() => [value(1, "high"), value(2, "High")]);
        assert.equal(await idsFromLabels("incident", "severity_code", "High", { fieldValues: lookup }), 2);
    });

    test("ambiguous case match is not found", async () => {
        const { lookup } = countingLookup(() => [value(1, "high"), value(2, "High")]);
        await assert.rejects(idsFromLabels("incident", "severity_code", "HIGH", { fieldValues: lookup }), LabelNotFoundError);
    });

    test("enabled value wins over disabled", async () => {
        const { lookup } = countingLookup(() => [value(60, "Legacy", false), value(61, "Legacy")]);
        assert.equal(await idsFromLabels("incident", "severity_code", "Legacy", { fieldValues: lookup }), 61);
    });

    test("disabled value is found", async () => {
        const { lookup } = countingLookup(() => [value(60, "Legacy", false)]);
        assert.equal(await idsFromLabels("incident", "severity_code", "Legacy", { fieldValues: lookup }), 60);
    });

    test("malformed entries are skipped", async () => {
        const { lookup } = countingLookup(() => [{ label: "No id" } as FieldValue, value(52, "High")]);
        assert.equal(await idsFromLabels("incident", "severity_code", "High", { fieldValues: lookup }), 52);
    });

    test("non-string label is rejected", async () => {
        await assert.rejects(idsFromLabels("incident", "severity_code", 51 as unknown as string, { typeInfo }), TypeError);
    });
});

describe("unknown labels", () => {
    async function notFound(promise: Promise<unknown>): Promise<LabelNotFoundError> {
        try {
            await promise;
        } catch (error) {
            assert.ok(error instanceof LabelNotFoundError);
            return error;
        }
        assert.fail("Expected a LabelNotFoundError.");
    }

    test("unknown label names field, label and labels", async () => {
        const { lookup } = countingLookup();
        const error = await notFound(idsFromLabels("incident", "severity_code", "Critical", { fieldValues: lookup }));
        assert.match(error.message, /incident field severity_code/);
        assert.match(error.message, /"Critical"/);
        assert.match(error.message, /"Low", "Medium", "High"/);
    });

    test("unknown label error has fields", async () => {
        const { lookup } = countingLookup();
        const error = await notFound(idsFromLabels("incident", "severity_code", "Critical", { fieldValues: lookup }));
        assert.equal(error.type, "incident");
        assert.equal(error.field, "severity_code");
        assert.equal(error.label, "Critical");
        assert.deepEqual(error.knownLabels, ["Low", "Medium", "High"]);
    });

    test("unknown label in list names it", async () => {
        const { lookup } = countingLookup();
        const error = await notFound(idsFromLabels("incident", "severity_code", ["Low", "Severe"], { fieldValues: lookup }));
        assert.equal(error.label, "Severe");
    });

    test("type_info-only miss suggests lookup", async () => {
        const typeInfo = typeInfoOf(ruleMessage());
        const error = await notFound(idsFromLabels("incident", "severity_code", "High", { typeInfo }));
        assert.match(error.message, /field value lookup/);
    });

    test("field without values says so", async () => {
        const error = await notFound(idsFromLabels("incident", "name", "x", { fieldValues: async () => [] }));
        assert.match(error.message, /No select values were found/);
    });

    test("long label list is cut", async () => {
        const many = Array.from({ length: 50 }, (_, index) => value(index, `Team ${index}`));
        const error = await notFound(idsFromLabels("incident", "team", "Nobody", { fieldValues: async () => many }));
        assert.match(error.message, /and 30 more/);
    });

    test("lookup failure names field", async () => {
        const failing: FieldValueLookup = async () => {
            throw new Error("connect ECONNREFUSED 127.0.0.1:443");
        };
        await assert.rejects(idsFromLabels("incident", "severity_code", "High", { fieldValues: failing }), (error: Error) => {
            assert.match(error.message, /incident\.severity_code/);
            assert.match(error.message, /ECONNREFUSED/);
            assert.ok(error.cause instanceof Error);
            return true;
        });
    });

    test("lookup with wrong shape is rejected", async () => {
        const wrong = (async () => ({ entities: [] })) as unknown as FieldValueLookup;
        await assert.rejects(idsFromLabels("incident", "severity_code", "High", { fieldValues: wrong }), InvalidFieldValuesError);
    });
});

describe("FieldValueCache", () => {
    test("cache loads field once", async () => {
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup);
        await cache.get("incident", "severity_code");
        await cache.get("incident", "severity_code");
        assert.equal(calls.length, 1);
    });

    test("cache returns normalized values", async () => {
        const cache = new FieldValueCache(async () => severityFieldDefinition());
        const values = await cache.get("incident", "severity_code");
        assert.deepEqual(values.map((entry) => entry.label), ["Low", "Medium", "High"]);
    });

    test("cache keys by type and field", async () => {
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup);
        await cache.get("incident", "severity_code");
        await cache.get("task", "severity_code");
        await cache.get("incident", "phase_id");
        assert.equal(calls.length, 3);
    });

    test("cache reloads after ttl", async () => {
        const clock = manualClock();
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup, { ttlMs: 1000, now: clock.now });
        await cache.get("incident", "severity_code");
        clock.advance(999);
        await cache.get("incident", "severity_code");
        assert.equal(calls.length, 1);
        clock.advance(1);
        await cache.get("incident", "severity_code");
        assert.equal(calls.length, 2);
    });

    test("cache with zero ttl always loads", async () => {
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup, { ttlMs: 0 });
        await cache.get("incident", "severity_code");
        await cache.get("incident", "severity_code");
        assert.equal(calls.length, 2);
    });

    test("concurrent gets share one load", async () => {
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup);
        const [first, second] = await Promise.all([
            cache.get("incident", "severity_code"),
            cache.get("incident", "severity_code"),
        ]);
        assert.equal(calls.length, 1);
        assert.equal(first, second);
    });

    test("failed load is not cached", async () => {
        let attempts = 0;
        const cache = new FieldValueCache(async () => {
            attempts += 1;
            if (attempts === 1) {
                throw new Error("503 Service Unavailable");
            }
            return [value(52, "High")];
        });
        await assert.rejects(cache.get("incident", "severity_code"), /503/);
        assert.equal(cache.size, 0);
        assert.equal((await cache.get("incident", "severity_code"))[0].value, 52);
    });

    test("wrong shape is not cached", async () => {
        const cache = new FieldValueCache((async () => "oops") as unknown as FieldValueLookup);
        await assert.rejects(cache.get("incident", "severity_code"), InvalidFieldValuesError);
        assert.equal(cache.size, 0);
    });

    test("cache evicts least recently used", async () => {
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup, { maxEntries: 2 });
        await cache.get("incident", "a");
        await cache.get("incident", "b");
        await cache.get("incident", "a");
        await cache.get("incident", "c");
        assert.equal(cache.size, 2);
        await cache.get("incident", "a");
        await cache.get("incident", "b");
        assert.deepEqual(
            calls.map(([, field]) => field),
            ["a", "b", "c", "b"],
        );
    });

    test("refresh reloads field", async () => {
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup);
        await cache.get("incident", "severity_code");
        await cache.get("incident", "severity_code", { refresh: true });
        assert.equal(calls.length, 2);
    });

    test("delete drops one field", async () => {
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup);
        await cache.get("incident", "severity_code");
        assert.equal(cache.delete("incident", "severity_code"), true);
        await cache.get("incident", "severity_code");
        assert.equal(calls.length, 2);
    });

    test("clear drops every field", async () => {
        const { lookup } = countingLookup();
        const cache = new FieldValueCache(lookup);
        await cache.get("incident", "severity_code");
        await cache.get("incident", "phase_id");
        cache.clear();
        assert.equal(cache.size, 0);
    });

    const invalidOptions: Array<[string, { ttlMs?: number; maxEntries?: number }]> = [
        ["negative ttl", { ttlMs: -1 }],
        ["infinite ttl", { ttlMs: Number.POSITIVE_INFINITY }],
        ["NaN ttl", { ttlMs: Number.NaN }],
        ["zero entries", { maxEntries: 0 }],
        ["fractional entries", { maxEntries: 1.5 }],
    ];
    for (const [name, options] of invalidOptions) {
        test(`cache rejects ${name}`, () => {
            assert.throws(() => new FieldValueCache(countingLookup().lookup, options), RangeError);
        });
    }

    test("cache miss refreshes once", async () => {
        let version = 0;
        const { lookup, calls } = countingLookup(() => {
            version += 1;
            return version === 1 ? [value(50, "Low")] : [value(50, "Low"), value(53, "Critical")];
        });
        const cache = new FieldValueCache(lookup);
        await cache.get("incident", "severity_code");
        assert.equal(await idsFromLabels("incident", "severity_code", "Critical", { fieldValues: cache }), 53);
        assert.equal(calls.length, 2);
    });

    test("cache hit needs no refresh", async () => {
        const { lookup, calls } = countingLookup();
        const cache = new FieldValueCache(lookup);
        await idsFromLabels("incident", "severity_code", "High", { fieldValues: cache });
        await idsFromLabels("incident", "severity_code", "Low", { fieldValues: cache });
        assert.equal(calls.length, 1);
    });
});
