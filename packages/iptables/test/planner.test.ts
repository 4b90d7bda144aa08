import { describe, expect, it } from 'vitest';
import { createPlanMemo, defaultPlannerOptions, planIptables, renderPlan, type PlannerOptions } from '@hybrid-proxy/iptables';
import { buildSnapshot, type IPFamily } from '@hybrid-proxy/model';
import { RuleTracer } from './packet-tracer.js';
import { SCENARIOS } from './scenarios.js';

const options = (family: IPFamily, extra: Partial<PlannerOptions> = {}): PlannerOptions => ({
  ...defaultPlannerOptions,
  family,
  localTraffic: { mode: 'ClusterCIDR', cidrs: [family === 4 ? '198.18.1.0/24' : 'fd00:18:1::/64'] },
  nodeName: 'node-a',
  serviceCIDRs: ['198.19.0.0/16', 'fd00:19::/64'],
  ...extra,
});

/** kube-proxy's own layout, the baseline. */
const KUBE_PROXY_LAYOUT = { dispatch: 'linear', endpointChains: 'per-endpoint' } as const;
/** Every layout the planner writes: the default (gated tree, inline endpoints), the tree with KUBE-SEP chains, kube-proxy's. */
const LAYOUTS = [{ dispatch: 'tree', endpointChains: 'inline' }, { dispatch: 'tree', endpointChains: 'per-endpoint' }, KUBE_PROXY_LAYOUT] as const;

const render = (name: string, family: IPFamily = 4, extra: Partial<PlannerOptions> = {}) => renderPlan(planIptables(SCENARIOS[name]!, options(family, extra)));

