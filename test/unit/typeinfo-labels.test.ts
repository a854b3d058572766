import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
    labelsFor,
    lookupLabel,
    replaceIdsWithLabels,
    type LabelTree,
    type RuleMessage,
    type TypeInfoField,
    type TypeInfoWarning,
} from "../../lib/typeinfo";
import { ruleMessage, selectField, TABLE_TYPE, typeInfoOf, withMoreObjects } from "../fixtures/typeinfo-samples";

/** Reads a dotted path from a labels tree or a message. */
function at(root: unknown, path: string): unknown {
    let current = root;
    for (const key of path.split(".")) {
        if (typeof current !== "object" || current === null) {
            return undefined;
        }
        current = (current as Record<string, unknown>)[key];
    }
    return current;
}

function codes(warnings: readonly TypeInfoWarning[]): string[] {
    return warnings.map((warning) => warning.code);
}

/** Every select-like field of the sample message, plus the added task, artifact and row, with its labels. */
const expectedLabels: Array<[string, unknown]> = [
    ["incident.severity_code", "Medium"],
    ["incident.plan_status", "Active"],
    ["incident.phase_id", "Respond"],
    ["incident.incident_type_ids", ["Phishing", "Malware"]],
    ["incident.owner_id", "Ada Ops (ada@example.test)"],
    ["incident.crimestatus_id", "Unknown"],
    ["incident.exposure_type_id", "Unknown"],
    ["incident.properties.business_unit", "Retail banking"],
    ["incident.properties.affected_regions", ["EMEA", "APAC"]],
    ["properties.ticket_priority", "High"],
    ["properties.notify_teams", ["Network", "Identity"]],
    ["task.status", "Open"],
    ["task.phase_id", "Respond"],
    ["artifact.type", "IP Address"],
    ["row.cells.block_reason.value", "Brute force"],
    ["row.cells.blocked_ports.value", ["1194/udp", "443/tcp"]],
];

/** Fields that type_info lists with an empty values map, or not at all. */
const fieldsWithoutLabels = [
    "incident.name",
    "incident.description",
    "incident.properties.siem_offense_id",
    "incident.properties.escalated",
    "incident.creator",
    "properties.ticket_note",
    "task.name",
    "artifact.value",
    "row.cells.host.value",
    "note",
    "user",
];

describe("labelsFor", () => {
    const message = withMoreObjects(ruleMessage());
    const pristine = structuredClone(message);
    const { labels, warnings } = labelsFor(message);

    for (const [path, expected] of expectedLabels) {
        test(`labels ${path}`, () => {
            assert.deepEqual(at(labels, path), expected);
        });
    }

    for (const path of fieldsWithoutLabels) {
        test(`labels skip ${path}`, () => {
            assert.equal(at(labels, path), undefined);
        });
    }

    test("labels for sample give no warnings", () => {
        assert.deepEqual(warnings, []);
    });

    test("labels leave message unchanged", () => {
        assert.deepEqual(message, pristine);
    });

    test("labels for multiselect keep order", () => {
        const reordered = ruleMessage();
        (reordered.incident as Record<string, unknown>).incident_type_ids = [23, 19];
        assert.deepEqual(at(labelsFor(reordered).labels, "incident.incident_type_ids"), ["Malware", "Phishing"]);
    });

    test("labels list is not the message's list", () => {
        const unmatched = ruleMessage();
        (unmatched.incident as Record<string, unknown>).incident_type_ids = [98, 99];
        const list = at(labelsFor(unmatched).labels, "incident.incident_type_ids");
        assert.notEqual(list, at(unmatched, "incident.incident_type_ids"));
    });

    test("labels without type_info warn once", () => {
        const message = ruleMessage();
        delete message.type_info;
        const result = labelsFor(message);
        assert.deepEqual(result.labels, {});
        assert.deepEqual(codes(result.warnings), ["missing-type-info"]);
    });

    test("labels for function message warn", () => {
        const result = labelsFor({ function: { name: "enrich_ip" }, inputs: {} });
        assert.deepEqual(codes(result.warnings), ["missing-type-info"]);
    });

    test("labels reject non-object message", () => {
        assert.throws(() => labelsFor("not a message" as unknown as RuleMessage), TypeError);
    });

    test("labels survive malformed type_info", () => {
        const message = ruleMessage();
        message.type_info = { incident: { fields: "oops" }, actioninvocation: null } as unknown as RuleMessage["type_info"];
        const result = labelsFor(message);
        assert.deepEqual(result.labels, {});
        assert.deepEqual(result.warnings, []);
    });
});

