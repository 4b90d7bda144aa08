import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { defaultPlannerOptions, IptablesExecutor, planDrift, planIptables } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, namespacePrefix } from '@hybrid-proxy/lab';
import type { IPFamily, LocalTrafficDetector } from '@hybrid-proxy/model';
import { SCENARIOS } from './scenarios.js';

const DETECTORS: readonly (readonly [string, LocalTrafficDetector])[] = [
  ['a cluster CIDR per family', { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24', 'fd00:18:1::/64'] }],
  // One family's CIDR only: the other family's input must still be accepted.
  ['an IPv4 cluster CIDR only', { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] }],
  ['a bridge', { mode: 'BridgeInterface', bridgeInterface: 'cbr0' }],
  ['an interface name prefix', { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' }],
];

describe.each(['nft', 'legacy'] as const)('local-traffic detectors on a real kernel (iptables-%s)', (variant) => {
  let ns: string;
  let run: CommandRunner;
  beforeAll(async () => {
    ns = `${namespacePrefix()}-local`;
    run = await addNamespace(ns);
  });
  afterAll(async () => deleteNamespace(ns));

  it.each(DETECTORS.flatMap(([name, localTraffic]) => ([4, 6] as IPFamily[]).map((family) => ({ localTraffic, family, name }))))('IPv$family, local by $name: applied and read back exactly as planned', async ({ localTraffic, family }) => {
    const executor = new IptablesExecutor({ runner: run, family, variant });
    const plan = planIptables(SCENARIOS['dual-stack']!, { ...defaultPlannerOptions, family, localTraffic });
    await executor.apply(plan, { full: true });
    const save = (await runChecked(run, `ip${family === 6 ? '6' : ''}tables-${variant}-save`, [])).stdout;
    expect(planDrift(plan, save)).toEqual([]);
    await executor.cleanup();
  });
});
