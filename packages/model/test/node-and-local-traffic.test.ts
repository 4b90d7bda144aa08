import { describe, expect, it } from 'vitest';
import { cidrContains, convertNode, localTrafficMatch, parseCIDR } from '@hybrid-proxy/model';

describe('convertNode', () => {
  it('reads the Pod ranges (spec.podCIDRs, else spec.podCIDR) in canonical form', () => {
    expect(convertNode({ metadata: { name: 'a' }, spec: { podCIDRs: ['198.18.4.0/24', 'FD00:18:4::/64'], podCIDR: '198.18.4.0/24' } })?.podCIDRs).toEqual(['198.18.4.0/24', 'fd00:18:4::/64']);
    expect(convertNode({ metadata: { name: 'a' }, spec: { podCIDR: '198.18.4.0/24' } })?.podCIDRs).toEqual(['198.18.4.0/24']);
    expect(convertNode({ metadata: { name: 'a' }, spec: { podCIDRs: ['nonsense', 7] } })?.podCIDRs).toEqual([]);
  });

  it('marks a node being deleted or tainted by the cluster autoscaler as going away', () => {
    expect(convertNode({ metadata: { name: 'a' } })?.goingAway).toBe(false);
    expect(convertNode({ metadata: { name: 'a' }, spec: { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] } })?.goingAway).toBe(false);
    expect(convertNode({ metadata: { name: 'a' }, spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', value: '1700000000', effect: 'NoSchedule' }] } })?.goingAway).toBe(true);
    expect(convertNode({ metadata: { name: 'a', deletionTimestamp: '2026-12-03T07:00:00Z' } })?.goingAway).toBe(true);
  });
});

describe('CIDRs', () => {
  it.each([
    ['198.18.0.0/15', '198.19.255.255', true],
    ['198.18.0.0/15', '198.20.0.0', false],
    ['198.18.1.7/32', '198.18.1.7', true],
    ['0.0.0.0/0', '198.18.1.7', true],
    ['fd00:18::/64', 'fd00:18::ffff', true],
    ['fd00:18::/64', 'fd00:18:0:1::1', false],
    ['fd00:18::/64', '198.18.0.1', false],
  ])('%s contains %s: %s', (cidr, ip, inside) => expect(cidrContains(cidr, ip)).toBe(inside));

  it('parses canonically and refuses what is not a CIDR', () => {
    expect(parseCIDR(' FD00:18::0/64 ')).toEqual({ cidr: 'fd00:18::/64', family: 6, bits: 64 });
    for (const bad of ['198.18.0.0', '198.18.0.0/33', 'fd00::/129', '198.18.0.0/16/1', 'x/8', 16]) expect(parseCIDR(bad)).toBeUndefined();
  });
});

describe('localTrafficMatch', () => {
  const node = { name: 'a', zone: '', addresses: [], podCIDRs: ['198.18.4.0/24'], goingAway: false };
  it('gives each family its own CIDR, and a family without one nothing', () => {
    const detector = { mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16'] } as const;
    expect(localTrafficMatch(detector, 4)).toEqual({ sourceCIDR: '198.18.0.0/16' });
    expect(localTrafficMatch(detector, 6)).toBeUndefined();
    expect(localTrafficMatch({ mode: 'NodeCIDR' }, 4, node)).toEqual({ sourceCIDR: '198.18.4.0/24' });
    expect(localTrafficMatch({ mode: 'NodeCIDR' }, 6, node)).toBeUndefined();
    expect(localTrafficMatch({ mode: 'NodeCIDR' }, 4)).toBeUndefined();
  });

  it('matches interfaces the same in both families', () => {
    for (const family of [4, 6] as const) {
      expect(localTrafficMatch({ mode: 'BridgeInterface', bridgeInterface: 'cbr0' }, family)).toEqual({ inInterface: 'cbr0' });
      expect(localTrafficMatch({ mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' }, family)).toEqual({ inInterface: 'veth+' });
    }
    expect(localTrafficMatch({ mode: 'None' }, 4)).toBeUndefined();
  });
});
