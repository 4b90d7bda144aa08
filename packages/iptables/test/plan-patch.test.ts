import { describe, expect, it } from 'vitest';
import { createPlanMemo, defaultPlannerOptions, planIptables, type IptablesPlan, type PlannerOptions } from '@hybrid-proxy/iptables';
import { convertEndpointSlice, convertService, SnapshotAssembler, type EndpointSliceDef, type IPFamily, type ServiceDef } from '@hybrid-proxy/model';

/**
 * With tree dispatch, planIptables patches the last plan for the Service ports that changed. Whatever the change,
 * the patched plan must hold exactly what planning the same snapshot afresh holds.
 */
const options = (family: IPFamily, endpointChains: 'inline' | 'per-endpoint'): PlannerOptions => ({
  ...defaultPlannerOptions,
  family,
  dispatch: 'tree',
  endpointChains,
  localTraffic: { mode: 'ClusterCIDR', cidrs: [family === 4 ? '198.18.0.0/16' : 'fd00:18::/64'] },
  nodeName: 'node-a',
  serviceCIDRs: ['198.19.0.0/16', 'fd00:19::/64'],
  // The walk's endpoint count moves around this, so comments come and go (kube-proxy's large-cluster mode).
  commentsEndpointThreshold: 12,
});

const vip = (family: IPFamily, byte: number, s: number) => (family === 4 ? `198.19.${s}.${byte}` : `fd00:19::${s.toString(16)}:${byte.toString(16)}`);
const podIP = (family: IPFamily, n: number) => (family === 4 ? `198.18.${n >> 8}.${n & 255}` : `fd00:18::${n.toString(16)}`);

/** The plan as comparable data: chain order is not part of a plan's meaning, rule order within a chain is. */
function contents(plan: IptablesPlan) {
  const sorted = (m: ReadonlyMap<string, unknown>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    filter: sorted(plan.tables.filter),
    nat: sorted(plan.tables.nat),
    jumps: plan.jumps,
    ipsets: plan.ipsets.map((s) => ({ name: s.name, type: s.type, entries: [...s.entries].sort(), groups: sorted(s.groups ?? new Map()) })),
  };
}

describe('planIptables patches the last plan (tree dispatch)', () => {
  const cases = [4, 6].flatMap((family) => (['inline', 'per-endpoint'] as const).map((chains) => [family as IPFamily, chains] as const));
  it.each(cases)('IPv%s, %s endpoints: 400 random changes, each patched plan equal to a fresh one', (family, chains) => {
    // xorshift32: a seeded, repeatable walk.
    let state = family * 7 + chains.length;
    const random = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const assembler = new SnapshotAssembler();
    const memo = createPlanMemo();
    const opts = options(family, chains);
    // Few VIP bytes, so leaves fill, empty and appear; some Services share a leaf.
    const setService = (s: number) => {
      const byte = [1, 17, 33, 200, 201][random(5)]!;
      // External traffic too: node ports that share, fill and empty node-port leaves, external and LB IPs, policies.
      const external = random(2) === 0;
      const nodePort = external ? { nodePort: [30000, 30001, 30017, 30300, 31000][random(5)] } : {};
      const spec = external
        ? { type: 'LoadBalancer', externalTrafficPolicy: random(2) ? 'Local' : 'Cluster', ...(random(2) ? { externalIPs: [vip(family, [1, 17, 99][random(3)]!, 250)] } : {}), ...(random(3) === 0 ? { loadBalancerSourceRanges: [family === 4 ? '198.18.60.0/24' : 'fd00:18:60::/64'] } : {}) }
        : {};
      const status = external && random(2) ? { loadBalancer: { ingress: [{ ip: vip(family, [33, 200][random(2)]!, 251) }] } } : undefined;
      const raw = { metadata: { name: `s${s}`, namespace: 'ns' }, spec: { clusterIP: vip(family, byte, s), clusterIPs: [vip(family, byte, s)], ipFamilies: [family === 4 ? 'IPv4' : 'IPv6'], ports: [{ name: 'p', port: 80 + random(2), targetPort: 8080, protocol: random(3) === 0 ? 'UDP' : 'TCP', ...nodePort }], ...(random(5) === 0 ? { sessionAffinity: 'ClientIP' } : {}), ...spec }, ...(status ? { status } : {}) };
      assembler.setService(`ns/s${s}`, convertService(raw).value as ServiceDef);
    };
    const setSlice = (s: number) => {
      const endpoints = Array.from({ length: random(4) }, () => ({ addresses: [podIP(family, random(300))], conditions: { ready: random(6) !== 0 }, nodeName: random(2) ? 'node-a' : 'node-b' }));
      const raw = { metadata: { name: `s${s}-x`, namespace: 'ns', labels: { 'kubernetes.io/service-name': `s${s}` } }, addressType: family === 4 ? 'IPv4' : 'IPv6', ports: [{ name: 'p', port: 8080, protocol: 'TCP' }, { name: 'p', port: 8080, protocol: 'UDP' }], endpoints };
      assembler.setSlice(`ns/s${s}-x`, convertEndpointSlice(raw).value as EndpointSliceDef);
    };
    for (let s = 0; s < 6; s++) {
      setService(s);
      setSlice(s);
    }
    planIptables(assembler.snapshot(), opts, memo);
    let patchedSome = false;
    let nodePortLeaves = 0;
    for (let step = 0; step < 400; step++) {
      const s = random(8);
      switch (random(5)) {
        case 0:
          setService(s);
          break;
        case 1:
          assembler.setService(`ns/s${s}`, undefined);
          break;
        case 2:
          assembler.setSlice(`ns/s${s}-x`, undefined);
          break;
        default:
          setSlice(s);
      }
      const snapshot = assembler.snapshot();
      const before = memo.last?.plan;
      const plan = planIptables(snapshot, opts, memo);
      expect(contents(plan)).toEqual(contents(planIptables(snapshot, opts)));
      nodePortLeaves = Math.max(nodePortLeaves, [...plan.tables.nat.keys()].filter((name) => /^KUBE-NODEPORTS-(TCP|UDP)-[0-9A-F]{3}$/.test(name)).length);
      // A patch keeps the arrays of unchanged chains (the executor compares them by identity).
      if (before && plan !== before && [...plan.tables.nat].some(([name, rules]) => name.startsWith('KUBE-SVC-') && before.tables.nat.get(name) === rules)) patchedSome = true;
    }
    expect(patchedSome).toBe(true);
    expect(nodePortLeaves).toBeGreaterThan(1);
  });
});
