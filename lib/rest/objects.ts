import type { RestClient } from "./client";
import { RestError, type FieldFailure } from "./errors";
import type { HandleFormat } from "./types";

/** A JSON object as the platform returns it. */
export type PlatformObject = Record<string, unknown>;

/** Options of `updateObject`. */
export interface UpdateObjectOptions<T extends PlatformObject = PlatformObject> {
    /** Object path, e.g. `/incidents/2301` (relative to the org) or an absolute `/rest/...` path. */
    path: string;
    /**
     * Computes our change from the freshly read object: the fields to set,
     * with nested plain objects (such as `properties`) merged field by field
     * and arrays replaced. Return `null` or `undefined` for no change. Called
     * again after every 409, with the newly read object, so it must depend
     * only on its argument and the caller's intent.
     */
    apply: (fresh: T) => NoInfer<Partial<T>> | PlatformObject | null | undefined;
    /** GET-PUT cycles before giving up; default 5. */
    maxTries?: number;
    contextToken?: string;
    handleFormat?: HandleFormat;
}

/** Outcome of `updateObject`. */
export interface UpdateResult<T extends PlatformObject = PlatformObject> {
    /** The object returned by the PUT, or the object as read when nothing changed. */
    object: T;
    /**
     * False when the last read already had the change, so the last cycle sent
     * no PUT. A PUT from an earlier cycle that timed out may have applied it.
     */
    changed: boolean;
    /** GET-PUT cycles used. */
    tries: number;
}

/** Options of `patchObject`. */
export interface PatchObjectOptions {
    /** Object path, e.g. `/incidents/2301`. */
    path: string;
    /**
     * New values by field name. Custom fields go by their bare API name
     * (`escalated`, not `properties.escalated`), and a `properties.`
     * prefix is removed. The current value comes from the top-level key, or from
     * `properties.<name>` when the object has no such top-level key.
     */
    changes: Record<string, unknown>;
    /** GET-PATCH cycles before giving up on HTTP 409; default 5. */
    maxTries?: number;
    contextToken?: string;
    handleFormat?: HandleFormat;
}

/** One change of a PATCH request (`PatchDTO.changes[]`). */
export interface PatchChange {
    field: string;
    old_value: { object: unknown };
    new_value: { object: unknown };
}

/** Body of a PATCH request (`PatchDTO`). */
export interface PatchRequestBody {
    changes: PatchChange[];
    version?: number;
}

/** Response to a PATCH (`PatchStatusDTO`). */
export interface PatchStatus {
    success: boolean;
    title?: string | null;
    message?: string | null;
    hints?: string[];
    field_failures?: FieldFailure[];
    [key: string]: unknown;
}

/** Outcome of `patchObject`. */
export interface PatchResult {
    /** False when every field already had its new value and no PATCH was sent. */
    changed: boolean;
    /** GET-PATCH cycles used. */
    tries: number;
    /** The object as read by the last GET, before the PATCH. */
    previous: PlatformObject;
    /** The PATCH body sent, when one was sent. */
    request?: PatchRequestBody;
    /** The platform's response, when a PATCH was sent. */
    status?: PatchStatus;
}

const DEFAULT_MAX_TRIES = 5;

/**
 * Updates an object with optimistic locking: GET it, compute our change
 * with `apply`, merge the change into the fresh object and PUT it with the
 * fresh `vers`. On HTTP 409 the cycle repeats with a new GET and a new call
 * to `apply`, so changes that others made in between survive. When every
 * changed field already has its new value, no PUT is sent and the result
 * has `changed: false`. After `maxTries` conflicts it throws a `RestError`
 * with status 409 that names the path and the number of tries; other
 * errors propagate at once.
 */