interface OddCase {
    name: string;
    /** Changes the sample message to contain the odd data. */
    change: (message: RuleMessage) => void;
    path: string;
    label: unknown;
    warningCodes: string[];
}

const incidentOf = (message: RuleMessage): Record<string, unknown> => message.incident as Record<string, unknown>;
const incidentFields = (message: RuleMessage): Record<string, TypeInfoField> =>
    typeInfoOf(message).incident.fields as Record<string, TypeInfoField>;

const oddCases: OddCase[] = [
    {
        name: "missing id stays",
        change: (message) => (incidentOf(message).severity_code = 99),
        path: "incident.severity_code",
        label: 99,
        warningCodes: ["unknown-id"],
    },
    {
        name: "missing ids stay in list",
        change: (message) => (incidentOf(message).incident_type_ids = [19, 99, 23, 98]),
        path: "incident.incident_type_ids",
        label: ["Phishing", 99, "Malware", 98],
        warningCodes: ["unknown-id"],
    },
    {
        name: "disabled value gives label",
        change: (message) => (incidentFields(message).severity_code = selectField(1257, [[51, "Medium", false]])),
        path: "incident.severity_code",
        label: "Medium",
        warningCodes: [],
    },
    {
        name: "null stays null",
        change: (message) => (incidentOf(message).severity_code = null),
        path: "incident.severity_code",
        label: null,
        warningCodes: [],
    },
    {
        name: "empty list stays empty",
        change: (message) => (incidentOf(message).incident_type_ids = []),
        path: "incident.incident_type_ids",
        label: [],
        warningCodes: [],
    },
    {
        name: "numeric string matches",
        change: (message) => (incidentOf(message).severity_code = "51"),
        path: "incident.severity_code",
        label: "Medium",
        warningCodes: [],
    },
    {
        name: "missing letter key stays",
        change: (message) => (incidentOf(message).plan_status = "C"),
        path: "incident.plan_status",
        label: "C",
        warningCodes: ["unknown-id"],
    },
    {
        name: "boolean in select stays",
        change: (message) => (incidentOf(message).severity_code = true),
        path: "incident.severity_code",
        label: true,
        warningCodes: ["unknown-id"],
    },
    {
        name: "inherited key is no id",
        change: (message) => (incidentOf(message).severity_code = "constructor"),
        path: "incident.severity_code",
        label: "constructor",
        warningCodes: ["unknown-id"],
    },
    {
        name: "entry without label stays",
        change: (message) => {
            const withoutLabel = { id: 1257, values: { "51": { value: 51 } } };
            incidentFields(message).severity_code = withoutLabel as unknown as TypeInfoField;
        },
        path: "incident.severity_code",
        label: 51,
        warningCodes: ["unknown-id"],
    },
];

describe("odd data", () => {
    for (const oddCase of oddCases) {
        test(`labels: ${oddCase.name}`, () => {
            const message = ruleMessage();
            oddCase.change(message);
            const result = labelsFor(message);
            assert.deepEqual(at(result.labels, oddCase.path), oddCase.label);
            assert.deepEqual(codes(result.warnings), oddCase.warningCodes);
        });

        test(`replace: ${oddCase.name}`, () => {
            const message = ruleMessage();
            oddCase.change(message);
            const result = replaceIdsWithLabels(message);
            assert.deepEqual(at(result.message, oddCase.path), oddCase.label);
            assert.deepEqual(codes(result.warnings), oddCase.warningCodes);
        });

        test(`field: ${oddCase.name}`, () => {
            const message = ruleMessage();
            oddCase.change(message);
            const result = lookupLabel(message, oddCase.path);
            assert.deepEqual(result.label, oddCase.label);
            assert.deepEqual(codes(result.warnings), oddCase.warningCodes);
        });
    }

    test("unknown ids warn once per field", () => {
        const message = ruleMessage();
        incidentOf(message).incident_type_ids = [97, 98, 99];
        const { warnings } = labelsFor(message);
        assert.equal(warnings.length, 1);
        assert.equal(warnings[0].path, "incident.incident_type_ids");
        assert.match(warnings[0].message, /97, 98, 99/);
        assert.match(warnings[0].message, /type_info\.incident\.fields\.incident_type_ids/);
    });

    test("unknown ids in two fields warn twice", () => {
        const message = ruleMessage();
        incidentOf(message).severity_code = 99;
        (message.properties as Record<string, unknown>).notify_teams = [902, 999];
        const paths = labelsFor(message).warnings.map((warning) => warning.path);
        assert.deepEqual(paths.sort(), ["incident.severity_code", "properties.notify_teams"]);
    });
});

