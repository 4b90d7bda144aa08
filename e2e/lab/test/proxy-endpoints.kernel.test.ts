import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '@hybrid-proxy/exec';
import { LabNode, LAB_ADDRESSES } from '@hybrid-proxy/lab';
import { fetchIn, metricValue } from './fetch-in.js';

const MANIFESTS = fileURLToPath(new URL('./fixtures/traffic', import.meta.url));
const CLI = fileURLToPath(import.meta.resolve('@hybrid-proxy/core/cli'));
/** Above any default: the proxy must try to raise nf_conntrack_max, which only the host's namespace may write. */
const CONNTRACK_MIN = 4_194_304;

describe('a running proxy serves health and metrics as kube-proxy does', () => {
  let node: LabNode;
  beforeAll(async () => {
    node = await LabNode.start({ manifests: MANIFESTS, proxyArgs: ['--conntrack-tcp-timeout-established', '2h', '--conntrack-udp-timeout', '40s', '--conntrack-min', String(CONNTRACK_MIN)] });
  });
  afterAll(async () => node?.destroy());

  it('answers /healthz and /livez on 0.0.0.0:10256, reachable from another host', async () => {
    for (const path of ['/healthz', '/livez']) {
      const { status, body } = await fetchIn(node, 'client', `http://${LAB_ADDRESSES.nodeIPv4}:10256${path}`);
      expect(status).toBe(200);
      expect(Date.parse(JSON.parse(body).lastUpdated)).toBeGreaterThan(Date.now() - 60_000);
    }
  });

  it('serves /metrics on 127.0.0.1:10249 only, with kube-proxy metric names and real values', async () => {
    const { status, body } = await fetchIn(node, 'node', 'http://127.0.0.1:10249/metrics');
    expect(status).toBe(200);
    for (const name of [
      'kubeproxy_sync_proxy_rules_duration_seconds_bucket',
      'kubeproxy_sync_full_proxy_rules_duration_seconds_count',
      'kubeproxy_sync_partial_proxy_rules_duration_seconds_count',
      'kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family="IPv4"} 0',
      'kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family="IPv4",traffic_policy="internal"} 0',
      'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"}',
    ]) expect(body).toContain(name);
    const natRules = metricValue(body, 'kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="nat"}');
    // 2 Services with 3 + 2 endpoints, inline: 2 service chains (masquerade + one DNAT per endpoint); the gate in
    // KUBE-SERVICES (KUBE-NODEPORTS is empty, so nothing jumps there); the tree (root 2, branches 2, leaves 2: .10
    // and .53 differ in both nibbles); KUBE-POSTROUTING (hairpin + 3) and KUBE-MARK-MASQ.
    expect(natRules).toBe((1 + 3) + (1 + 2) + 1 + 2 * 3 + 4 + 1);
    const last = metricValue(body, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"}');
    expect(last * 1000).toBeGreaterThan(Date.now() - 60_000);
    await expect(fetchIn(node, 'client', `http://${LAB_ADDRESSES.nodeIPv4}:10249/metrics`)).rejects.toThrow();
  });

  it('applies the conntrack settings in its namespace, and only warns where the kernel refuses (nf_conntrack_max)', async () => {
    const sysctl = async (key: string) => Number((await runChecked(node.topology.node.run, 'sysctl', ['-n', key])).stdout.trim());
    expect(await sysctl('net.netfilter.nf_conntrack_tcp_timeout_established')).toBe(7200);
    expect(await sysctl('net.netfilter.nf_conntrack_udp_timeout')).toBe(40);
    expect(await sysctl('net.netfilter.nf_conntrack_max')).toBeLessThan(CONNTRACK_MIN);
    expect(node.proxy!.lines.some((line) => line.includes('cannot set a sysctl') && line.includes('nf_conntrack_max'))).toBe(true);
  });

  it('plan prints the rules it would apply and changes nothing in the kernel', async () => {
    const before = (await runChecked(node.topology.node.run, 'iptables-nft-save', [])).stdout.replace(/^#.*\n/gm, '');
    const plan = await runChecked(node.topology.node.run, process.execPath, [CLI, 'plan', '--manifests', MANIFESTS, '--ip-families', '4', '--cluster-cidr', LAB_ADDRESSES.podCIDRv4]);
    expect(plan.stdout).toMatch(/^-A KUBE-DISPATCH-A0 -d 198\.19\.1\.10\/32 -p tcp .* -j KUBE-SVC-/m);
    expect(plan.stdout).toMatch(/^# ipset add KUBE-SVC-GATE 198\.19\.1\.10,tcp:80$/m);
    const after = (await runChecked(node.topology.node.run, 'iptables-nft-save', [])).stdout.replace(/^#.*\n/gm, '');
    expect(after.replace(/\[\d+:\d+\]/g, '')).toBe(before.replace(/\[\d+:\d+\]/g, ''));
  });
});
