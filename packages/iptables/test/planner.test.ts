import { describe, expect, it } from 'vitest';
import { defaultPlannerOptions, planIptables, renderPlan, type PlannerOptions } from '@hybrid-proxy/iptables';
import type { IPFamily } from '@hybrid-proxy/model';
import { RuleTracer } from './packet-tracer.js';
import { SCENARIOS } from './scenarios.js';

const options = (family: IPFamily, extra: Partial<PlannerOptions> = {}): PlannerOptions => ({
  ...defaultPlannerOptions,
  family,
  clusterCIDR: family === 4 ? '198.18.1.0/24' : 'fd00:18:1::/64',
  nodeName: 'node-a',
  serviceCIDRs: ['198.19.0.0/16', 'fd00:19::/64'],
  ...extra,
});

const render = (name: string, family: IPFamily = 4, extra: Partial<PlannerOptions> = {}) => renderPlan(planIptables(SCENARIOS[name]!, options(family, extra)));

describe('golden plans', () => {
  it.each(Object.keys(SCENARIOS))('%s (IPv4)', async (name) => {
    await expect(render(name)).toMatchFileSnapshot(`./golden/${name}.v4.txt`);
  });

  it('dual-stack (IPv6)', async () => {
    await expect(render('dual-stack', 6)).toMatchFileSnapshot('./golden/dual-stack.v6.txt');
  });

  it('masquerade-all, masquerade bit 5, without comments', async () => {
    await expect(render('basic', 4, { masqueradeAll: true, masqueradeBit: 5, comments: false, clusterCIDR: '' })).toMatchFileSnapshot('./golden/basic-masquerade-all.v4.txt');
  });

  it.each(Object.keys(SCENARIOS))('%s: no rule jumps to an undefined chain', (name) => {
    expect(new RuleTracer(render(name)).undefinedJumps()).toEqual([]);
    expect(new RuleTracer(render(name, 6)).undefinedJumps()).toEqual([]);
  });
});

/** What the rules mean: a new connection from a client outside the Pod CIDR, traced through the planned rules. */
describe('packet flows through the planned rules', () => {
  const client = '198.18.0.2';
  const flows: { scenario: string; name: string; destination: string; protocol?: 'tcp' | 'udp'; port: number; backends?: string[]; verdict?: string; masquerade?: number; source?: string; family?: IPFamily }[] = [
    { scenario: 'basic', name: 'VIP spreads evenly over three endpoints', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 1 },
    { scenario: 'basic', name: 'an unused port on a VIP is rejected', destination: '198.19.0.41', port: 81, backends: [], verdict: 'REJECT' },
    { scenario: 'basic', name: 'an unallocated ClusterIP is rejected', destination: '198.19.7.7', port: 80, backends: [], verdict: 'REJECT' },
    { scenario: 'basic', name: 'an address outside the Service range is left alone', destination: '198.18.9.9', port: 80, backends: [] },
    { scenario: 'basic', name: 'the wrong protocol on a VIP is rejected', destination: '198.19.0.41', protocol: 'udp', port: 80, backends: [], verdict: 'REJECT' },
    { scenario: 'basic', name: 'from inside the Pod CIDR: no masquerade', source: '198.18.1.9', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 0 },
    { scenario: 'basic', name: 'hairpin: a Pod reaching itself is masqueraded', source: '198.18.1.1', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080', '198.18.1.3:8080'], masquerade: 1 / 3 },
    { scenario: 'no-endpoints', name: 'TCP without endpoints is rejected', destination: '198.19.0.41', port: 80, backends: [], verdict: 'REJECT' },
    { scenario: 'no-endpoints', name: 'UDP without endpoints is rejected', destination: '198.19.0.42', protocol: 'udp', port: 53, backends: [], verdict: 'REJECT' },
    { scenario: 'session-affinity', name: 'a first connection is spread evenly', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080', '198.18.1.2:8080'] },
    { scenario: 'terminating-fallback', name: 'only the serving terminating endpoint gets traffic', destination: '198.19.0.41', port: 80, backends: ['198.18.1.1:8080'] },
    { scenario: 'internal-local', name: 'Local policy keeps this node\'s endpoints', destination: '198.19.0.43', port: 80, backends: ['198.18.1.1:8080'] },
    { scenario: 'internal-local', name: 'Local policy without local endpoints drops', destination: '198.19.0.44', port: 80, backends: [], verdict: 'DROP' },
    { scenario: 'dual-stack', name: 'IPv4 VIP goes to IPv4 endpoints', destination: '198.19.0.45', port: 80, backends: ['198.18.1.5:8080'] },
    { scenario: 'dual-stack', family: 6, name: 'IPv6 VIP goes to IPv6 endpoints', source: 'fd00:18::2', destination: 'fd00:19::45', port: 80, backends: ['[fd00:18:1::5]:8080', '[fd00:18:1::6]:8080'], masquerade: 1 },
  ];

  it.each(flows)('$scenario: $name', (flow) => {
    const tracer = new RuleTracer(render(flow.scenario, flow.family ?? 4));
    const trace = tracer.trace({ source: flow.source ?? client, destination: flow.destination, protocol: flow.protocol ?? 'tcp', port: flow.port });
    expect([...trace.dnat.keys()].sort()).toEqual([...(flow.backends ?? [])].sort());
    for (const p of trace.dnat.values()) expect(p).toBeCloseTo(1 / flow.backends!.length, 6);
    expect(trace.filterVerdict).toBe(flow.verdict);
    if (flow.masquerade !== undefined) expect(trace.masquerade).toBeCloseTo(flow.masquerade, 6);
  });
});