describe("replaceIdsWithLabels", () => {
    test("replace gives labels everywhere", () => {
        const { message } = replaceIdsWithLabels(withMoreObjects(ruleMessage()));
        const actual = expectedLabels.map(([path]) => [path, at(message, path)]);
        assert.deepEqual(actual, expectedLabels);
    });

    test("replace leaves input unchanged", () => {
        const message = withMoreObjects(ruleMessage());
        const pristine = structuredClone(message);
        replaceIdsWithLabels(message);
        assert.deepEqual(message, pristine);
    });

    test("replace copies changed path", () => {
        const message = ruleMessage();
        const result = replaceIdsWithLabels(message).message;
        assert.notEqual(result, message);
        assert.notEqual(result.incident, message.incident);
        assert.notEqual(at(result, "incident.properties"), at(message, "incident.properties"));
        assert.notEqual(result.properties, message.properties);
    });

    const sharedPaths = ["note", "user", "type_info", "incident.creator", "incident.perms", "incident.pii", "incident.members"];
    for (const path of sharedPaths) {
        test(`replace shares ${path}`, () => {
            const message = ruleMessage();
            const result = replaceIdsWithLabels(message).message;
            assert.equal(at(result, path), at(message, path));
        });
    }

    test("replace copies changed cells only", () => {
        const message = withMoreObjects(ruleMessage());
        const result = replaceIdsWithLabels(message).message;
        assert.notEqual(at(result, "row.cells.block_reason"), at(message, "row.cells.block_reason"));
        assert.equal(at(result, "row.cells.host"), at(message, "row.cells.host"));
        assert.equal(at(result, "row.actions"), at(message, "row.actions"));
    });

    test("replace keeps cell's other keys", () => {
        const result = replaceIdsWithLabels(withMoreObjects(ruleMessage())).message;
        assert.deepEqual(at(result, "row.cells.block_reason"), { id: "block_reason", row_id: 12, value: "Brute force" });
    });

    test("replace with mutate changes input", () => {
        const message = ruleMessage();
        const incident = message.incident;
        const result = replaceIdsWithLabels(message, { mutate: true });
        assert.equal(result.message, message);
        assert.equal(message.incident, incident);
        assert.equal(at(message, "incident.severity_code"), "Medium");
    });

    test("replace without change returns input", () => {
        const message = ruleMessage();
        incidentOf(message).severity_code = 99;
        message.type_info = { incident: { fields: { severity_code: selectField(1257, [[51, "Medium"]]) } } };
        const result = replaceIdsWithLabels(message);
        assert.equal(result.message, message);
        assert.equal(result.changed, false);
    });

    test("replace reports change", () => {
        assert.equal(replaceIdsWithLabels(ruleMessage()).changed, true);
    });

    test("replace keeps field named __proto__ own", () => {
        const message = JSON.parse(
            '{"incident": {"__proto__": 51}, "type_info": {"incident": {"fields": ' +
                '{"__proto__": {"values": {"51": {"value": 51, "label": "Medium"}}}}}}}',
        ) as RuleMessage;
        const result = replaceIdsWithLabels(message).message;
        const incident = result.incident as Record<string, unknown>;
        assert.equal(Object.getPrototypeOf(incident), Object.prototype);
        assert.equal(Object.getOwnPropertyDescriptor(incident, "__proto__")?.value, "Medium");
    });
});

