import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { defaultPlannerOptions, IptablesExecutor, parseSave, planIptables } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, namespacePrefix } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { eps, svc } from './scenarios.js';

const snapshot = (n: number, shift: number) =>
  buildSnapshot(
    Array.from({ length: n }, (_, i) => svc(`s${i}`, `198.19.${i >> 8}.${i & 255}`, [{ name: 'p80', port: 80 }])),
    Array.from({ length: n }, (_, i) => eps(`s${i}`, [`198.18.${i >> 8}.${i & 255}`, `198.18.${(i >> 8) + 100 + (i < shift ? 50 : 0)}.${i & 255}`])),
  );

describe('an input split into many commits, on a real kernel (iptables-nft)', () => {
  let ns: string;
  let run: CommandRunner;
  beforeAll(async () => {
    ns = `${namespacePrefix()}-batches`;
    run = await addNamespace(ns);
  });
  afterAll(async () => deleteNamespace(ns));

  const expectKernelEquals = async (plan: ReturnType<typeof planIptables>) => {
    const nat = parseSave((await runChecked(run, 'iptables-nft-save', ['-t', 'nat'])).stdout).get('nat')!;
    const ours = [...nat.chains.keys()].filter((c) => c.startsWith('KUBE-')).sort();
    expect(ours).toEqual([...plan.tables.nat.keys()].sort());
    for (const [chain, rules] of plan.tables.nat) expect(nat.chains.get(chain)!.length, chain).toBe(rules.length);
  };

  it('applies a full sync in commits of at most 100 rules, then a partial one, exactly as planned', async () => {
    const executor = new IptablesExecutor({ runner: run, family: 4, variant: 'nft', maxRulesPerCommit: 100 });
    const first = planIptables(snapshot(300, 0), { ...defaultPlannerOptions, family: 4 });
    const result = await executor.apply(first);
    expect(result.input.match(/^COMMIT$/gm)!.length).toBeGreaterThan(20);
    await expectKernelEquals(first);
    const second = planIptables(snapshot(300, 120), { ...defaultPlannerOptions, family: 4 });
    expect((await executor.apply(second)).kind).toBe('partial');
    await expectKernelEquals(second);
  });
});
