import { OverlayMap } from '@hybrid-proxy/model';
import { isPerServiceChain } from './chain-names.js';
import type { TableChange } from './restore-text.js';
import { TABLES, type IptablesPlan, type Rule, type Table, type TablePlan } from './rule-plan.js';

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
  return changes.every((c) => c.write.size === 0 && c.remove.length === 0);
}
