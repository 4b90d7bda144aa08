import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRunner, runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { cleanupKubeProxyLeftovers, silentLogger } from '@hybrid-proxy/core';
import { LabTopology } from '@hybrid-proxy/lab';

/** A node kube-proxy ran on (iptables mode, v1.33 layout), with kubelet's chains and an operator's rules beside. */
const FIXTURE = fileURLToPath(new URL('./fixtures/kube-proxy-node.iptables-save', import.meta.url));

describe.each(['nft', 'legacy'] as const)('cleanup --kube-proxy-leftovers on iptables-%s', (variant) => {
  let topology: LabTopology;
  let run: CommandRunner;
  beforeEach(async () => {
    topology = await LabTopology.create();
    run = createRunner({ netns: topology.node.namespace });
    await runChecked(run, `iptables-${variant}-restore`, [], { input: await readFile(FIXTURE, 'utf8') });
    await runChecked(run, 'ipset', ['create', 'KUBE-CLUSTER-IP', 'hash:ip,port']);
    await runChecked(run, 'ipset', ['create', 'OPERATOR-SET', 'hash:ip']);
  });
  afterEach(async () => topology?.destroy());

  it("removes kube-proxy's chains, the jumps into them and its sets; kubelet's and the operator's stay", async () => {
    expect(await cleanupKubeProxyLeftovers(run, [4], silentLogger)).toBeGreaterThan(20);
    const saved = (await runChecked(run, `iptables-${variant}-save`, [])).stdout;
    expect(saved).not.toMatch(/KUBE-(SERVICES|SVC-|SEP-|EXT-|NODEPORTS|POSTROUTING|MARK-MASQ|FORWARD|EXTERNAL-SERVICES|PROXY-FIREWALL|PROXY-CANARY)/);
    for (const kept of [':KUBE-KUBELET-CANARY', ':KUBE-FIREWALL', '-A INPUT -j KUBE-FIREWALL', '-A OUTPUT -j KUBE-FIREWALL', '-A PREROUTING -j CUSTOM', '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT']) expect(saved).toContain(kept);
    const sets = (await runChecked(run, 'ipset', ['list', '-n'])).stdout.split('\n');
    expect(sets).toContain('OPERATOR-SET');
    expect(sets).not.toContain('KUBE-CLUSTER-IP');
    // Nothing is left to remove: a second run is a no-op.
    expect(await cleanupKubeProxyLeftovers(run, [4], silentLogger)).toBe(0);
  });
});
