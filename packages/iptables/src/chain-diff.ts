import { OverlayMap, type IPFamily } from '@hybrid-proxy/model';
import { isPerServiceChain, shadowChainName } from './chain-names.js';
import { builtinJumps } from './fixed-chains.js';
import type { TableChange } from './restore-text.js';
import { ruleText, TABLES, type BuiltinJump, type IptablesPlan, type Rule, type Table, type TablePlan } from './rule-plan.js';
import { canonicalRule } from './saved-rule.js';
import type { SavedTable } from './save-parser.js';

/** What was last written to the kernel: per table, each chain's rules (the plan's own arrays, never mutated). */
export type AppliedState = Readonly<Record<Table, TablePlan>>;

/**
 * Whether two chains hold the same rules. Unchanged Service ports keep their rule arrays between plans (PlanMemo),
 * so identity answers almost every comparison; otherwise rule text is compared.
 */
export function sameRules(a: readonly Rule[] | undefined, b: readonly Rule[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The jumps from built-in chains that an iptables-save (parsed) does not show, as inserts at the head of their
 * chains: in one restore, in the order given, as `-I <chain> 1` one by one would leave them.
 */
export function missingJumps(jumps: readonly BuiltinJump[], saved: ReadonlyMap<string, SavedTable>, family: IPFamily): TableChange[] {
  return TABLES.map((table) => ({
    table,
    write: new Map(),
    remove: [],
    insert: jumps
      .filter((jump) => jump.table === table)
      .map((jump) => [jump.chain, ruleText([...jump.match, '-j', jump.target])] as const)
      .filter(([chain, rule]) => !(saved.get(table)?.chains.get(chain) ?? []).some((present) => canonicalRule(present, family) === canonicalRule(rule, family))),
  }));
}

/**
 * The jumps either layout may install (builtinJumps()) that this plan has none of but the kernel holds: left by the
 * other layout or an older version, once the plan's own jumps and chains are in place they only cost.
 */
export function staleJumps(planned: readonly BuiltinJump[], saved: ReadonlyMap<string, SavedTable>, family: IPFamily): BuiltinJump[] {
  const rule = (jump: BuiltinJump) => canonicalRule(ruleText([...jump.match, '-j', jump.target]), family);
  const wanted = new Set(planned.map((jump) => `${jump.table} ${jump.chain} ${rule(jump)}`));
  return builtinJumps(true).filter(
    (jump) => !wanted.has(`${jump.table} ${jump.chain} ${rule(jump)}`) && (saved.get(jump.table)?.chains.get(jump.chain) ?? []).some((present) => canonicalRule(present, family) === rule(jump)),
  );
}

/**
 * A full sync: every desired chain is written, and per-service chains found in the kernel but no longer
 * desired are removed (they may be left from a crash or an older run).
 */
export function fullChanges(plan: IptablesPlan, existingChains: Readonly<Record<Table, readonly string[]>>): TableChange[] {
  return TABLES.map((table) => ({
    table,
    write: plan.tables[table],
    remove: existingChains[table].filter((chain) => isPerServiceChain(chain) && !plan.tables[table].has(chain)),
  }));
}

/** A partial sync: only chains whose rules differ from what was applied, and chains that disappeared. */
export function partialChanges(plan: IptablesPlan, applied: AppliedState): TableChange[] {
  return TABLES.map((table) => {
    const before = applied[table];
    const after = plan.tables[table];
    const write = new Map<string, readonly Rule[]>();
    const remove: string[] = [];
    // A patched plan names the chains it may have changed; otherwise every chain is compared.
    const candidates = OverlayMap.changedKeys(before, after);
    if (candidates) {
      for (const chain of candidates) {
        const rules = after.get(chain);
        if (rules === undefined) {
          if (before.has(chain)) remove.push(chain);
        } else if (!sameRules(before.get(chain), rules)) {
          write.set(chain, rules);
        }
      }
      return { table, write, remove };
    }
    for (const [chain, rules] of after) if (!sameRules(before.get(chain), rules)) write.set(chain, rules);
    for (const chain of before.keys()) if (!after.has(chain)) remove.push(chain);
    return { table, write, remove };
  });
}

export function isNoChange(changes: readonly TableChange[]): boolean {
  return changes.every((c) => c.write.size === 0 && c.remove.length === 0 && (c.insert?.length ?? 0) === 0);
}

/** A partial sync as two commits: the first serves the new rules, the second leaves the kernel exactly as planned. */
export interface ServeFirstChanges {
  /** Additions only: new chains filled; each rewritten chain gets a filled stand-in and a first rule going to it. */
  readonly serve: TableChange[];
  /** Each rewritten chain filled in place, its stand-in removed, and the chains that went away removed. */
  readonly tidy: TableChange[];
}

/**
 * On nf_tables, a commit that deletes any rule (a chain flush included) waits for an RCU grace period, about 10 ms
 * here and the same for one rule as for a thousand, while a commit that only adds rules does not. So a partial sync
 * serves its change first with additions alone: a chain that exists is not flushed but shadowed, by a stand-in
 * (`<chain>~`) that holds its new rules and a rule inserted at its head that goes to it (`-I <chain> 1 -g
 * <chain>~`: the stand-in then returns wherever the chain would have, so it replaces the chain exactly). The
 * second commit writes the chain in place and removes the stand-in and the chains that went away.
 */
export function serveFirstChanges(changes: readonly TableChange[], applied: AppliedState): ServeFirstChanges {
  const serve: TableChange[] = [];
  const tidy: TableChange[] = [];
  for (const change of changes) {
    const added = new Map<string, readonly Rule[]>();
    const rewritten = new Map<string, readonly Rule[]>();
    for (const [chain, rules] of change.write) (applied[change.table].has(chain) ? rewritten : added).set(chain, rules);
    const shadows = new Map<string, readonly Rule[]>();
    const heads: (readonly [string, Rule])[] = [];
    for (const [chain, rules] of rewritten) {
      shadows.set(shadowChainName(chain), rules);
      heads.push([chain, `-g ${shadowChainName(chain)}`]);
    }
    serve.push({ table: change.table, write: new Map([...added, ...shadows]), remove: [], insert: heads });
    tidy.push({ table: change.table, write: rewritten, remove: [...change.remove, ...shadows.keys()] });
  }
  return { serve, tidy };
}