export async function updateObject<T extends PlatformObject = PlatformObject>(
    client: RestClient,
    options: UpdateObjectOptions<T>,
): Promise<UpdateResult<T>> {
    const maxTries = validateMaxTries(options.maxTries);
    let lastConflict: RestError | undefined;

    for (let tryNumber = 1; tryNumber <= maxTries; tryNumber++) {
        const fresh = await getObject<T>(client, options.path, options.contextToken, options.handleFormat);
        const change = options.apply(structuredClone(fresh));
        if (change === null || change === undefined || containsChange(fresh, change)) {
            return { object: fresh, changed: false, tries: tryNumber };
        }

        const merged = mergeChange(fresh, change) as T;
        if ("vers" in fresh) {
            // Our change must not move the version, or the lock would check the wrong one.
            (merged as PlatformObject).vers = fresh.vers;
        }
        try {
            const response = await client.request<T>({
                method: "PUT",
                path: options.path,
                body: merged,
                contextToken: options.contextToken,
                handleFormat: options.handleFormat,
            });
            const saved = isPlainObject(response.body) ? response.body : merged;
            return { object: saved, changed: true, tries: tryNumber };
        } catch (error) {
            if (!(error instanceof RestError) || error.statusCode !== 409) {
                throw error;
            }
            lastConflict = error;
        }
        await conflictPause(tryNumber, maxTries);
    }

    throw conflictLimitError(lastConflict as RestError, maxTries);
}

/**
 * Changes fields with `PATCH`: GET the object, send each field whose value
 * differs as `{"field", "old_value": {"object": current}, "new_value":
 * {"object": new}}` with `version` = the object's `vers`. Fields that
 * already have their new value are left out, and when none is left no
 * PATCH is sent (`changed: false`).
 *
 * A 200 response with `success: false` throws a `RestError` whose
 * `fieldFailures` lists each field someone else changed (field,
 * your_original_value, actual_current_value). An HTTP 409 repeats GET and
 * PATCH up to `maxTries` times, then throws a `RestError` with status 409.
 */
export async function patchObject(client: RestClient, options: PatchObjectOptions): Promise<PatchResult> {
    const maxTries = validateMaxTries(options.maxTries);
    const wanted = new Map<string, unknown>();
    for (const [name, value] of Object.entries(options.changes)) {
        wanted.set(name.startsWith("properties.") ? name.slice("properties.".length) : name, value);
    }
    if (wanted.size === 0) {
        throw new Error(`patchObject for ${options.path} was given no fields to change.`);
    }
    let lastConflict: RestError | undefined;

    for (let tryNumber = 1; tryNumber <= maxTries; tryNumber++) {
        const fresh = await getObject<PlatformObject>(client, options.path, options.contextToken, options.handleFormat);
        const request = buildPatch(fresh, wanted);
        if (request.changes.length === 0) {
            return { changed: false, tries: tryNumber, previous: fresh };
        }

        let status: PatchStatus;
        try {
            const response = await client.request<PatchStatus | null>({
                method: "PATCH",
                path: options.path,
                body: request,
                contextToken: options.contextToken,
                handleFormat: options.handleFormat,
            });
            status = response.body ?? { success: true };
        } catch (error) {
            if (!(error instanceof RestError) || error.statusCode !== 409) {
                throw error;
            }
            lastConflict = error;
            await conflictPause(tryNumber, maxTries);
            continue;
        }

        if (status.success === false) {
            throw patchRejectedError(await client.fullPath(options.path), status, tryNumber);
        }
        return { changed: true, tries: tryNumber, previous: fresh, request, status };
    }

    throw conflictLimitError(lastConflict as RestError, maxTries);
}

async function getObject<T>(client: RestClient, path: string, contextToken: string | undefined, handleFormat: HandleFormat | undefined): Promise<T> {
    const response = await client.request<T>({ method: "GET", path, contextToken, handleFormat });
    if (!isPlainObject(response.body)) {
        throw new Error(`GET ${path} returned no JSON object, so it cannot be updated.`);
    }
    return response.body;
}

