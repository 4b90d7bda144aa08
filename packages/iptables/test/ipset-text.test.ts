import { describe, expect, it } from 'vitest';
import { ipsetChanges, ipsetSteps, parseIpsetSave, savedIpsetsOf } from '@hybrid-proxy/iptables';

const saved = parseIpsetSave('create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 comment\nadd KUBE-CLUSTER-IP 198.19.0.10,tcp:80\nadd KUBE-CLUSTER-IP 198.19.0.11,tcp:80\n');
const desired = [
  { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port family inet', comment: '', entries: ['198.19.0.10,tcp:80', '198.19.0.12,tcp:80'] },
  { name: 'KUBE-IPVS-IPS', type: 'hash:ip family inet', comment: '', entries: ['198.19.0.10'] },
];

describe('ipset changes', () => {
  it('creates missing sets before the rules change, and changes members after it, in one call', () => {
    expect(ipsetSteps(saved, desired)).toEqual({
      before: ['create KUBE-IPVS-IPS hash:ip family inet comment'],
      after: ['del KUBE-CLUSTER-IP 198.19.0.11,tcp:80', 'add KUBE-CLUSTER-IP 198.19.0.12,tcp:80', 'add KUBE-IPVS-IPS 198.19.0.10'],
    });
    expect(ipsetChanges(saved, desired)).toEqual([...ipsetSteps(saved, desired).before, ...ipsetSteps(saved, desired).after]);
  });

  it('never flushes a set, and has nothing to do once the plan is applied', () => {
    expect(ipsetChanges(saved, desired).some((line) => line.startsWith('flush') || line.startsWith('destroy'))).toBe(false);
    expect(ipsetChanges(savedIpsetsOf(desired), desired)).toEqual([]);
  });
});
