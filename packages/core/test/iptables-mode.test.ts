import { describe, expect, it } from 'vitest';
import { FakeRunner } from '@hybrid-proxy/exec';
import { defaultPlannerOptions } from '@hybrid-proxy/iptables';
import { IptablesMode, silentLogger } from '@hybrid-proxy/core';

/** A kernel without ip_set: ipset runs, but cannot reach it. */
const noIpSet = () => new FakeRunner((call) => (call.file === 'ipset' ? { exitCode: 1, stderr: 'ipset v7.17: Kernel error received: Protocol not supported' } : undefined));
const mode = (runner: FakeRunner, layout: Partial<typeof defaultPlannerOptions>) =>
  new IptablesMode({ runner, logger: silentLogger, families: [4, 6], variant: 'nft', planner: { ...defaultPlannerOptions, ...layout } });

describe('IptablesMode.preflight', () => {
  it('fails early, naming ip_set and kube-proxy\'s layout as the way without it, and asks the kernel once', async () => {
    const runner = noIpSet();
    await expect(mode(runner, {}).preflight()).rejects.toThrow(/CONFIG_IP_SET.*--dispatch linear --endpoint-chains per-endpoint/);
    expect(runner.calls.filter((c) => c.file === 'ipset')).toHaveLength(1);
  });

  it('does not need ipset for kube-proxy\'s layout', async () => {
    const runner = noIpSet();
    await mode(runner, { dispatch: 'linear', endpointChains: 'per-endpoint' }).preflight();
    expect(runner.calls.some((c) => c.file === 'ipset')).toBe(false);
  });
});
