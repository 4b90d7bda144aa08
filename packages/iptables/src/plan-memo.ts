import { isDeepStrictEqual } from 'node:util';
import type { ServiceEntry } from '@hybrid-proxy/model';

/**
 * Remembers each Service port's planned rules between plans. Snapshots are rebuilt on every change, but almost
 * every entry equals the one before: reusing its rules (the same arrays) skips re-planning it, and lets the
 * executor see an unchanged chain by identity instead of by comparing text. Planning stays a pure function of
 * (snapshot, options): the memo only ever returns what planning the entry afresh would.
 */
export class PlanMemo<T> {
  private entries = new Map<string, { readonly entry: ServiceEntry; readonly value: T }>();
  private optionsKey = '';

  /** Forgets everything when the options change (they shape every rule). */
  useOptions(options: object): void {
    const key = JSON.stringify(options);
    if (key !== this.optionsKey) this.entries = new Map();
    this.optionsKey = key;
  }

  get(key: string, entry: ServiceEntry, plan: (entry: ServiceEntry) => T): T {
    const cached = this.entries.get(key);
    if (cached && (cached.entry === entry || isDeepStrictEqual(cached.entry, entry))) return cached.value;
    const value = plan(entry);
    this.entries.set(key, { entry, value });
    return value;
  }

  /** Drops Service ports that are gone, so the memo stays the size of the cluster. */
  retain(keys: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const key of this.entries.keys()) if (!keys.has(key)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
