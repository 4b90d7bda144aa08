import { describe, expect, it } from 'vitest';
import { conntrackSysctls, parseConntrackList, staleConntrackEntries } from '@hybrid-proxy/core';
import { buildSnapshot } from '@hybrid-proxy/model';

// As `conntrack -L -p udp` and `-p sctp` print them (conntrack-tools 1.4).
const LIST = [
  'udp      17 28 src=198.18.0.2 dst=198.19.1.53 sport=40053 dport=53 src=198.18.1.31 dst=198.18.0.2 sport=5353 dport=40053 mark=0 use=1',
  'udp      17 29 src=198.18.0.2 dst=198.19.1.53 sport=40054 dport=53 src=198.18.1.32 dst=198.18.0.2 sport=5353 dport=40054 mark=0 use=1',
  'udp      17 29 src=198.18.0.2 dst=198.19.1.53 sport=40055 dport=53 [UNREPLIED] src=198.19.1.53 dst=198.18.0.2 sport=53 dport=40055 mark=0 use=1',
  'udp      17 29 src=198.18.0.2 dst=198.18.9.9 sport=40056 dport=53 src=198.18.9.9 dst=198.18.0.2 sport=53 dport=40056 mark=0 use=1',
  'sctp     132 431999 ESTABLISHED src=198.18.0.2 dst=198.19.1.70 sport=5000 dport=7000 src=198.18.1.40 dst=198.18.0.2 sport=7000 dport=5000 [ASSURED] mark=0 use=1',
  'tcp      6 431999 ESTABLISHED src=198.18.0.2 dst=198.19.1.53 sport=5000 dport=53 src=198.18.1.99 dst=198.18.0.2 sport=53 dport=5000 [ASSURED] mark=0 use=1',
].join('\n');

const snapshot = buildSnapshot(
  [
    { kind: 'Service', metadata: { name: 'dns', namespace: 'test' }, spec: { clusterIP: '198.19.1.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] } },
    { kind: 'Service', metadata: { name: 'sig', namespace: 'test' }, spec: { clusterIP: '198.19.1.70', ports: [{ port: 7000, protocol: 'SCTP' }] } },
  ],
  [
    { kind: 'EndpointSlice', metadata: { name: 'dns-1', namespace: 'test', labels: { 'kubernetes.io/service-name': 'dns' } }, addressType: 'IPv4', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: [{ addresses: ['198.18.1.32'] }] },
    { kind: 'EndpointSlice', metadata: { name: 'sig-1', namespace: 'test', labels: { 'kubernetes.io/service-name': 'sig' } }, addressType: 'IPv4', ports: [{ port: 7000, protocol: 'SCTP' }], endpoints: [{ addresses: ['198.18.1.41'] }] },
  ],
);

describe('the conntrack reconciler', () => {
  it('reads the original tuple and the reply source of UDP and SCTP entries, and nothing else', () => {
    const entries = parseConntrackList(LIST, 4);
    expect(entries).toHaveLength(5);
    expect(entries[0]).toEqual({ protocol: 'udp', family: 4, origSrc: '198.18.0.2', origDst: '198.19.1.53', origSport: 40053, origDport: 53, replySrc: '198.18.1.31', replySport: 5353 });
    expect(entries[4]).toMatchObject({ protocol: 'sctp', origDst: '198.19.1.70', replySrc: '198.18.1.40' });
  });

  it('finds the entries to Service ports that no current endpoint answers, and leaves live flows and other traffic alone', () => {
    const stale = staleConntrackEntries(snapshot, parseConntrackList(LIST, 4));
    expect(stale.map((e) => `${e.protocol} ${e.origSport} -> ${e.replySrc}`)).toEqual([
      'udp 40053 -> 198.18.1.31', // its endpoint left the slice while the proxy was down
      'udp 40055 -> 198.19.1.53', // never DNATed (no endpoint then): it must not pin the client to nothing
      'sctp 5000 -> 198.18.1.40',
    ]);
  });
});

describe('conntrackSysctls', () => {
  const defaults = { maxPerCore: 32768, min: 131072, tcpEstablishedTimeoutMs: 86_400_000, tcpCloseWaitTimeoutMs: 3_600_000, tcpBeLiberal: false, udpTimeoutMs: 0, udpStreamTimeoutMs: 0 };

  it('sizes nf_conntrack_max as kube-proxy does (per core, at least min, only raised) and leaves zeroes alone', () => {
    expect(conntrackSysctls(defaults, 2)).toEqual([
      { key: 'net.netfilter.nf_conntrack_max', value: 131072, raiseOnly: true },
      { key: 'net.netfilter.nf_conntrack_tcp_timeout_established', value: 86400, raiseOnly: false },
      { key: 'net.netfilter.nf_conntrack_tcp_timeout_close_wait', value: 3600, raiseOnly: false },
    ]);
    expect(conntrackSysctls(defaults, 16)[0]).toMatchObject({ value: 524288 });
    expect(conntrackSysctls({ ...defaults, maxPerCore: 0, tcpEstablishedTimeoutMs: 0, tcpCloseWaitTimeoutMs: 0, udpTimeoutMs: 30_000, tcpBeLiberal: true }, 2)).toEqual([
      { key: 'net.netfilter.nf_conntrack_udp_timeout', value: 30, raiseOnly: false },
      { key: 'net.netfilter.nf_conntrack_tcp_be_liberal', value: 1, raiseOnly: false },
    ]);
  });
});
