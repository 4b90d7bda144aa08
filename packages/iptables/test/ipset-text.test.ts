import { describe, expect, it } from 'vitest';
import { createSetLine, ipsetChanges, ipsetSteps, MemberLedger, parseIpsetSave } from '@hybrid-proxy/iptables';

const saved = parseIpsetSave('create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 comment\nadd KUBE-CLUSTER-IP 198.19.0.10,tcp:80\nadd KUBE-CLUSTER-IP 198.19.0.11,tcp:80\n');
const desired = [
  { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port family inet', comment: '', entries: ['198.19.0.10,tcp:80', '198.19.0.12,tcp:80'] },
  { name: 'KUBE-IPVS-IPS', type: 'hash:ip family inet', comment: '', entries: ['198.19.0.10'] },
];

describe('ipset changes', () => {
  it('creates missing sets before the rules change, and changes members after it, in one call', () => {
    expect(ipsetSteps(saved, desired)).toEqual({
      before: ['create KUBE-IPVS-IPS hash:ip family inet comment'],
      adds: ['add KUBE-CLUSTER-IP 198.19.0.12,tcp:80', 'add KUBE-IPVS-IPS 198.19.0.10'],
      removals: ['del KUBE-CLUSTER-IP 198.19.0.11,tcp:80'],
    });
    const { before, adds, removals } = ipsetSteps(saved, desired);
    expect(ipsetChanges(saved, desired)).toEqual([...before, ...removals, ...adds]);
  });

  it('never flushes a set, and has nothing to do once the plan is applied', () => {
    expect(ipsetChanges(saved, desired).some((line) => line.startsWith('flush') || line.startsWith('destroy'))).toBe(false);
    // Once applied, ipset save prints the sets and their members: nothing is left to change.
    const applied = parseIpsetSave(desired.flatMap((set) => [createSetLine(set), ...set.entries.map((e) => `add ${set.name} ${e}`)]).join('\n'));
    expect(ipsetChanges(applied, desired)).toEqual([]);
  });
});

describe('MemberLedger: set changes by owner', () => {
  const a = ['m1', 'm2'];
  const b = ['m2', 'm3'];

  it('adds a member once however many owners share it, and deletes it when the last one goes', () => {
    const ledger = new MemberLedger(new Map([['a', a]]));
    expect(ledger.update(new Map([['a', a], ['b', b]]), 'S')).toEqual({ adds: ['add S m3'], removals: [] });
    expect(ledger.update(new Map([['b', b]]), 'S')).toEqual({ adds: [], removals: ['del S m1'] });
    expect(ledger.update(new Map(), 'S')).toEqual({ adds: [], removals: ['del S m2', 'del S m3'] });
  });

  it('skips an owner whose array is the same object, and nets out a member that moves between owners', () => {
    const ledger = new MemberLedger(new Map([['a', a], ['b', ['m4']]]));
    expect(ledger.update(new Map([['a', a], ['b', ['m4']]]), 'S')).toEqual({ adds: [], removals: [] });
    // m4 leaves b for a: a member in both the old and the new plan is neither deleted nor added.
    expect(ledger.update(new Map([['a', ['m1', 'm2', 'm4']], ['b', ['m5']]]), 'S')).toEqual({ adds: ['add S m5'], removals: [] });
  });

  it('agrees with a flat diff on random churn', () => {
    let owners = new Map<string, readonly string[]>();
    const ledger = new MemberLedger(owners);
    const kernel = new Set<string>();
    for (let round = 0; round < 200; round++) {
      const next = new Map(owners);
      const owner = `o${round % 7}`;
      if (round % 5 === 4) next.delete(owner);
      else next.set(owner, Array.from({ length: 1 + (round % 3) }, (_, i) => `m${(round * 3 + i) % 11}`));
      const { adds, removals } = ledger.update(next, 'S');
      for (const line of [...removals, ...adds]) {
        const [verb, , member] = line.split(' ');
        if (verb === 'add') kernel.add(member!);
        else kernel.delete(member!);
      }
      owners = next;
      expect([...kernel].sort()).toEqual([...new Set([...owners.values()].flat())].sort());
    }
  });
});
