import { describe, expect, it } from 'vitest';
import { realServerLine, savedDigest, serversDigest, virtualServerLine, type VirtualServer } from '@hybrid-proxy/ipvs';

const vs = (address: string, reals: [string, number][]): VirtualServer => ({
  protocol: 'tcp',
  address,
  port: 80,
  scheduler: 'rr',
  persistence: 0,
  service: 'ns/web:http',
  reals: reals.map(([ip, weight]) => ({ address: ip, port: 8080, weight })),
});
const applied = [vs('198.19.0.1', [['198.18.1.1', 1], ['198.18.1.2', 1]]), vs('198.19.0.2', [['198.18.1.3', 1]])];
/** ipvsadm-save -n as the kernel would print `servers`, in its own order, with someone else's server beside ours. */
const save = (servers: readonly VirtualServer[]) =>
  [...servers]
    .reverse()
    .flatMap((server) => [virtualServerLine(server), ...[...server.reals].reverse().map((real) => realServerLine(server, real))])
    .concat(['-A -t 203.0.113.9:443 -s wlc', '-a -t 203.0.113.9:443 -r 203.0.113.10:443 -g -w 1'])
    .join('\n');
const ours = (server: { address: string }) => server.address.startsWith('198.19.');

describe('the digest lostState compares', () => {
  it('is the same for the applied servers and the kernel holding them, in any order, whatever else it holds', () => {
    expect(savedDigest(save(applied), ours).equals(serversDigest(applied))).toBe(true);
  });

  it.each([
    ['a real server gone', [vs('198.19.0.1', [['198.18.1.1', 1]]), applied[1]!]],
    ['a weight changed', [vs('198.19.0.1', [['198.18.1.1', 1], ['198.18.1.2', 0]]), applied[1]!]],
    ['a virtual server gone', [applied[0]!]],
    ['a real server swapped for another', [vs('198.19.0.1', [['198.18.1.1', 1], ['198.18.1.9', 1]]), applied[1]!]],
    ['another scheduler', [{ ...applied[0]!, scheduler: 'lc' as const }, applied[1]!]],
  ])('tells %s', (_what, kernel) => {
    expect(savedDigest(save(kernel as VirtualServer[]), ours).equals(serversDigest(applied))).toBe(false);
  });
});
