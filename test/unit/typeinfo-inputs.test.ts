import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { htmlToText, normalizeFunctionInputs, type FunctionInputs } from "../../lib/typeinfo";
import { functionInputs } from "../fixtures/typeinfo-samples";

describe("normalizeFunctionInputs", () => {
    const inputs = functionInputs();
    const pristine = structuredClone(inputs);
    const { inputs: plain, warnings } = normalizeFunctionInputs(inputs, { dateFields: ["since"] });

    const expected: Array<[string, unknown]> = [
        ["incident_id", 2301],
        ["artifact_value", "198.51.100.23"],
        ["verbose", true],
        ["lookup_mode", "fast"],
        ["sources", ["asset database", "SIEM"]],
        ["analyst_note", "check the VPN logs first"],
        ["since", "2024-12-30T23:06:40.000Z"],
    ];
    for (const [name, value] of expected) {
        test(`input ${name} becomes plain`, () => {
            assert.deepEqual(plain[name], value);
        });
    }

    test("inputs keep their names", () => {
        assert.deepEqual(Object.keys(plain), Object.keys(pristine));
    });

    test("sample inputs give no warnings", () => {
        assert.deepEqual(warnings, []);
    });

    test("given inputs stay unchanged", () => {
        assert.deepEqual(inputs, pristine);
    });

    test("dates stay numbers unless listed", () => {
        assert.equal(normalizeFunctionInputs(functionInputs()).inputs.since, 1735600000000);
    });

    const cases: Array<[string, unknown, unknown]> = [
        ["html rich text", { format: "html", content: "<p>Block <b>198.51.100.23</b></p><p>now</p>" }, "Block 198.51.100.23\nnow"],
        ["uppercase html format", { format: "HTML", content: "a&amp;b" }, "a&b"],
        ["text keeps markup", { format: "text", content: "<b>as typed</b>" }, "<b>as typed</b>"],
        ["null rich text", { format: "text", content: null }, null],
        ["null input", null, null],
        ["empty multiselect", [], []],
        ["string id select", { id: "A", name: "Active" }, "Active"],
        ["list with odd item", [{ id: 1, name: "one" }, "two"], ["one", "two"]],
        ["other object", { id: 1 }, { id: 1 }],
    ];
    for (const [name, value, expectedValue] of cases) {
        test(`input: ${name}`, () => {
            assert.deepEqual(normalizeFunctionInputs({ value }).inputs.value, expectedValue);
        });
    }

    const dateCases: Array<[string, unknown, unknown, string[]]> = [
        ["epoch zero", 0, "1970-01-01T00:00:00.000Z", []],
        ["null date", null, null, []],
        ["string date", "2025-01-01", "2025-01-01", ["invalid-date"]],
        ["out of range date", 9e15, 9e15, ["invalid-date"]],
    ];
    for (const [name, value, expectedValue, codes] of dateCases) {
        test(`date: ${name}`, () => {
            const result = normalizeFunctionInputs({ when: value }, { dateFields: ["when"] });
            assert.deepEqual(result.inputs.when, expectedValue);
            assert.deepEqual(result.warnings.map((warning) => warning.code), codes);
        });
    }

    test("missing date input warns", () => {
        const result = normalizeFunctionInputs(functionInputs(), { dateFields: ["sinse"] });
        assert.deepEqual(result.warnings.map((warning) => warning.path), ["inputs.sinse"]);
    });

    test("absent inputs give empty object", () => {
        assert.deepEqual(normalizeFunctionInputs(null).inputs, {});
    });

    test("non-object inputs are rejected", () => {
        assert.throws(() => normalizeFunctionInputs([] as unknown as FunctionInputs), TypeError);
    });

    test("input named __proto__ stays own", () => {
        const given = JSON.parse('{"__proto__": {"id": 1, "name": "one"}}') as FunctionInputs;
        const result = normalizeFunctionInputs(given).inputs;
        assert.equal(Object.getOwnPropertyDescriptor(result, "__proto__")?.value, "one");
    });
});

describe("htmlToText", () => {
    const cases: Array<[string, string, string]> = [
        [
            "sample description",
            "<div>Seen by the SIEM at 02:14. Source 198.51.100.23</div>",
            "Seen by the SIEM at 02:14. Source 198.51.100.23",
        ],
        ["paragraphs", "<p>one</p><p>two</p>", "one\ntwo"],
        ["nested blocks", "<div><div><p>one</p></div></div><div>two</div>", "one\ntwo"],
        ["double br", "one<br><br/>two", "one\n\ntwo"],
        ["inline tags", "a<b>b</b><i>c</i> d", "abc d"],
        ["whitespace", "  a \n\t b  ", "a b"],
        ["entities", "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; &#x263A; &nbsp;f", "a & b <c> \"d\" 'e' \u263a f"],
        ["double-escaped entity", "&amp;lt;", "&lt;"],
        ["unknown entity", "&foo; & bar &", "&foo; & bar &"],
        ["invalid code point", "&#0;&#xD800;&#x110000;", "\ufffd\ufffd\ufffd"],
        ["script dropped", "a<script>if (a < b) alert('</p>')</script>b", "ab"],
        ["style dropped", "<STYLE type=\"text/css\">p { color: red }</Style>text", "text"],
        ["comment dropped", "a<!-- <p>hidden</p> -->b", "ab"],
        ["doctype dropped", "<!DOCTYPE html><p>x</p>", "x"],
        ["quoted greater-than", '<a title="1 > 0" href=\'x>y\'>link</a>', "link"],
        ["apostrophe in bare attribute", "<p class=it's>x</p>", "x"],
        ["less-than as text", "a < b and 1<2", "a < b and 1<2"],
        ["unterminated tag", "text <b", "text"],
        ["end tag without name", "a</ >b", "ab"],
        ["table cells", "<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>", "a b\nc"],
        ["list items", "<ul><li>one</li><li>two</li></ul>", "one\ntwo"],
        ["empty input", "", ""],
    ];
    for (const [name, html, text] of cases) {
        test(`html: ${name}`, () => {
            assert.equal(htmlToText(html), text);
        });
    }

    // A quadratic scan would take minutes on these inputs; the timeout turns that into a failure.
    const largeCases: Array<[string, () => string, (text: string) => boolean]> = [
        ["many bare ampersands", () => "&".repeat(1_000_000), (text) => text.length === 1_000_000],
        ["many unclosed tags", () => "<a ".repeat(300_000), (text) => text === ""],
        ["many quotes in tag", () => `<a x="${"'".repeat(1_000_000)}">y`, (text) => text === "y"],
        ["many end-tag starts in script", () => `<script>${"</".repeat(500_000)}`, (text) => text === ""],
        ["many words", () => "word ".repeat(500_000), (text) => text.length === 2_499_999],
    ];
    for (const [name, build, check] of largeCases) {
        test(`html: ${name}`, { timeout: 20_000 }, () => {
            assert.ok(check(htmlToText(build())));
        });
    }
});