function buildPatch(fresh: PlatformObject, wanted: Map<string, unknown>): PatchRequestBody {
    const properties = isPlainObject(fresh.properties) ? fresh.properties : {};
    const changes: PatchChange[] = [];
    for (const [field, newValue] of wanted) {
        const current = field in fresh ? fresh[field] : properties[field];
        if (deepEqual(current, newValue)) {
            continue;
        }
        changes.push({ field, old_value: { object: current ?? null }, new_value: { object: newValue } });
    }
    const request: PatchRequestBody = { changes };
    if (typeof fresh.vers === "number") {
        request.version = fresh.vers;
    }
    return request;
}

function patchRejectedError(path: string, status: PatchStatus, tries: number): RestError {
    const failures = Array.isArray(status.field_failures) ? status.field_failures : [];
    const fields = failures.map(
        (failure) =>
            `${String(failure.field)} (read ${JSON.stringify(failure.your_original_value)}, now ${JSON.stringify(failure.actual_current_value)})`,
    );
    const serverMessage = typeof status.message === "string" && status.message ? status.message : undefined;
    return new RestError({
        method: "PATCH",
        path,
        statusCode: 200,
        serverMessage,
        failure: fields.length > 0 ? `the platform rejected the change because these fields changed after they were read: ${fields.join(", ")}` : "the platform rejected the change",
        hint:
            fields.length > 0
                ? "Read the object again and decide which value should win"
                : "Check the field names and values, and any field that is required when closing",
        fieldFailures: failures,
        tries,
    });
}

function conflictLimitError(lastConflict: RestError, maxTries: number): RestError {
    return lastConflict.withDetails({
        tries: maxTries,
        hint: "The object changed between every read and write, so another process may be updating it in a loop; try again later",
    });
}

/** Waits a random 0 to 100 ms per try before the next read, so two writers that keep colliding drift apart. */
function conflictPause(tryNumber: number, maxTries: number): Promise<void> {
    if (tryNumber >= maxTries) {
        return Promise.resolve();
    }
    return new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * tryNumber));
}

function validateMaxTries(maxTries: number | undefined): number {
    const value = maxTries ?? DEFAULT_MAX_TRIES;
    if (!Number.isInteger(value) || value < 1) {
        throw new Error(`Invalid maxTries ${String(maxTries)}. Use a whole number of 1 or more.`);
    }
    return value;
}

function isPlainObject(value: unknown): value is PlatformObject {
    return typeof value === "object" && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** Returns `base` with `change` applied: plain objects merge field by field, everything else replaces. */
export function mergeChange(base: PlatformObject, change: PlatformObject): PlatformObject {
    const result: PlatformObject = { ...base };
    for (const [key, value] of Object.entries(change)) {
        const current = result[key];
        result[key] = isPlainObject(current) && isPlainObject(value) ? mergeChange(current, value) : value;
    }
    return result;
}

/** True when every field of `change` already has its value in `base`, recursing into plain objects. */
export function containsChange(base: PlatformObject, change: PlatformObject): boolean {
    return Object.entries(change).every(([key, value]) => {
        const current = base[key];
        if (isPlainObject(current) && isPlainObject(value)) {
            return containsChange(current, value);
        }
        return deepEqual(current, value);
    });
}

/** Compares JSON values by structure. `undefined` equals `null`, because the platform reads a missing field as null. */
export function deepEqual(left: unknown, right: unknown): boolean {
    if (left === right) {
        return true;
    }
    if ((left === undefined || left === null) && (right === undefined || right === null)) {
        return true;
    }
    if (Array.isArray(left) || Array.isArray(right)) {
        return Array.isArray(left) && Array.isArray(right) && left.length === right.length && left.every((item, index) => deepEqual(item, right[index]));
    }
    if (isPlainObject(left) && isPlainObject(right)) {
        const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
        return [...keys].every((key) => deepEqual(left[key], right[key]));
    }
    return false;
}
