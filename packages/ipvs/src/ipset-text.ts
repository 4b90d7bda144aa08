import type { IpsetPlan } from './ipvs-plan.js';

export interface SavedIpsets {
  /** Set name → its type line (after the name) and entries. */
  readonly sets: ReadonlyMap<string, { readonly type: string; readonly entries: ReadonlySet<string> }>;
}

/** Parses `ipset save`. */
export function parseIpsetSave(text: string): SavedIpsets {
  const sets = new Map<string, { type: string; entries: Set<string> }>();
  for (const line of text.split('\n')) {
    const [verb, name, ...rest] = line.trim().split(/\s+/);
    if (verb === 'create' && name) sets.set(name, { type: rest.join(' '), entries: new Set() });
    else if (verb === 'add' && name) sets.get(name)?.entries.add(rest[0]!);
  }
  return { sets };
}

/** `ipset restore` commands: create missing sets, add missing entries, delete stale ones. Never flushes a set. */
export function ipsetChanges(current: SavedIpsets, desired: readonly IpsetPlan[]): string[] {
  const lines: string[] = [];
  for (const set of desired) {
    const existing = current.sets.get(set.name);
    if (!existing) lines.push(`create ${set.name} ${set.type} comment`);
    const have = existing?.entries ?? new Set<string>();
    const want = new Set(set.entries);
    for (const entry of have) if (!want.has(entry)) lines.push(`del ${set.name} ${entry}`);
    for (const entry of set.entries) if (!have.has(entry)) lines.push(`add ${set.name} ${entry}`);
  }
  return lines;
}