describe('golden plans', () => {
  it.each(Object.keys(SCENARIOS))('%s (IPv4)', async (name) => {
    await expect(render(name)).toMatchFileSnapshot(`./golden/${name}.v4.txt`);
  });

  it.each(['dual-stack', 'node-port-dual-stack'])('%s (IPv6)', async (name) => {
    await expect(render(name, 6)).toMatchFileSnapshot(`./golden/${name}.v6.txt`);
  });

  it.each(['node-port', 'external-local', 'source-ranges', 'external-no-endpoints'])('%s in kube-proxy\'s layout (IPv4)', async (name) => {
    await expect(render(name, 4, KUBE_PROXY_LAYOUT)).toMatchFileSnapshot(`./golden/${name}.linear.v4.txt`);
  });

  it('--nodeport-addresses: KUBE-NODEPORTS is reached on the listed addresses only, loopback only on IPv4 with localhost node ports', () => {
    const listed = (family: IPFamily, extra: Partial<PlannerOptions>) => render('node-port-dual-stack', family, extra).split('\n').filter((line) => line.startsWith('-A KUBE-SERVICES') && line.includes('-j KUBE-NODEPORTS'));
    expect(listed(4, { nodePortAddresses: ['127.0.0.1', '198.18.0.1'] })).toEqual([
      '-A KUBE-SERVICES -d 127.0.0.1/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
      '-A KUBE-SERVICES -d 198.18.0.1/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
    ]);
    expect(listed(4, { nodePortAddresses: ['127.0.0.1', '198.18.0.1'], localhostNodePorts: false })).toHaveLength(1);
    expect(listed(6, { nodePortAddresses: ['::1', 'fd00:18::1'] })).toEqual(['-A KUBE-SERVICES -d fd00:18::1/128 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS']);
    expect(listed(4, { localhostNodePorts: false })[0]).toContain('! -d 127.0.0.0/8 ');
    expect(listed(6, {})[0]).toContain('! -d ::1/128 ');
    // route_localnet's guard comes with localhost node ports only.
    expect(render('node-port', 4)).toMatch(/^-A KUBE-LOCALNET-FIREWALL ! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 /m);
    expect(render('node-port', 4, { localhostNodePorts: false })).not.toMatch(/KUBE-LOCALNET-FIREWALL/);
    expect(render('node-port', 6)).not.toMatch(/KUBE-LOCALNET-FIREWALL/);
  });

  it('a node inside the source ranges reaches the LB IP, which loops back as its source', () => {
    const fw = (nodeIP: string) => render('source-ranges', 4, { nodeIP }).split('\n').filter((line) => line.startsWith('-A KUBE-FW-'));
    expect(fw('198.18.60.1')).toHaveLength(3);
    expect(fw('198.18.60.1')[1]).toMatch(/^-A KUBE-FW-\S+ -s 198\.18\.70\.3\/32 /);
    expect(fw('198.18.0.1')).toHaveLength(2);
  });

  it.each(['basic', 'dual-stack'])('%s in kube-proxy\'s layout: linear dispatch, per-endpoint chains (IPv4)', async (name) => {
    await expect(render(name, 4, KUBE_PROXY_LAYOUT)).toMatchFileSnapshot(`./golden/${name}.linear.v4.txt`);
  });

  it('basic with per-endpoint chains under the tree (IPv4)', async () => {
    await expect(render('basic', 4, { endpointChains: 'per-endpoint' })).toMatchFileSnapshot('./golden/basic.per-endpoint.v4.txt');
  });

  it('drops comments above the endpoint threshold, as kube-proxy does in large clusters', () => {
    // Per-Service rules lose them; the handful of fixed rules keep theirs.
    const perService = /^-A KUBE-(SVC|SEP|DISPATCH|SERVICES)\S* (?!-m comment --comment "kubernetes service nodeports).*--comment/m;
    expect(render('basic', 4, { commentsEndpointThreshold: 2 })).not.toMatch(perService);
    expect(render('basic', 4, { commentsEndpointThreshold: 3 })).toMatch(perService);
  });

  it('masquerade-all, masquerade bit 5, without comments', async () => {
    await expect(render('basic', 4, { masqueradeAll: true, masqueradeBit: 5, comments: false, localTraffic: { mode: 'None' } })).toMatchFileSnapshot('./golden/basic-masquerade-all.v4.txt');
  });

  it.each([
    ['bridge', { mode: 'BridgeInterface', bridgeInterface: 'cbr0' }],
    ['interface-prefix', { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' }],
  ] as const)('local traffic detected by %s (IPv4)', async (name, localTraffic) => {
    await expect(render('basic', 4, { localTraffic })).toMatchFileSnapshot(`./golden/basic.local-${name}.v4.txt`);
  });

  it('a family without a cluster CIDR of its own gets no local-traffic detector, never the other family\'s', async () => {
    const v4Only = { localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] } } as const;
    const v6 = render('dual-stack', 6, v4Only);
    expect(v6).not.toMatch(/198\.18/);
    expect(v6).not.toMatch(/KUBE-SVC-\S+ ! -s/);
    await expect(v6).toMatchFileSnapshot('./golden/dual-stack.v4-cidr-only.v6.txt');
    const both = { localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24', 'fd00:18:1::/64'] } } as const;
    expect(render('dual-stack', 6, both)).toMatch(/^-A KUBE-SVC-\S+ ! -s fd00:18:1::\/64 -d fd00:19::45\/128 /m);
    expect(render('dual-stack', 4, both)).toMatch(/^-A KUBE-SVC-\S+ ! -s 198\.18\.1\.0\/24 -d 198\.19\.0\.45\/32 /m);
  });

  it('NodeCIDR takes each family\'s range from the Node object, and none without one', () => {
    const base = SCENARIOS['dual-stack']!;
    const withNode = { ...base, node: { name: 'node-a', zone: '', addresses: [], podCIDRs: ['198.18.1.128/25', 'fd00:18:1:80::/72'], goingAway: false } };
    const plan = (family: IPFamily, snapshot = withNode) => renderPlan(planIptables(snapshot, options(family, { localTraffic: { mode: 'NodeCIDR' } })));
    expect(plan(4)).toMatch(/ ! -s 198\.18\.1\.128\/25 -d 198\.19\.0\.45\/32 /);
    expect(plan(6)).toMatch(/ ! -s fd00:18:1:80::\/72 -d fd00:19::45\/128 /);
    expect(plan(4, base)).not.toMatch(/KUBE-SVC-\S+ ! -s /);
  });

  it.each(Object.keys(SCENARIOS))('%s: no rule jumps to an undefined chain', (name) => {
    for (const layout of LAYOUTS) {
      expect(new RuleTracer(render(name, 4, layout)).undefinedJumps()).toEqual([]);
      expect(new RuleTracer(render(name, 6, layout)).undefinedJumps()).toEqual([]);
    }
  });
});

/** What the rules mean: a new connection from a client outside the Pod CIDR, traced through the planned rules. */
describe('packet flows through the planned rules', () => {
  const client = '198.18.0.2';
  const node = '198.18.0.1';
  const flows: { scenario: string; name: string; destination: string; protocol?: 'tcp' | 'udp'; port: number; backends?: string[]; verdict?: string; masquerade?: number; source?: string; family?: IPFamily; inInterface?: string; localTraffic?: PlannerOptions['localTraffic']; dstLocal?: boolean; srcLocal?: boolean }[] = [
    { scenario: 'node-port', name: 'a node port spreads over every endpoint, masqueraded', destination: node, dstLocal: true, port: 30080, backends: ['198.18.1.1:8080', '198.18.1.2:8080'], masquerade: 1 },
    { scenario: 'node-port', name: 'a node port on 127.0.0.1 from the node itself', source: '127.0.0.1', srcLocal: true, destination: '127.0.0.1', dstLocal: true, port: 30080, backends: ['198.18.1.1:8080', '198.18.1.2:8080'], masquerade: 1 },
    { scenario: 'node-port', name: 'the node port on an address that is not the node\'s is left alone', destination: '198.18.9.9', port: 30080, backends: [] },
    { scenario: 'node-port', name: 'the ClusterIP of a NodePort Service', destination: '198.19.0.50', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080'], masquerade: 1 },
    { scenario: 'external-local', name: 'Local: the LB IP reaches this node\'s endpoint only, source kept', destination: '198.18.70.1', port: 80, backends: ['198.18.1.1:8080'], masquerade: 0 },
    { scenario: 'external-local', name: 'Local: an external IP reaches this node\'s endpoint only, source kept', destination: '198.18.50.1', port: 80, backends: ['198.18.1.1:8080'], masquerade: 0 },
    { scenario: 'external-local', name: 'Local: the node port reaches this node\'s endpoint only, source kept', destination: node, dstLocal: true, port: 30081, backends: ['198.18.1.1:8080'], masquerade: 0 },
    { scenario: 'external-local', name: 'Local: a Pod of this node reaching the LB IP short-circuits to every endpoint', source: '198.18.1.9', destination: '198.18.70.1', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080'], masquerade: 0 },
    { scenario: 'external-local', name: 'Local: the node itself reaching the LB IP uses every endpoint, masqueraded', source: node, srcLocal: true, destination: '198.18.70.1', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080'], masquerade: 1 },
    { scenario: 'external-local', name: 'Local: the ClusterIP still uses every endpoint', destination: '198.19.0.51', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080'], masquerade: 1 },
    { scenario: 'external-local', name: 'a node port of another protocol is left alone', destination: node, dstLocal: true, protocol: 'udp', port: 30081, backends: [] },
    { scenario: 'external-local-none', name: 'Local without a local endpoint: the LB IP drops', destination: '198.18.70.2', port: 80, backends: [], verdict: 'DROP' },
    { scenario: 'external-local-none', name: 'Local without a local endpoint: the node port drops', destination: node, dstLocal: true, port: 30082, backends: [], verdict: 'DROP' },
    { scenario: 'external-local-none', name: 'Local without a local endpoint: the ClusterIP still reaches the other node', destination: '198.19.0.52', port: 80, backends: ['198.18.1.2:8080'] },
    { scenario: 'source-ranges', name: 'a client inside loadBalancerSourceRanges reaches the LB IP', source: '198.18.60.7', destination: '198.18.70.3', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080'], masquerade: 1 },
    { scenario: 'source-ranges', name: 'a client outside loadBalancerSourceRanges is dropped at the LB IP', destination: '198.18.70.3', port: 80, backends: [], verdict: 'DROP' },
    { scenario: 'source-ranges', name: 'the ranges restrict the LB IP, not the node port (kube-proxy)', destination: node, dstLocal: true, port: 30083, backends: ['198.18.1.1:8080', '198.18.1.2:8080'] },
    { scenario: 'external-no-endpoints', name: 'no endpoints: the node port is rejected', destination: node, dstLocal: true, port: 30084, backends: [], verdict: 'REJECT' },
    { scenario: 'external-no-endpoints', name: 'no endpoints: the external IP is rejected', destination: '198.18.50.4', port: 80, backends: [], verdict: 'REJECT' },
    { scenario: 'external-no-endpoints', name: 'no endpoints: the LB IP is rejected', destination: '198.18.70.4', port: 80, backends: [], verdict: 'REJECT' },
    { scenario: 'node-port-dual-stack', family: 6, name: 'IPv6 Local: the LB IP reaches this node\'s endpoint, source kept', source: 'fd00:18::2', destination: 'fd00:18:70::5', port: 80, backends: ['[fd00:18:1::5]:8080'], masquerade: 0 },
    { scenario: 'node-port-dual-stack', family: 6, name: 'IPv6 Local: the node port reaches this node\'s endpoint', source: 'fd00:18::2', destination: 'fd00:18::1', dstLocal: true, port: 30085, backends: ['[fd00:18:1::5]:8080'], masquerade: 0 },
    { scenario: 'node-port-dual-stack', family: 6, name: 'IPv6: no node ports on ::1', source: '::1', srcLocal: true, destination: '::1', dstLocal: true, port: 30085, backends: [] },
    { scenario: 'node-port-dual-stack', name: 'IPv4 Local: the node port reaches this node\'s IPv4 endpoint', destination: node, dstLocal: true, port: 30085, backends: ['198.18.1.5:8080'], masquerade: 0 },
    { scenario: 'basic', name: 'VIP spreads evenly over three endpoints', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 1 },
    { scenario: 'basic', name: 'an unused port on a VIP is rejected', destination: '198.19.0.41', port: 81, backends: [], verdict: 'REJECT' },
    { scenario: 'basic', name: 'an unallocated ClusterIP is rejected', destination: '198.19.7.7', port: 80, backends: [], verdict: 'REJECT' },
    { scenario: 'basic', name: 'an address outside the Service range is left alone', destination: '198.18.9.9', port: 80, backends: [] },
    { scenario: 'basic', name: 'the wrong protocol on a VIP is rejected', destination: '198.19.0.41', protocol: 'udp', port: 80, backends: [], verdict: 'REJECT' },
    { scenario: 'basic', name: 'from inside the Pod CIDR: no masquerade', source: '198.18.1.9', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 0 },
    { scenario: 'basic', name: 'hairpin: a Pod reaching itself is masqueraded', source: '198.18.1.1', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 1 / 3 },
    { scenario: 'basic', name: 'a Pod reaching its own address directly is not masqueraded', source: '198.18.1.1', destination: '198.18.1.1', port: 8080, backends: [], masquerade: 0 },
    { scenario: 'no-endpoints', name: 'TCP without endpoints is rejected', destination: '198.19.0.41', port: 80, backends: [], verdict: 'REJECT' },
    { scenario: 'no-endpoints', name: 'UDP without endpoints is rejected', destination: '198.19.0.42', protocol: 'udp', port: 53, backends: [], verdict: 'REJECT' },
    { scenario: 'session-affinity', name: 'a first connection is spread evenly', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080'] },
    { scenario: 'terminating-fallback', name: 'only the serving terminating endpoint gets traffic', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080'] },
    { scenario: 'internal-local', name: 'Local policy keeps this node\'s endpoints', destination: '198.19.0.43', port: 80, backends: ['198.18.1.1:8080'] },
    { scenario: 'internal-local', name: 'Local policy without local endpoints drops', destination: '198.19.0.44', port: 80, backends: [], verdict: 'DROP' },
    { scenario: 'internal-local-terminating', name: 'Local policy falls back to this node\'s serving-terminating endpoint, not another node\'s ready one', destination: '198.19.0.46', port: 80, backends: ['198.18.1.7:8080'] },
    { scenario: 'dual-stack', name: 'IPv4 VIP goes to IPv4 endpoints', destination: '198.19.0.45', port: 80, backends: ['198.18.1.5:8080'] },
    { scenario: 'basic', name: 'bridge detector: from the Pods\' bridge, no masquerade', inInterface: 'cbr0', source: '198.18.0.2', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 0, localTraffic: { mode: 'BridgeInterface', bridgeInterface: 'cbr0' } },
    { scenario: 'basic', name: 'bridge detector: from elsewhere, masquerade', inInterface: 'eth0', source: '198.18.1.9', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 1, localTraffic: { mode: 'BridgeInterface', bridgeInterface: 'cbr0' } },
    { scenario: 'basic', name: 'prefix detector: from a Pod veth, no masquerade', inInterface: 'veth1234', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 0, localTraffic: { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' } },
    { scenario: 'basic', name: 'prefix detector: from eth0, masquerade', inInterface: 'eth0', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 1, localTraffic: { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' } },
    { scenario: 'dual-stack', family: 6, name: 'IPv6 VIP goes to IPv6 endpoints', source: 'fd00:18::2', destination: 'fd00:19::45', port: 80, backends: ['[fd00:18:1::5]:8080', '[fd00:18:1::6]:8080'], masquerade: 1 },
  ];

  it.each(LAYOUTS.flatMap((layout) => flows.map((flow) => ({ ...flow, layout, layoutName: `${layout.dispatch}/${layout.endpointChains}` }))))('$layoutName, $scenario: $name', (flow) => {
    const tracer = new RuleTracer(render(flow.scenario, flow.family ?? 4, { ...flow.layout, ...(flow.localTraffic ? { localTraffic: flow.localTraffic } : {}) }));
    const trace = tracer.trace({ source: flow.source ?? client, destination: flow.destination, protocol: flow.protocol ?? 'tcp', port: flow.port, inInterface: flow.inInterface, dstLocal: flow.dstLocal, srcLocal: flow.srcLocal });
    expect([...trace.dnat.keys()].sort()).toEqual([...(flow.backends ?? [])].sort());
    for (const p of trace.dnat.values()) expect(p).toBeCloseTo(1 / flow.backends!.length, 6);
    expect(trace.filterVerdict).toBe(flow.verdict);
    if (flow.masquerade !== undefined) expect(trace.masquerade).toBeCloseTo(flow.masquerade, 6);
  });
});

/** The tree at scale: every VIP reaches its own Service through the gate and the goto tree, and nothing else does. */
describe('the dispatch tree at 2,000 Services', () => {
  const services = [];
  const slices = [];
  for (let i = 0; i < 2000; i++) {
    const vip = `198.19.${i >> 8}.${i & 255}`;
    services.push({ kind: 'Service', metadata: { name: `s${i}`, namespace: 'n' }, spec: { clusterIP: vip, clusterIPs: [vip, `fd00:19::${(i + 0x1000).toString(16)}`], ipFamilies: ['IPv4', 'IPv6'], ports: [{ name: 'p', port: 80 + (i % 3), targetPort: 8080 }] } });
    slices.push({ kind: 'EndpointSlice', metadata: { name: `s${i}-4`, namespace: 'n', labels: { 'kubernetes.io/service-name': `s${i}` } }, addressType: 'IPv4', ports: [{ name: 'p', port: 8080 }], endpoints: [{ addresses: [`198.18.${(i >> 8) + 10}.${i & 255}`] }] });
    slices.push({ kind: 'EndpointSlice', metadata: { name: `s${i}-6`, namespace: 'n', labels: { 'kubernetes.io/service-name': `s${i}` } }, addressType: 'IPv6', ports: [{ name: 'p', port: 8080 }], endpoints: [{ addresses: [`fd00:18::${(i + 0x1000).toString(16)}`] }] });
  }
  const snapshot = buildSnapshot(services, slices);

  it.each([4, 6] as const)('IPv%s: 256 leaves of about n/256 rules, each VIP to its own backend, other ports to nothing', (family) => {
    const plan = planIptables(snapshot, options(family));
    const leaves = [...plan.tables.nat.keys()].filter((c) => /^KUBE-DISPATCH-[0-9A-F]{2}$/.test(c));
    expect(leaves).toHaveLength(256);
    expect(Math.max(...leaves.map((c) => plan.tables.nat.get(c)!.length))).toBeLessThanOrEqual(8);
    // The gate alone: KUBE-NODEPORTS is empty, so no rule jumps there (each new connection would pay its route lookup).
    expect(plan.tables.nat.get('KUBE-SERVICES')).toHaveLength(1);
    expect(plan.tables.nat.get('KUBE-NODEPORTS')).toEqual([]);
    const tracer = new RuleTracer(renderPlan(plan));
    for (const i of [0, 1, 15, 16, 255, 256, 1000, 1999]) {
      const vip = family === 4 ? `198.19.${i >> 8}.${i & 255}` : `fd00:19::${(i + 0x1000).toString(16)}`;
      const backend = family === 4 ? `198.18.${(i >> 8) + 10}.${i & 255}:8080` : `[fd00:18::${(i + 0x1000).toString(16)}]:8080`;
      const source = family === 4 ? '198.18.0.2' : 'fd00:18:ff::2';
      expect([...tracer.trace({ source, destination: vip, protocol: 'tcp', port: 80 + (i % 3) }).dnat.keys()]).toEqual([backend]);
      expect(tracer.trace({ source, destination: vip, protocol: 'tcp', port: 80 + ((i + 1) % 3) }).dnat.size).toBe(0);
    }
  });

  it('the same flows as the linear layout, VIP by VIP', () => {
    const tree = new RuleTracer(renderPlan(planIptables(snapshot, options(4))));
    const linear = new RuleTracer(renderPlan(planIptables(snapshot, options(4, KUBE_PROXY_LAYOUT))));
    for (let i = 0; i < 2000; i += 37) {
      const packet = { source: '198.18.0.2', destination: `198.19.${i >> 8}.${i & 255}`, protocol: 'tcp' as const, port: 80 + (i % 3) };
      expect(tree.trace(packet)).toEqual(linear.trace(packet));
    }
  });

  it('re-plans an unchanged Service port to the very same rule arrays (PlanMemo)', () => {
    const memo = createPlanMemo();
    const first = planIptables(snapshot, options(4), memo);
    const again = planIptables(buildSnapshot(services, slices), options(4), memo);
    const chain = [...first.tables.nat.keys()].find((c) => c.startsWith('KUBE-SVC-'))!;
    expect(again.tables.nat.get(chain)).toBe(first.tables.nat.get(chain));
    expect(memo.ports.size).toBe(2000);
  });
});
