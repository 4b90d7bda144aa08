import { describe, expect, it } from 'vitest';
import {
  createPlanMemo,
  defaultPlannerOptions,
  partialChanges,
  planIptables,
  renderPlan,
  renderRestoreInput,
  serveFirstChanges,
  shadowChainName,
  type IptablesPlan,
  type Rule,
  type TableChange,
} from '@hybrid-proxy/iptables';
import { buildSnapshot } from '@hybrid-proxy/model';
import { RuleTracer } from './packet-tracer.js';
import { eps, svc } from './scenarios.js';

/** 20 Services; `moved` changes one endpoint of s7, `churned` also adds s21 and removes s3. */
const cluster = (options: { moved?: boolean; churned?: boolean } = {}) => {
  const ids = Array.from({ length: 22 }, (_, i) => i).filter((i) => (options.churned ? i !== 3 : i < 20) && i > 0);
  return buildSnapshot(
    ids.map((i) => svc(`s${i}`, `198.19.0.${i}`, [{ name: 'p80', port: 80 }])),
    ids.map((i) => eps(`s${i}`, [`198.18.1.${i}`, i === 7 && options.moved ? '198.18.3.99' : `198.18.2.${i}`])),
  );
};

/** What the kernel does with restore input, on plain maps: declare (flush) and fill, insert at the head, delete. */
function applyToTables(plan: IptablesPlan, changes: readonly TableChange[]): IptablesPlan {
  const tables = { filter: new Map<string, Rule[]>(), nat: new Map<string, Rule[]>() };
  for (const table of ['filter', 'nat'] as const) for (const [chain, rules] of plan.tables[table]) tables[table].set(chain, [...rules]);
  for (const change of changes) {
    const chains = tables[change.table];
    for (const [chain, rules] of change.write) chains.set(chain, [...rules]);
    for (const chain of change.remove) chains.set(chain, []);
    for (const [chain, rule] of change.insert ?? []) chains.get(chain)!.unshift(rule);
    for (const chain of change.remove) chains.delete(chain);
  }
  return { ...plan, tables };
}

describe.each([
  ['one endpoint moved', { moved: true }],
  ['an endpoint moved, a Service added and one removed', { moved: true, churned: true }],
] as const)('a serve-first partial sync: %s', (_, next) => {
  const options = { ...defaultPlannerOptions, family: 4 as const };
  const memo = createPlanMemo();
  const before = planIptables(cluster(), options, memo);
  const after = planIptables(cluster(next), options, memo);
  const { serve, tidy } = serveFirstChanges(partialChanges(after, before.tables), before.tables);
  const serveText = renderRestoreInput(serve);

  it('serves with additions only: no flush of an existing chain, no deletion', () => {
    expect(serveText).not.toMatch(/^-[XDFR] /m);
    const declared = [...serveText.matchAll(/^:(\S+) /gm)].map((m) => m[1]!);
    expect(declared.length).toBeGreaterThan(0);
    for (const chain of declared) expect(before.tables.nat.has(chain) || before.tables.filter.has(chain), chain).toBe(false);
    const rewritten = [...partialChanges(after, before.tables)].flatMap((c) => [...c.write.keys()].filter((chain) => before.tables[c.table].has(chain)));
    expect(rewritten.length).toBeGreaterThan(0);
    for (const chain of rewritten) expect(serveText).toContain(`-I ${chain} 1 -g ${shadowChainName(chain)}\n`);
  });

  it('after the first commit, every Service VIP reaches exactly the endpoints the new plan sends it to', () => {
    // Set members are added before the first commit and removed after it: in between, the sets hold both.
    const both = after.ipsets.map((set) => ({ ...set, entries: [...new Set([...(before.ipsets.find((b) => b.name === set.name)?.entries ?? []), ...set.entries])] }));
    const served = new RuleTracer(renderPlan(applyToTables({ ...before, ipsets: both }, serve)));
    const planned = new RuleTracer(renderPlan(after));
    for (let i = 1; i <= 21; i++) {
      const packet = { source: '198.18.0.2', destination: `198.19.0.${i}`, protocol: 'tcp', port: 80 } as const;
      expect(served.trace(packet), `198.19.0.${i}`).toEqual(planned.trace(packet));
    }
  });

  it('after the second commit, the tables are exactly the new plan', () => {
    const tidied = applyToTables(applyToTables(before, serve), tidy);
    for (const table of ['filter', 'nat'] as const) {
      expect(new Map([...tidied.tables[table]].sort())).toEqual(new Map([...after.tables[table]].map(([chain, rules]) => [chain, [...rules]] as const).sort()));
    }
  });
});
