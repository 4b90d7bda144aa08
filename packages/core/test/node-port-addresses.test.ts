import { describe, expect, it } from 'vitest';
import { ipvsNodePortAddresses, resolveNodePortAddresses } from '@hybrid-proxy/core';

const LOCAL = ['127.0.0.1', '198.18.0.2', '198.18.7.1', '::1', 'fd00:18::2'];

describe('resolveNodePortAddresses (--nodeport-addresses)', () => {
  it('is all local addresses when empty or when it names all', () => {
    expect(resolveNodePortAddresses([], 4, LOCAL, [])).toBe('all');
    expect(resolveNodePortAddresses(['198.18.0.0/24', 'all'], 6, LOCAL, [])).toBe('all');
  });

  it("selects the node's addresses inside each CIDR, per family", () => {
    expect(resolveNodePortAddresses(['198.18.0.0/16', 'fd00::/8'], 4, LOCAL, [])).toEqual(['198.18.0.2', '198.18.7.1']);
    expect(resolveNodePortAddresses(['198.18.0.0/16', 'fd00::/8'], 6, LOCAL, [])).toEqual(['fd00:18::2']);
  });

  it('understands primary (the Node object addresses) and localhost', () => {
    expect(resolveNodePortAddresses(['primary', 'localhost'], 4, LOCAL, ['198.18.7.1', 'fd00:18::2'])).toEqual(['127.0.0.1', '198.18.7.1']);
    expect(resolveNodePortAddresses(['primary', 'localhost'], 6, LOCAL, ['198.18.7.1', 'fd00:18::2'])).toEqual(['::1', 'fd00:18::2']);
  });

  it('is an empty list, not all, when the CIDRs select nothing on this node', () => {
    expect(resolveNodePortAddresses(['198.19.200.0/24'], 4, LOCAL, [])).toEqual([]);
  });
});

describe('ipvsNodePortAddresses', () => {
  const local = [...LOCAL, 'fe80::1'];
  it('serves every local address of the family for all, but loopback and link-local, as kube-proxy does', () => {
    expect(ipvsNodePortAddresses('all', local, 4)).toEqual(['198.18.0.2', '198.18.7.1']);
    expect(ipvsNodePortAddresses('all', local, 6)).toEqual(['fd00:18::2']);
  });
  it('drops localhost from a resolved list: IPVS does not serve node ports on loopback', () => {
    expect(ipvsNodePortAddresses(['127.0.0.1', '198.18.7.1'], local, 4)).toEqual(['198.18.7.1']);
  });
});
