import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { defaultPlannerOptions, IptablesExecutor, planDrift, planIptables } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, namespacePrefix } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { eps, svc } from './scenarios.js';

const snapshot = (n: number, shift: number) =>
  buildSnapshot(
    Array.from({ length: n }, (_, i) => svc(`s${i}`, `198.19.${i >> 8}.${i & 255}`, [{ name: 'p80', port: 80 }])),
    Array.from({ length: n }, (_, i) => eps(`s${i}`, [`198.18.${i >> 8}.${i & 255}`, `198.18.${(i >> 8) + 100 + (i < shift ? 50 : 0)}.${i & 255}`])),
  );

const CASES = [
  { variant: 'nft', dispatch: 'tree', endpointChains: 'inline' },
  { variant: 'nft', dispatch: 'linear', endpointChains: 'per-endpoint' },
  { variant: 'legacy', dispatch: 'tree', endpointChains: 'inline' },
  { variant: 'legacy', dispatch: 'linear', endpointChains: 'per-endpoint' },
] as const;

describe.each(CASES)('an input split into many commits, on a real kernel (iptables-$variant, $dispatch, $endpointChains)', ({ variant, ...layout }) => {
  let ns: string;
  let run: CommandRunner;
  beforeAll(async () => {
    ns = `${namespacePrefix()}-batches`;
    run = await addNamespace(ns);
  });
  afterAll(async () => deleteNamespace(ns));

  // Rule by rule, as iptables-save reads the kernel back (see canonicalRule).
  const expectKernelEquals = async (plan: ReturnType<typeof planIptables>) => {
    expect(planDrift(plan, (await runChecked(run, `iptables-${variant}-save`, [])).stdout)).toEqual([]);
  };

  it('applies a full sync in commits of at most 100 rules, then a partial one, exactly as planned', async () => {
    const executor = new IptablesExecutor({ runner: run, family: 4, variant, maxRulesPerCommit: 100 });
    const first = planIptables(snapshot(300, 0), { ...defaultPlannerOptions, family: 4, ...layout });
    const result = await executor.apply(first);
    expect(result.input.match(/^COMMIT$/gm)!.length).toBeGreaterThan(10);
    await expectKernelEquals(first);
    const second = planIptables(snapshot(300, 120), { ...defaultPlannerOptions, family: 4, ...layout });
    expect((await executor.apply(second)).kind).toBe('partial');
    await expectKernelEquals(second);
  });
});
