/** A set the rules match on (`-m set --match-set`), as data: the executor creates it and keeps its members. */
export interface IpsetPlan {
  readonly name: string;
  /** What follows the name in `ipset create`, e.g. `hash:ip,port family inet`. */
  readonly type: string;
  readonly comment: string;
  readonly entries: readonly string[];
}

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

/** What `desired` looks like once applied, to diff the next plan against without reading the kernel. */
export function savedIpsetsOf(desired: readonly IpsetPlan[]): SavedIpsets {
  return { sets: new Map(desired.map((set) => [set.name, { type: set.type, entries: new Set(set.entries) }])) };
}

/**
 * `ipset restore` commands, in two steps around the rule update. `before`: create missing sets, which the rules
 * name. `after`: every membership change, in one call, once the rules are in place: a member removed after its
 * rules never leads into nothing, and a member added after its rules never gates traffic into a missing leaf.
 * (A new endpoint's hairpin member lands a moment after its DNAT rule; kube-proxy's own KUBE-SEP chain swap has
 * the same moment.) Never flushes a set, so a present member keeps matching throughout.
 */
export function ipsetSteps(current: SavedIpsets, desired: readonly IpsetPlan[]): { before: string[]; after: string[] } {
  const before: string[] = [];
  const after: string[] = [];
  for (const set of desired) {
    const existing = current.sets.get(set.name);
    if (!existing) before.push(`create ${set.name} ${set.type} comment`);
    const have = existing?.entries ?? new Set<string>();
    const want = new Set(set.entries);
    for (const entry of have) if (!want.has(entry)) after.push(`del ${set.name} ${entry}`);
    for (const entry of set.entries) if (!have.has(entry)) after.push(`add ${set.name} ${entry}`);
  }
  return { before, after };
}

/** Both steps in one list, for callers that apply sets on their own (IPVS mode). */
export function ipsetChanges(current: SavedIpsets, desired: readonly IpsetPlan[]): string[] {
  const { before, after } = ipsetSteps(current, desired);
  return [...before, ...after];
}
