import { htmlToText } from "./html";
import type { FunctionInputs, RichTextInput, SelectInput, TypeInfoWarning } from "./types";
import { formatValue, isPlainObject } from "./values";

/** Options of `normalizeFunctionInputs`. */
export interface NormalizeInputsOptions {
    /**
     * API names of the date and date-time inputs, whose epoch milliseconds
     * become ISO 8601 strings. A function message gives dates as plain
     * numbers, so nothing else distinguishes them from number inputs.
     */
    dateFields?: readonly string[];
}

/** Function inputs in plain form. */
export interface NormalizedInputs {
    inputs: FunctionInputs;
    warnings: TypeInfoWarning[];
}

/**
 * Converts a function message's `inputs` to plain values. A select
 * `{id, name}` becomes its name, and a multiselect list becomes a list of
 * names. Rich text `{format, content}` becomes its text, with HTML converted
 * to plain text. The inputs named in `dateFields` turn from epoch
 * milliseconds to ISO 8601 strings in UTC. Other values, `null` included,
 * stay as they are. Returns a new object and leaves `inputs` unchanged.
 * `null` or `undefined` count as no inputs.
 * @throws {TypeError} when `inputs` is not an object.
 */
export function normalizeFunctionInputs(
    inputs: FunctionInputs | null | undefined,
    options: NormalizeInputsOptions = {},
): NormalizedInputs {
    const original = inputs ?? {};
    if (!isPlainObject(original)) {
        throw new TypeError(
            `Expected function inputs as an object, got ${formatValue(inputs)}. ` +
                "Pass the inputs of a function message (FunctionDataDTO), such as msg.payload.inputs.",
        );
    }

    const dateFields = new Set(options.dateFields ?? []);
    const warnings: TypeInfoWarning[] = [];
    // Object.fromEntries defines own properties, so an input named "__proto__" stays an ordinary key.
    const normalized = Object.fromEntries(
        Object.entries(original).map(([name, value]) => {
            const plain = dateFields.has(name) ? dateToIso(name, value, warnings) : plainValue(value);
            return [name, plain];
        }),
    );

    for (const name of dateFields) {
        if (!Object.hasOwn(original, name)) {
            warnings.push({
                code: "missing-field",
                path: `inputs.${name}`,
                message: `The date input "${name}" is not among the function's inputs. Check its API name.`,
            });
        }
    }
    return { inputs: normalized, warnings };
}

function plainValue(value: unknown): unknown {
    if (isSelectInput(value)) {
        return value.name;
    }
    if (isRichTextInput(value)) {
        if (typeof value.content === "string" && value.format.toLowerCase() === "html") {
            return htmlToText(value.content);
        }
        return value.content;
    }
    if (Array.isArray(value)) {
        return value.map((item: unknown) => (isSelectInput(item) ? item.name : item));
    }
    return value;
}

function dateToIso(name: string, value: unknown, warnings: TypeInfoWarning[]): unknown {
    if (value === null || value === undefined) {
        return value;
    }
    const date = typeof value === "number" ? new Date(value) : undefined;
    if (date === undefined || Number.isNaN(date.getTime())) {
        warnings.push({
            code: "invalid-date",
            path: `inputs.${name}`,
            message:
                `The date input "${name}" is ${formatValue(value)}, not epoch milliseconds, so it stays unchanged. ` +
                "Remove it from the date inputs if it is not a date.",
        });
        return value;
    }
    return date.toISOString();
}

function isSelectInput(value: unknown): value is SelectInput {
    return (
        isPlainObject(value) &&
        (typeof value.id === "number" || typeof value.id === "string") &&
        typeof value.name === "string"
    );
}

function isRichTextInput(value: unknown): value is RichTextInput {
    return (
        isPlainObject(value) &&
        typeof value.format === "string" &&
        (typeof value.content === "string" || value.content === null)
    );
}
