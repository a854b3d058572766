/**
 * Type info: select ids to labels and back for rule messages, and plain
 * values for function inputs. Pure functions over parsed message bodies,
 * with no Node-RED dependency.
 *
 * - `labelsFor`: labels beside the message, which stays untouched.
 * - `replaceIdsWithLabels`: labels in place of ids, in a partial copy or in place.
 * - `lookupLabel`: the labels of one field, by path.
 * - `idsFromLabels`: ids for labels, from type_info or the platform.
 * - `normalizeFunctionInputs`: selects, rich text and dates of function inputs as plain values.
 */
export { FieldValueCache, type FieldValueCacheOptions } from "./cache";
export { htmlToText } from "./html";
export { normalizeFunctionInputs, type NormalizedInputs, type NormalizeInputsOptions } from "./inputs";
export {
    labelsFor,
    lookupLabel,
    replaceIdsWithLabels,
    type FieldLookupResult,
    type LabelOptions,
    type LabelsResult,
    type ReplaceOptions,
    type ReplaceResult,
} from "./labels";
export { idsFromLabels, LabelNotFoundError, type LabelSource } from "./reverse";
export { ACTIVITY_TYPE, OBJECT_KEYS, parseFieldPath, type ParsedFieldPath } from "./slots";
export type * from "./types";
export { InvalidFieldValuesError } from "./values";
