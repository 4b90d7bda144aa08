import { describe, expect, it } from 'vitest';
import { inCIDR, RuleTracer } from './packet-tracer.js';

const packet = { source: '198.18.0.2', destination: '198.19.0.1', protocol: 'tcp', port: 80 } as const;

describe('the packet tracer itself', () => {
  it('matches CIDRs in both families', () => {
    expect(inCIDR('198.18.1.7', '198.18.1.0/24')).toBe(true);
    expect(inCIDR('198.18.2.7', '198.18.1.0/24')).toBe(false);
    expect(inCIDR('fd00:18:1::5', 'fd00:18:1::/64')).toBe(true);
    expect(inCIDR('fd00:18:2::5', 'fd00:18:1::/64')).toBe(false);
    expect(inCIDR('198.18.1.7', 'fd00::/8')).toBe(false);
  });

  it('matches non-contiguous masks in address form, as the dispatch tree writes them', () => {
    expect(inCIDR('198.19.3.37', '0.0.0.5/0.0.0.15')).toBe(true); // 37 = 0x25
    expect(inCIDR('198.19.3.37', '0.0.0.32/0.0.0.240')).toBe(true);
    expect(inCIDR('198.19.3.38', '0.0.0.5/0.0.0.15')).toBe(false);
    expect(inCIDR('fd00:19::a5', '::5/::f')).toBe(true);
    expect(inCIDR('fd00:19::a5', '::a0/::f0')).toBe(true);
    expect(inCIDR('fd00:19::b5', '::a0/::f0')).toBe(false);
  });

  it('a goto returns to the caller of the chain it was taken from', () => {
    const tracer = new RuleTracer(['*nat', ':KUBE-SERVICES - [0:0]', ':A - [0:0]', ':B - [0:0]',
      '-A KUBE-SERVICES -j A', '-A KUBE-SERVICES -j DNAT --to-destination 198.18.1.9:1',
      '-A A -g B', '-A A -j DNAT --to-destination 198.18.1.2:1', 'COMMIT', ''].join('\n'));
    expect([...tracer.trace(packet).dnat.keys()]).toEqual(['198.18.1.9:1']);
  });

  it('matches dst,dst sets against the members renderPlan lists', () => {
    const rules = (member: string) => [`# ipset create G hash:ip,port family inet`, `# ipset add G ${member}`, '*nat', ':KUBE-SERVICES - [0:0]',
      '-A KUBE-SERVICES -m set --match-set G dst,dst -j DNAT --to-destination 198.18.1.1:1', 'COMMIT', ''].join('\n');
    expect(new RuleTracer(rules('198.19.0.1,tcp:80')).trace(packet).dnat.size).toBe(1);
    expect(new RuleTracer(rules('198.19.0.1,udp:80')).trace(packet).dnat.size).toBe(0);
    expect(new RuleTracer(rules('198.19.0.1,tcp:81')).trace(packet).dnat.size).toBe(0);
  });

  it('splits weight by statistic probabilities and follows jumps', () => {
    const tracer = new RuleTracer(['*nat', ':KUBE-SERVICES - [0:0]', ':A - [0:0]',
      '-A KUBE-SERVICES -d 198.19.0.1/32 -p tcp -m tcp --dport 80 -j A',
      '-A A -m statistic --mode random --probability 0.25 -j DNAT --to-destination 198.18.1.1:1',
      '-A A -j DNAT --to-destination 198.18.1.2:1', 'COMMIT', ''].join('\n'));
    const trace = tracer.trace(packet);
    expect(trace.dnat.get('198.18.1.1:1')).toBeCloseTo(0.25);
    expect(trace.dnat.get('198.18.1.2:1')).toBeCloseTo(0.75);
  });

  it('returns from a chain at its end, and a goto does not come back', () => {
    const tracer = new RuleTracer(['*nat', ':KUBE-SERVICES - [0:0]', ':A - [0:0]', ':B - [0:0]',
      '-A KUBE-SERVICES -j A', '-A KUBE-SERVICES -j DNAT --to-destination 198.18.1.9:1',
      '-A A -d 198.19.0.2/32 -j DNAT --to-destination 198.18.1.2:1',
      'COMMIT', ''].join('\n'));
    expect([...tracer.trace(packet).dnat.keys()]).toEqual(['198.18.1.9:1']);
    const gotoTracer = new RuleTracer(['*nat', ':KUBE-SERVICES - [0:0]', ':B - [0:0]', '-A KUBE-SERVICES -g B', '-A KUBE-SERVICES -j DNAT --to-destination 198.18.1.9:1', 'COMMIT', ''].join('\n'));
    expect(gotoTracer.trace(packet).dnat.size).toBe(0);
  });

  it('evaluates the filter table on the DNATed destination', () => {
    const tracer = new RuleTracer(['*filter', ':KUBE-SERVICES - [0:0]', '-A KUBE-SERVICES -d 198.19.0.0/16 -j REJECT', 'COMMIT',
      '*nat', ':KUBE-SERVICES - [0:0]', '-A KUBE-SERVICES -d 198.19.0.1/32 -j DNAT --to-destination 198.18.1.1:80', 'COMMIT', ''].join('\n'));
    expect(tracer.trace(packet).filterVerdict).toBeUndefined();
    expect(tracer.trace({ ...packet, destination: '198.19.0.2' }).filterVerdict).toBe('REJECT');
  });

  it('refuses rules it does not understand instead of guessing', () => {
    const tracer = new RuleTracer(['*nat', ':KUBE-SERVICES - [0:0]', '-A KUBE-SERVICES -m set --match-set X dst -j ACCEPT', 'COMMIT', ''].join('\n'));
    expect(() => tracer.trace(packet)).toThrow(/unsupported set match/);
    const owner = new RuleTracer(['*nat', ':KUBE-SERVICES - [0:0]', '-A KUBE-SERVICES -m owner --uid-owner 0 -j ACCEPT', 'COMMIT', ''].join('\n'));
    expect(() => owner.trace(packet)).toThrow(/unsupported match module owner/);
  });

  it('finds jumps to undefined chains', () => {
    const tracer = new RuleTracer(['*nat', ':KUBE-SERVICES - [0:0]', '-A KUBE-SERVICES -j KUBE-SVC-MISSING', 'COMMIT', ''].join('\n'));
    expect(tracer.undefinedJumps()).toEqual(['nat:KUBE-SVC-MISSING']);
  });
});
