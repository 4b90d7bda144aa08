import { describe, expect, it } from 'vitest';
import { declaredJumpTargets, declareJumpTargets, defaultPlannerOptions, fullChanges, jumpTargets, orderByJumps, planIptables, renderRestoreInput } from '@hybrid-proxy/iptables';
import { buildSnapshot } from '@hybrid-proxy/model';
import { eps, svc } from './scenarios.js';

const many = (n: number) =>
  buildSnapshot(
    Array.from({ length: n }, (_, i) => svc(`s${i}`, `198.19.${i >> 8}.${i & 255}`, [{ name: 'p80', port: 80 }], i % 3 === 0 ? { sessionAffinity: 'ClientIP' } : {})),
    Array.from({ length: n }, (_, i) => eps(`s${i}`, [`198.18.${i >> 8}.${i & 255}`, `198.18.${(i >> 8) + 100}.${i & 255}`, `198.18.${(i >> 8) + 200}.${i & 255}`])),
  );

/** Splits a restore input into its commits: [table, declared chains, rules as [chain, text]][]. */
function commits(input: string) {
  const out: { table: string; declared: string[]; rules: [string, string][]; deleted: string[] }[] = [];
  for (const line of input.split('\n')) {
    if (line.startsWith('*')) out.push({ table: line.slice(1), declared: [], rules: [], deleted: [] });
    else if (line.startsWith(':')) out.at(-1)!.declared.push(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) out.at(-1)!.rules.push([line.split(' ')[1]!, line]);
    else if (line.startsWith('-X ')) out.at(-1)!.deleted.push(line.slice(3));
  }
  return out;
}

describe('batched restore input', () => {
  const plan = planIptables(many(200), { ...defaultPlannerOptions, family: 4 });
  const builtins = ['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'DNAT', 'MARK', 'MASQUERADE'];

  it('orders chains after the chains they jump to', () => {
    const order = orderByJumps(plan.tables.nat);
    const position = new Map(order.map((c, i) => [c, i]));
    let checked = 0;
    for (const [chain, rules] of plan.tables.nat) {
      for (const rule of rules) {
        // A rule is text: its target follows its last -j or -g.
        const target = [...rule.matchAll(/(?:^| )-[jg] (\S+)/g)].at(-1)?.[1];
        if (target === undefined || !plan.tables.nat.has(target)) continue;
        expect(position.get(target)!, `${chain} -> ${target}`).toBeLessThan(position.get(chain)!);
        checked++;
      }
    }
    // Every Service's dispatch, the tree's gotos, the service chains' marks: jumps enough to order.
    expect(checked).toBeGreaterThan(200);
  });

  it('goes by the jump targets a planner declared, without reading those rules', () => {
    const chains = new Map([
      ['A', declareJumpTargets(['-j B'], ['C'])],
      ['B', []],
      ['C', ['-j B']],
    ]);
    expect(orderByJumps(chains)).toEqual(['B', 'C', 'A']);
  });

  it('declares for service chains exactly the chains their rules lead to, in every layout', () => {
    let declared = 0;
    for (const endpointChains of ['inline', 'per-endpoint'] as const) {
      for (const dispatch of ['tree', 'linear'] as const) {
        for (const masquerade of [{ masqueradeAll: true }, { localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16'] } }, {}]) {
          const planned = planIptables(many(30), { ...defaultPlannerOptions, family: 4, endpointChains, dispatch, ...masquerade });
          for (const [chain, rules] of planned.tables.nat) {
            const targets = declaredJumpTargets(rules);
            if (!targets) continue;
            declared++;
            expect(new Set(targets), chain).toEqual(new Set(jumpTargets(rules).filter((t) => !builtins.includes(t))));
          }
        }
      }
    }
    expect(declared).toBeGreaterThan(12 * 30);
  });

  it('after every commit, each rule in the table jumps only to chains that exist and are filled', () => {
    const input = renderRestoreInput(fullChanges(plan, { filter: [], nat: [] }), { maxRulesPerCommit: 50 });
    const list = commits(input);
    expect(list.length).toBeGreaterThan(20);
    const filled = new Map<string, Set<string>>();
    for (const commit of list) {
      const chains = filled.get(commit.table) ?? new Set<string>();
      filled.set(commit.table, chains);
      for (const chain of commit.declared) chains.add(chain);
      for (const [, text] of commit.rules) {
        const target = /-[jg] (\S+)/.exec(text)![1]!;
        if (!builtins.includes(target)) expect(chains.has(target), `${commit.table}: ${text}`).toBe(true);
      }
      expect(commit.rules.length).toBeLessThanOrEqual(Math.max(50, ...commit.declared.map((c) => plan.tables[commit.table as 'nat'].get(c)!.length)));
    }
    // Nothing lost, nothing duplicated.
    expect(list.flatMap((c) => c.rules).length).toBe([...plan.tables.nat.values(), ...plan.tables.filter.values()].reduce((n, r) => n + r.length, 0));
  });

  it('deletes stale chains only in the last commit of their table', () => {
    const changes = fullChanges(plan, { filter: [], nat: ['KUBE-SVC-STALESTALESTALE', 'KUBE-SEP-STALESTALESTALE'] });
    const natCommits = commits(renderRestoreInput(changes, { maxRulesPerCommit: 100 })).filter((c) => c.table === 'nat');
    expect(natCommits.slice(0, -1).every((c) => c.deleted.length === 0)).toBe(true);
    expect(natCommits.at(-1)!.deleted).toEqual(['KUBE-SVC-STALESTALESTALE', 'KUBE-SEP-STALESTALESTALE']);
  });

  it('without a limit, writes one commit per table in plan order', () => {
    expect(commits(renderRestoreInput(fullChanges(plan, { filter: [], nat: [] }))).map((c) => c.table)).toEqual(['filter', 'nat']);
  });
});
