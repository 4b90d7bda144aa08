import { describe, expect, it } from 'vitest';
import { chainHash, ruleComment, serviceChainName } from '@hybrid-proxy/iptables';
import type { ServicePort } from '@hybrid-proxy/model';

const port = (key: string, protocol: 'TCP' | 'UDP') => ({ key, protocol }) as ServicePort;

describe('chain names', () => {
  // Names any operator of a kube-proxy cluster has seen: proof the hash is kube-proxy's.
  it.each([
    ['default/kubernetes:https', 'TCP', 'KUBE-SVC-NPX46M4PTMTKRN6Y'],
    ['kube-system/kube-dns:dns', 'UDP', 'KUBE-SVC-TCOU7JCQXEZGVUNU'],
    ['kube-system/kube-dns:dns-tcp', 'TCP', 'KUBE-SVC-ERIFXISQEP7F7OF4'],
    ['kube-system/kube-dns:metrics', 'TCP', 'KUBE-SVC-JD5MR3NA4I4DYORP'],
  ] as const)('%s/%s is %s', (key, protocol, name) => {
    expect(serviceChainName(port(key, protocol))).toBe(name);
  });

  it('hashes to 16 base32 characters', () => {
    expect(chainHash('anything')).toMatch(/^[A-Z2-7]{16}$/);
  });
});

describe('rule comments', () => {
  it.each([
    ['ns/svc:http cluster IP', 'ns/svc:http cluster IP'],
    ['a"b', 'a_b'],
    ['line\n-A INPUT -j ACCEPT', 'line_-A INPUT -j ACCEPT'],
    ['back\\slash', 'back_slash'],
    ['ünïcode', '_n_code'],
  ])('makes %j safe', (text, safe) => expect(ruleComment(text)).toBe(safe));

  it('stays within iptables comment length', () => {
    expect(ruleComment('x'.repeat(1000))).toHaveLength(255);
  });
});