describe("lookupLabel", () => {
    const message = withMoreObjects(ruleMessage());

    for (const [path, expected] of expectedLabels) {
        test(`field ${path}`, () => {
            const result = lookupLabel(message, path);
            assert.deepEqual(result.label, expected);
            assert.equal(result.selectLike, true);
            assert.deepEqual(result.warnings, []);
        });
    }

    test("field gives type and raw value", () => {
        const result = lookupLabel(message, "incident.properties.business_unit");
        assert.equal(result.type, "incident");
        assert.equal(result.field, "business_unit");
        assert.equal(result.value, 305);
    });

    test("field row gives table type", () => {
        assert.equal(lookupLabel(message, "row.cells.block_reason.value").type, TABLE_TYPE);
    });

    test("field without select values returns value", () => {
        const result = lookupLabel(message, "properties.ticket_note");
        assert.equal(result.label, "call the vendor");
        assert.equal(result.selectLike, false);
        assert.deepEqual(codes(result.warnings), ["not-select"]);
    });

    test("field of null object is undefined", () => {
        const result = lookupLabel(ruleMessage(), "task.status");
        assert.equal(result.label, undefined);
        assert.deepEqual(codes(result.warnings), ["missing-field"]);
        assert.match(result.warnings[0].message, /task is null/);
    });

    test("field hints at custom field path", () => {
        const result = lookupLabel(message, "incident.business_unit");
        assert.deepEqual(codes(result.warnings), ["missing-field"]);
        assert.match(result.warnings[0].message, /incident\.properties\.business_unit/);
    });

    test("field label list is new", () => {
        const list = lookupLabel(message, "incident.properties.affected_regions").label;
        assert.notEqual(list, at(message, "incident.properties.affected_regions"));
    });

    const invalidPaths = ["", "incident", "foo.bar", "incident.a.b", "incident..x", "properties.a.b", "row.cells.x", "row.block_reason"];
    for (const path of invalidPaths) {
        test(`field rejects path ${JSON.stringify(path)}`, () => {
            assert.throws(() => lookupLabel(message, path), { name: "TypeError", message: /Invalid field path/ });
        });
    }
});

describe("data table rows", () => {
    /** Adds a second data table with a different type id, so the row's table is no longer the only one. */
    function withSecondTable(message: RuleMessage, typeId?: number): RuleMessage {
        typeInfoOf(message).dt_other = {
            ...(typeId === undefined ? {} : { type_id: typeId }),
            fields: { block_reason: selectField(3001, [[2101, "Other table's label"]]) },
        };
        return message;
    }

    function rowLabel(message: RuleMessage, tableType?: string): { label: unknown; warnings: string[] } {
        const result = labelsFor(message, { tableType });
        return { label: at(result.labels as LabelTree, "row.cells.block_reason.value"), warnings: codes(result.warnings) };
    }

    const cases: Array<{ name: string; message: () => RuleMessage; tableType?: string; label: unknown; warnings: string[] }> = [
        {
            name: "type_id picks table",
            message: () => withSecondTable(withMoreObjects(ruleMessage()), 1002),
            label: "Brute force",
            warnings: [],
        },
        {
            name: "tableType picks table",
            message: () => withSecondTable(withMoreObjects(ruleMessage()), 1002),
            tableType: "dt_other",
            label: "Other table's label",
            warnings: [],
        },
        {
            name: "only table without type_id",
            message: () => {
                const message = withMoreObjects(ruleMessage());
                delete typeInfoOf(message)[TABLE_TYPE].type_id;
                return message;
            },
            label: "Brute force",
            warnings: [],
        },
        {
            name: "ambiguous tables warn",
            message: () => {
                const message = withSecondTable(withMoreObjects(ruleMessage()));
                delete typeInfoOf(message)[TABLE_TYPE].type_id;
                return message;
            },
            label: undefined,
            warnings: ["unknown-table"],
        },
        {
            name: "unknown tableType warns",
            message: () => withMoreObjects(ruleMessage()),
            tableType: "dt_missing",
            label: undefined,
            warnings: ["unknown-table"],
        },
        {
            name: "mismatched type_id warns",
            message: () => {
                const message = withMoreObjects(ruleMessage());
                (message.row as Record<string, unknown>).type_id = 1005;
                return message;
            },
            label: undefined,
            warnings: ["unknown-table"],
        },
        {
            name: "no table type is silent",
            message: () => {
                const message = withMoreObjects(ruleMessage());
                delete typeInfoOf(message)[TABLE_TYPE];
                return message;
            },
            label: undefined,
            warnings: [],
        },
    ];

    for (const rowCase of cases) {
        test(`row: ${rowCase.name}`, () => {
            const actual = rowLabel(rowCase.message(), rowCase.tableType);
            assert.equal(actual.label, rowCase.label);
            assert.deepEqual(actual.warnings, rowCase.warnings);
        });
    }
});
