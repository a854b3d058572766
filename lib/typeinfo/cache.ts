import type { FieldValue, FieldValueLookup } from "./types";
import { toFieldValueList } from "./values";

/** Settings of a `FieldValueCache`. */
export interface FieldValueCacheOptions {
    /** How long loaded values stay valid, in milliseconds; 0 disables caching. Default 240000 (4 minutes). */
    ttlMs?: number;
    /** Maximum number of fields kept; the least recently used one goes first. Default 500. */
    maxEntries?: number;
    /** Clock in milliseconds, replaceable in tests. Default `Date.now`. */
    now?: () => number;
}

interface CacheEntry {
    values: Promise<FieldValue[]>;
    expiresAt: number;
}

const DEFAULT_TTL_MS = 240_000;
const DEFAULT_MAX_ENTRIES = 500;

/**
 * Caches the select values of fields loaded from the platform, for a bounded
 * time and number of fields. Concurrent requests for the same field share one
 * load; a failed load is not cached.
 */
export class FieldValueCache {
    private readonly fetchFieldValues: FieldValueLookup;
    private readonly ttlMs: number;
    private readonly maxEntries: number;
    private readonly now: () => number;
    /** Entries in least-recently-used order: a Map iterates in insertion order. */
    private readonly entries = new Map<string, CacheEntry>();

    /**
     * @param fetchFieldValues loads one field's values, for example with
     *   `GET /rest/orgs/<org>/types/<type>/fields/<field>`.
     * @throws {RangeError} when `ttlMs` or `maxEntries` is out of range.
     */
    public constructor(fetchFieldValues: FieldValueLookup, options: FieldValueCacheOptions = {}) {
        const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
        const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
        if (!Number.isFinite(ttlMs) || ttlMs < 0) {
            throw new RangeError(`Invalid ttlMs ${String(ttlMs)}: use a number of milliseconds of 0 or more.`);
        }
        if (!Number.isInteger(maxEntries) || maxEntries < 1) {
            throw new RangeError(`Invalid maxEntries ${String(maxEntries)}: use a whole number of 1 or more.`);
        }
        this.fetchFieldValues = fetchFieldValues;
        this.ttlMs = ttlMs;
        this.maxEntries = maxEntries;
        this.now = options.now ?? Date.now;
    }

    /** Number of fields held, including ones whose load is still running. */
    public get size(): number {
        return this.entries.size;
    }

    /**
     * Returns the select values of a field, loading them when they are not
     * cached, have expired, or `refresh` is set.
     * @throws the lookup's error, or an InvalidFieldValuesError when the lookup
     *   resolves to something other than select values.
     */
    public get(type: string, field: string, options: { refresh?: boolean } = {}): Promise<FieldValue[]> {
        const key = JSON.stringify([type, field]);
        const cached = this.entries.get(key);
        if (cached !== undefined && options.refresh !== true && this.now() < cached.expiresAt) {
            this.entries.delete(key);
            this.entries.set(key, cached);
            return cached.values;
        }

        const entry: CacheEntry = { values: this.load(type, field), expiresAt: this.now() + this.ttlMs };
        this.entries.delete(key);
        this.entries.set(key, entry);
        this.evictOverflow();

        entry.values.catch(() => {
            if (this.entries.get(key) === entry) {
                this.entries.delete(key);
            }
        });
        return entry.values;
    }

    /** Drops one field, so that the next `get` loads it again. */
    public delete(type: string, field: string): boolean {
        return this.entries.delete(JSON.stringify([type, field]));
    }

    /** Drops every field. */
    public clear(): void {
        this.entries.clear();
    }

    private async load(type: string, field: string): Promise<FieldValue[]> {
        const result = await this.fetchFieldValues(type, field);
        return toFieldValueList(result, type, field);
    }

    private evictOverflow(): void {
        for (const key of this.entries.keys()) {
            if (this.entries.size <= this.maxEntries) {
                break;
            }
            this.entries.delete(key);
        }
    }
}
