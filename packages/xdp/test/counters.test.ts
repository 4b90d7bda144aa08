import { describe, expect, it } from 'vitest';
import { flowKey, flowTargets, keyHex, planIndex, RateWindow, readU64, sumPerCpu } from '@hybrid-proxy/xdp';
import { buildSnapshot } from '@hybrid-proxy/model';

describe('flow keys mirror struct hp_flow_key', () => {
  it('maps IPv4 into IPv6 and puts the port in network order', () => {
    expect(keyHex(flowKey('198.19.0.10', 80, 'TCP'))).toBe('00 00 00 00 00 00 00 00 00 00 ff ff c6 13 00 0a 00 50 06 00');
  });

  it('writes IPv6 as it is, and UDP and SCTP protocol numbers', () => {
    expect(keyHex(flowKey('fd00:19::a', 53, 'UDP'))).toBe('fd 00 00 19 00 00 00 00 00 00 00 00 00 00 00 0a 00 35 11 00');
    expect(keyHex(flowKey('FD00:19:0::A', 53, 'UDP'))).toBe(keyHex(flowKey('fd00:19::a', 53, 'UDP')));
    expect(flowKey('198.19.0.1', 9, 'SCTP')[18]).toBe(132);
  });
});

describe('counter values', () => {
  it('reads little-endian u64 beyond 2^53 exactly', () => {
    const bytes = Uint8Array.from([0x01, 0, 0, 0, 0, 0, 0x20, 0x00]);
    expect(readU64(bytes, 0)).toBe(2n ** 53n + 1n);
  });

  it('sums per-CPU values as BigInt', () => {
    const cpu = (packets: bigint, bytes: bigint) => ({
      value: [...Array.from({ length: 8 }, (_, i) => `0x${((packets >> BigInt(8 * i)) & 0xffn).toString(16)}`), ...Array.from({ length: 8 }, (_, i) => `0x${((bytes >> BigInt(8 * i)) & 0xffn).toString(16)}`)],
    });
    expect(sumPerCpu([cpu(2n ** 60n, 5n), cpu(3n, 2n ** 62n)])).toEqual({ packets: 2n ** 60n + 3n, bytes: 2n ** 62n + 5n });
  });
});

describe('planIndex', () => {
  it('keeps the slots of flows that stay, reuses freed slots lowest first, and reports overflow', () => {
    const current = new Map([['a', 1], ['b', 2], ['c', 3]]);
    const plan = planIndex(current, ['a', 'c', 'd', 'e', 'f'], 4);
    expect(plan.remove).toEqual(['b']);
    expect(plan.add).toEqual([['d', 2], ['e', 4]]);
    expect(plan.overflow).toEqual(['f']);
    expect(Object.fromEntries(plan.slots)).toEqual({ a: 1, c: 3, d: 2, e: 4 });
  });

  it('drops entries that point at the miss slot or past the capacity (a changed program)', () => {
    const plan = planIndex(new Map([['a', 0], ['b', 99]]), ['a', 'b'], 4);
    expect(plan.remove).toEqual(['a', 'b']);
    expect(plan.add).toEqual([['a', 1], ['b', 2]]);
  });
});

describe('flowTargets', () => {
  it('counts cluster and external IPs as VIPs, and each endpoint once with every Service port it backs', () => {
    const snapshot = buildSnapshot(
      [
        { kind: 'Service', metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: '198.19.0.1', externalIPs: ['198.18.9.9'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
        { kind: 'Service', metadata: { name: 'alt', namespace: 'ns' }, spec: { clusterIP: '198.19.0.2', ports: [{ port: 8080 }] } },
      ],
      [
        { kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['198.18.1.1'] }] },
        { kind: 'EndpointSlice', metadata: { name: 'alt-1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'alt' } }, addressType: 'IPv4', ports: [{ port: 8080 }], endpoints: [{ addresses: ['198.18.1.1'] }] },
      ],
    );
    const targets = flowTargets(snapshot);
    expect(targets.vips.size).toBe(3);
    expect(targets.vips.get(keyHex(flowKey('198.18.9.9', 80, 'TCP')))).toEqual({ namespace: 'ns', service: 'web', port: 'http', protocol: 'TCP' });
    const shared = targets.backends.get(keyHex(flowKey('198.18.1.1', 8080, 'TCP')))!;
    expect(shared.map((l) => `${l.service}:${l.port} ${l.endpoint}`).sort()).toEqual(['alt:8080 198.18.1.1:8080', 'web:http 198.18.1.1:8080']);
  });
});

describe('RateWindow', () => {
  it('computes per-second rates over the window and restarts when a counter goes back', () => {
    const w = new RateWindow(10_000);
    w.add('x', 0, 0n);
    w.add('x', 2000, 400n);
    expect(w.rate('x')).toBe(200);
    w.add('x', 3000, 10n);
    expect(w.rate('x')).toBe(0);
    w.add('x', 4000, 110n);
    expect(w.rate('x')).toBe(100);
  });
});
