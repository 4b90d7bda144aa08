import { describe, expect, it } from 'vitest';
import { canonicalRule, defaultPlannerOptions, planDrift, planIptables, renderPlan } from '@hybrid-proxy/iptables';
import { SCENARIOS } from './scenarios.js';

describe('reading the kernel back', () => {
  it.each([
    // planned, then as iptables-save (nft and legacy alike) prints it
    ['-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000', '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000'],
    ['-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000', '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0'],
    ['-A KUBE-SEP-X -s 198.18.1.4/32 -m comment --comment n/b:p -j KUBE-MARK-MASQ', '-A KUBE-SEP-X -s 198.18.1.4/32 -m comment --comment "n/b:p" -j KUBE-MARK-MASQ'],
    ['-A KUBE-SVC-X -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-Y', '-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-Y'],
    ['-A KUBE-SERVICES -d 198.19.0.0/16 -j REJECT', '-A KUBE-SERVICES -d 198.19.0.0/16 -j REJECT --reject-with icmp-port-unreachable'],
  ])('%s reads back as %s', (planned, saved) => {
    expect(canonicalRule(planned, 4)).toBe(canonicalRule(saved, 4));
  });

  it('tells a real difference apart: another probability, another mark, another comment', () => {
    expect(canonicalRule('-A A -m statistic --mode random --probability 0.3333333333 -j B', 4)).not.toBe(canonicalRule('-A A -m statistic --mode random --probability 0.33333334 -j B', 4));
    expect(canonicalRule('-A A -j MARK --or-mark 0x4000', 4)).not.toBe(canonicalRule('-A A -j MARK --set-xmark 0x4000/0x0', 4));
    expect(canonicalRule('-A A -m comment --comment x -j B', 4)).not.toBe(canonicalRule('-A A -m comment --comment y -j B', 4));
  });

  it('planDrift is empty for the plan itself and names a changed, missing or foreign chain', () => {
    const plan = planIptables(SCENARIOS['basic']!, { ...defaultPlannerOptions, family: 4, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] } });
    const saved = renderPlan(plan);
    expect(planDrift(plan, saved)).toEqual([]);
    const dnat = saved.split('\n').find((l) => l.includes('-j DNAT'))!;
    expect(planDrift(plan, saved.replace(dnat, dnat.replace(/:8080$/, ':9090')))).toEqual([expect.stringMatching(/^nat KUBE-SVC-\w+: .*198\.18\.1\.1:8080$/)]);
    expect(planDrift(plan, saved.replace(/^:KUBE-DISPATCH-92 .*\n/m, '').replace(/^-A KUBE-DISPATCH-92 .*\n/m, ''))).toEqual(['nat KUBE-DISPATCH-92: missing']);
    expect(planDrift(plan, saved.replace('*nat\n', '*nat\n:KUBE-SVC-STALE - [0:0]\n'))).toEqual(['nat KUBE-SVC-STALE: not planned']);
  });
});
