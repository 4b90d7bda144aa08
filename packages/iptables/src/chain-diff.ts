import { isPerServiceChain } from './chain-names.js';
import { renderRule, type TableChange } from './restore-text.js';
import { TABLES, type IptablesPlan, type Rule, type Table, type TablePlan } from './rule-plan.js';

/** What was last written to the kernel: per table, each chain's rendered rules. */
export type AppliedState = Readonly<Record<Table, ReadonlyMap<string, string>>>;

function chainText(chain: string, rules: readonly Rule[]): string {
  return rules.map((rule) => renderRule(chain, rule)).join('\n');
}

export function appliedStateOf(plan: IptablesPlan): AppliedState {
  const state = {} as Record<Table, Map<string, string>>;
  for (const table of TABLES) state[table] = new Map([...plan.tables[table]].map(([chain, rules]) => [chain, chainText(chain, rules)]));
  return state;
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

/** A partial sync: only chains whose text differs from what was applied, and chains that disappeared. */
export function partialChanges(plan: IptablesPlan, applied: AppliedState, desired: AppliedState): TableChange[] {
  return TABLES.map((table) => {
    const before = applied[table];
    const after = desired[table];
    const write = new Map<string, readonly Rule[]>();
    for (const [chain, rules] of plan.tables[table] as TablePlan) if (before.get(chain) !== after.get(chain)) write.set(chain, rules);
    const remove = [...before.keys()].filter((chain) => !after.has(chain));
    return { table, write, remove };
  });
}

export function isNoChange(changes: readonly TableChange[]): boolean {
  return changes.every((c) => c.write.size === 0 && c.remove.length === 0);
}
