import { OverlayMap } from '@hybrid-proxy/model';
/** A set the rules match on (`-m set --match-set`), as data: the executor creates it and keeps its members. */
export interface IpsetPlan {
  readonly name: string;
  /** What follows the name in `ipset create`, e.g. `hash:ip,port family inet`. */
  readonly type: string;
  readonly comment: string;
  /** The members, each once. */
  readonly entries: readonly string[];
  /**
   * The members by owner (a Service port), when the planner has them: an owner's array is the same object from
   * one plan to the next while the owner is unchanged, so a partial sync diffs owners by identity (MemberLedger)
   * instead of every member. The same member may belong to several owners.
   */
  readonly groups?: ReadonlyMap<string, readonly string[]>;
}

/** A set's members by owner: its groups, or all its members under one owner when it has none. */
export const ipsetOwners = (set: IpsetPlan): ReadonlyMap<string, readonly string[]> => set.groups ?? new Map([['', set.entries]]);

/** A set planned by owner; its flat member list is built only when asked for (full syncs, renderPlan). */
export function groupedIpset(name: string, type: string, comment: string, groups: ReadonlyMap<string, readonly string[]>): IpsetPlan {
  let entries: readonly string[] | undefined;
  return {
    name,
    type,
    comment,
    groups,
    get entries() {
      if (!entries) {
        const all = new Set<string>();
        for (const members of groups.values()) for (const member of members) all.add(member);
        entries = [...all];
      }
      return entries;
    },
  };
}

/** `ipset restore` lines that change members: additions and removals apart, as they are written at different times. */
export interface MemberChanges {
  readonly adds: string[];
  readonly removals: string[];
}

/**
 * What the kernel holds of one set after the last sync, by owner and with a count per member, so that the next
 * plan's changes cost O(changed owners): an owner whose array is the same object is skipped.
 */
export class MemberLedger {
  private readonly counts = new Map<string, number>();
  private groups: ReadonlyMap<string, readonly string[]> = new Map();

  constructor(groups: ReadonlyMap<string, readonly string[]>) {
    this.diff(groups);
  }

  /** How many distinct members the set holds, by this ledger. */
  get size(): number {
    return this.counts.size;
  }

  /** Moves to `next` and returns the `add` and `del` lines for set `name`. */
  update(next: ReadonlyMap<string, readonly string[]>, name = ''): MemberChanges {
    const { added, removed } = this.diff(next);
    return { adds: added.map((m) => `add ${name} ${m}`), removals: removed.map((m) => `del ${name} ${m}`) };
  }

  /** Moves to `next` and returns the members that it adds and those that it loses. */
  diff(next: ReadonlyMap<string, readonly string[]>): { readonly added: string[]; readonly removed: string[] } {
    const added: string[] = [];
    const removed: string[] = [];
    const change = (members: readonly string[], by: 1 | -1) => {
      for (const member of members) {
        const count = (this.counts.get(member) ?? 0) + by;
        if (count === 0) {
          this.counts.delete(member);
          removed.push(member);
        } else {
          this.counts.set(member, count);
          if (count === 1 && by === 1) added.push(member);
        }
      }
    };
    // Owners of one lineage of plans name those that may have changed; otherwise every owner is checked.
    const candidates = OverlayMap.changedKeys(this.groups, next);
    for (const [owner, members] of candidates ? [...candidates].map((o) => [o, next.get(o)] as const) : next) {
      const before = this.groups.get(owner);
      if (before === members) continue;
      if (members) change(members, 1);
      if (before) change(before, -1);
    }
    if (!candidates) for (const [owner, members] of this.groups) if (!next.has(owner)) change(members, -1);
    this.groups = next;
    // A member that left one owner and joined another in the same plan was counted down and up: keep neither.
    const net = new Set(removed.filter((m) => this.counts.has(m)));
    return { added: added.filter((m) => !net.has(m)), removed: removed.filter((m) => !this.counts.has(m)) };
  }
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

/** `create NAME TYPE comment`, the one spelling of a set's creation (the comment extension lets members carry one). */
export function createSetLine(set: Pick<IpsetPlan, 'name' | 'type'>): string {
  return `create ${set.name} ${set.type} comment`;
}

/**
 * `ipset restore` commands, in two steps around the rule update. `before`: create missing sets, which the rules
 * name. Then every membership change, in one call that runs alongside the rule update: `adds` at once (inert until
 * their rules exist), `removals` once the rules are in, so a member never leads into nothing. Never flushes a set,
 * so a present member keeps matching throughout.
 */
export function ipsetSteps(current: SavedIpsets, desired: readonly IpsetPlan[]): { before: string[] } & MemberChanges {
  const before: string[] = [];
  const adds: string[] = [];
  const removals: string[] = [];
  for (const set of desired) {
    const existing = current.sets.get(set.name);
    if (!existing) before.push(createSetLine(set));
    const have = existing?.entries ?? new Set<string>();
    // A set that is new or empty (a first sync) has nothing to remove: no set of the 100k wanted members.
    if (have.size > 0) {
      const want = new Set(set.entries);
      for (const entry of have) if (!want.has(entry)) removals.push(`del ${set.name} ${entry}`);
    }
    for (const entry of set.entries) if (!have.has(entry)) adds.push(`add ${set.name} ${entry}`);
  }
  return { before, adds, removals };
}

/** Both steps in one list, for callers that apply sets on their own (IPVS mode). */
export function ipsetChanges(current: SavedIpsets, desired: readonly IpsetPlan[]): string[] {
  const { before, adds, removals } = ipsetSteps(current, desired);
  return [...before, ...removals, ...adds];
}
