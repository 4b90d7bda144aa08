import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '@hybrid-proxy/exec';
import { defaultPlannerOptions, gateSetName, hairpinSetName, parseIpsetSave, planDrift, planIptables, type IptablesPlan, type PlannerOptions } from '@hybrid-proxy/iptables';
import { ScaleNode, syntheticCluster, syntheticSlice } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';

const SERVICES = 10_000;
const ENDPOINTS = 10;
const RATE_PER_SECOND = 100;
const SECONDS = 60;
const CLUSTER_CIDR = '198.18.0.0/16';
const FLAGS = { localTraffic: { mode: 'ClusterCIDR', cidrs: [CLUSTER_CIDR] }, serviceCIDRs: ['198.19.0.0/16'] } satisfies Partial<PlannerOptions>;

/**
 * 10,000 Services × 10 endpoints behind the API double, then 100 EndpointSlice updates a second for a minute,
 * each moving a Service's endpoints. The proxy must coalesce them into few syncs and end with exactly the rules
 * and set members of the final objects: read back from the kernel, no update lost.
 */
describe('churn at 10,000 Services (iptables-nft, default layout)', () => {
  const { services, slices } = syntheticCluster(SERVICES, ENDPOINTS);
  let node: ScaleNode;

  beforeAll(async () => {
    node = await ScaleNode.start({
      objects: [...services, ...slices],
      proxyArgs: ['--iptables-variant', 'nft', '--cluster-cidr', CLUSTER_CIDR, '--service-cidr', FLAGS.serviceCIDRs[0]!, '--min-sync-period', '1s'],
    });
    await node.startProxy();
  }, 300_000);
  afterAll(async () => node?.destroy(), 120_000);

  const kernelDrift = async (plan: IptablesPlan): Promise<string[]> => {
    const drift = planDrift(plan, (await runChecked(node.run, 'iptables-nft-save', [])).stdout);
    const sets = parseIpsetSave((await runChecked(node.run, 'ipset', ['save'])).stdout);
    for (const set of plan.ipsets) {
      const have = [...(sets.sets.get(set.name)?.entries ?? [])].sort();
      if (have.join() !== [...set.entries].sort().join()) drift.push(`ipset ${set.name}: ${have.length} members, ${set.entries.length} planned`);
    }
    return drift;
  };

  it('coalesces 6,000 updates into few syncs and converges on the final objects, rules and sets alike', async () => {
    const latest = new Map<number, object>(slices.map((slice, i) => [i, slice]));
    const syncsBefore = node.syncs().length;
    const started = performance.now();
    let sent = 0;
    // 10 updates every 100 ms; each moves one Service's endpoints to a new generation (a real change).
    for (let tick = 0; tick < (SECONDS * RATE_PER_SECOND) / 10; tick++) {
      const batch = Array.from({ length: 10 }, () => {
        const i = (sent * 7919) % SERVICES;
        sent++;
        const slice = syntheticSlice(i, ENDPOINTS, sent);
        latest.set(i, slice);
        return slice;
      });
      await node.api.applyAll(batch);
      const wait = started + (tick + 1) * 100 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    expect(sent).toBe(SECONDS * RATE_PER_SECOND);

    const desired = planIptables(buildSnapshot(services, [...latest.values()]), { ...defaultPlannerOptions, ...FLAGS, family: 4, nodeName: 'scale-node' });
    expect(desired.ipsets.map((s) => s.name)).toEqual([hairpinSetName(4), gateSetName(4)]);
    // A deadline, not a count of reads: one read of 120,000 rules takes seconds, and a real mismatch must fail
    // with its drift well inside the test's timeout.
    const deadline = performance.now() + 60_000;
    let drift = await kernelDrift(desired);
    while (drift.length > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      drift = await kernelDrift(desired);
    }
    expect(drift.slice(0, 10)).toEqual([]);

    const syncs = node.syncs().slice(syncsBefore);
    // Coalesced: about one sync per --min-sync-period (or per sync, when a sync takes longer), never one per update.
    expect(syncs.length).toBeGreaterThan(5);
    expect(syncs.length).toBeLessThan(sent / 20);
    expect(syncs.filter((s) => s.kind === 'partial').length).toBeGreaterThan(0);
    expect(node.proxy!.lines.some((line) => line.includes('"level":"error"'))).toBe(false);
  }, 300_000);
});
