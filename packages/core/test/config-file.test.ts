import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseFlags, PROXY_FLAGS, proxyConfigFrom, UsageError } from '@hybrid-proxy/core';

const fixture = (name: string): string => (parse(readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8')) as { data: Record<string, string> }).data['config.conf']!;
const dir = mkdtempSync(join(tmpdir(), 'hp-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Writes `text` as a config.conf, as the ConfigMap volume shows it to the DaemonSet. */
const file = (text: string, name = 'config.conf'): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const config = (args: string[]) => proxyConfigFrom(parseFlags(args, PROXY_FLAGS));
const HEADER = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

describe('--config: kube-proxy\'s KubeProxyConfiguration', () => {
  it('reads kubeadm\'s ConfigMap: its kubeconfig and cluster CIDR, kube-proxy\'s defaults for every zero it writes, nothing to warn about', () => {
    const c = config(['--config', file(fixture('kubeadm-kube-proxy-configmap.yaml'), 'kubeadm.conf')]);
    expect(c).toMatchObject({
      mode: 'iptables',
      kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf',
      clusterCIDRs: ['10.244.0.0/16'],
      localTraffic: { mode: 'ClusterCIDR', cidrs: ['10.244.0.0/16'] },
      masqueradeBit: 14,
      masqueradeAll: false,
      syncPeriodMs: 30_000,
      minSyncPeriodMs: 1000,
      localhostNodePorts: true,
      nodePortAddresses: [],
      ipvsScheduler: 'rr',
      conntrack: { maxPerCore: 32768, min: 131072, tcpEstablishedTimeoutMs: 86_400_000, tcpCloseWaitTimeoutMs: 3_600_000, tcpBeLiberal: false, udpTimeoutMs: 0, udpStreamTimeoutMs: 0 },
      ignoredFields: [],
    });
    expect(c.healthz).toEqual({ host: '0.0.0.0', port: 10256 });
    expect(c.metrics).toEqual({ host: '127.0.0.1', port: 10249 });
  });

  it('reads kind\'s ConfigMap: dual-stack cluster CIDRs, iptables mode, 1s min sync, conntrack max left alone, liberal TCP', () => {
    const c = config(['--config', file(fixture('kind-kube-proxy-configmap.yaml'), 'kind.conf')]);
    expect(c).toMatchObject({
      mode: 'iptables',
      clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'],
      localTraffic: { mode: 'ClusterCIDR', cidrs: ['10.244.0.0/16', 'fd00:10:244::/56'] },
      minSyncPeriodMs: 1000,
      conntrack: { maxPerCore: 0, tcpBeLiberal: true },
      ignoredFields: [],
    });
  });

  it('lets flags override the file, kube-proxy\'s names and hybrid-proxy\'s alike', () => {
    const path = file(`${HEADER}mode: ipvs\nclusterCIDR: 198.18.0.0/16\nipvs:\n  syncPeriod: 20s\n  minSyncPeriod: 2s\n  scheduler: lc\niptables:\n  syncPeriod: 7s\n`);
    expect(config(['--config', path])).toMatchObject({ mode: 'ipvs', syncPeriodMs: 20_000, minSyncPeriodMs: 2000, ipvsScheduler: 'lc' });
    expect(config(['--config', path, '--proxy-mode', 'iptables'])).toMatchObject({ mode: 'iptables', syncPeriodMs: 7000, minSyncPeriodMs: 1000 });
    expect(config(['--config', path, '--ipvs-sync-period', '9s', '--ipvs-scheduler', 'sh', '--cluster-cidr', '198.19.0.0/16'])).toMatchObject({ syncPeriodMs: 9000, ipvsScheduler: 'sh', clusterCIDRs: ['198.19.0.0/16'] });
    expect(config(['--config', path, '--sync-period', '3s'])).toMatchObject({ syncPeriodMs: 3000 });
  });

  it('maps every implemented section: detectLocal, bind addresses, node ports, ipvs, conntrack, logging', () => {
    const c = config(['--config', file(`${HEADER}detectLocalMode: InterfaceNamePrefix
detectLocal:
  interfaceNamePrefix: veth
bindAddress: 198.18.0.1
bindAddressHardFail: true
healthzBindAddress: 198.18.0.1:10256
metricsBindAddress: 0.0.0.0:10249
hostnameOverride: Node-7
nodePortAddresses: [primary, 198.18.0.0/24]
iptables:
  masqueradeAll: true
  masqueradeBit: 0
  localhostNodePorts: false
ipvs:
  strictARP: true
  excludeCIDRs: [198.18.5.0/24]
  tcpTimeout: 900s
  tcpFinTimeout: 2m
  udpTimeout: 10s
conntrack:
  maxPerCore: 0
  min: 1000
  tcpEstablishedTimeout: 3h
  tcpCloseWaitTimeout: 0s
  udpTimeout: 30s
  udpStreamTimeout: 2m
logging:
  verbosity: 4
`)]);
    expect(c).toMatchObject({
      localTraffic: { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' },
      bindAddress: '198.18.0.1',
      bindAddressHardFail: true,
      healthz: { host: '198.18.0.1', port: 10256 },
      metrics: { host: '0.0.0.0', port: 10249 },
      hostname: 'node-7',
      nodePortAddresses: ['primary', '198.18.0.0/24'],
      masqueradeAll: true,
      masqueradeBit: 0,
      localhostNodePorts: false,
      ipvsStrictARP: true,
      ipvsExcludeCIDRs: ['198.18.5.0/24'],
      ipvsTimeouts: { tcpMs: 900_000, tcpFinMs: 120_000, udpMs: 10_000 },
      conntrack: { maxPerCore: 0, min: 1000, tcpEstablishedTimeoutMs: 10_800_000, tcpCloseWaitTimeoutMs: 0, udpTimeoutMs: 30_000, udpStreamTimeoutMs: 120_000 },
      logLevel: 'debug',
    });
  });

  it('lists fields it does not act on with their values, and fields it does not know, without stopping', () => {
    const c = config(['--config', file(`${HEADER}oomScoreAdj: -999\nenableProfiling: true\nfeatureGates: {}\nportRange: ""\nnftables:\n  syncPeriod: 0s\nclientConnection:\n  qps: 50\nbogusField: 1\n`)]);
    expect(c.ignoredFields).toEqual([
      { field: 'oomScoreAdj', value: -999, why: 'not implemented' },
      { field: 'enableProfiling', value: true, why: 'not implemented' },
      { field: 'clientConnection.qps', value: 50, why: 'not implemented' },
      { field: 'bogusField', value: 1, why: 'unknown field' },
    ]);
  });

  it.each([
    ['kind: KubeProxyConfiguration\napiVersion: kubeproxy.config.k8s.io/v1beta9\n', /apiVersion "kubeproxy.config.k8s.io\/v1beta9" is not supported; expected kubeproxy.config.k8s.io\/v1alpha1/],
    ['apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n', /kind "KubeletConfiguration" is not supported; expected KubeProxyConfiguration/],
    [`${HEADER}iptables:\n  syncPeriod: 30\n`, /bad\.conf: iptables\.syncPeriod: expected a duration such as "30s" or "1m30s", got number 30/],
    [`${HEADER}iptables:\n  masqueradeBit: "14"\n`, /iptables\.masqueradeBit: expected an integer, got string "14"/],
    [`${HEADER}ipvs:\n  strictARP: yes please\n`, /ipvs\.strictARP: expected true or false, got string "yes please"/],
    [`${HEADER}nodePortAddresses: 198.18.0.0/16\n`, /nodePortAddresses: expected a list of strings/],
    [`${HEADER}conntrack: 5\n`, /conntrack: expected an object, got number 5/],
    [`${HEADER}mode: userspace\n`, /bad\.conf: mode "userspace" is not one of: iptables, ipvs/],
    [`${HEADER}clusterCIDR: 198.18.0.0/16,198.19.0.0/16\n`, /bad\.conf: clusterCIDR .*at most one CIDR per IP family/],
    [`${HEADER}iptables:\n  masqueradeBit: 40\n`, /bad\.conf: iptables\.masqueradeBit "40" is not an integer in 0-31/],
    [`${HEADER}detectLocalMode: BridgeInterface\n`, /BridgeInterface needs the bridge's name/],
    [`${HEADER}mode: [iptables\n`, /bad\.conf: not valid YAML/],
    ['- just\n- a list\n', /expected a KubeProxyConfiguration object, got a list/],
  ])('refuses %j with a usage error naming the field', (text, message) => {
    const path = file(text, 'bad.conf');
    expect(() => config(['--config', path])).toThrow(UsageError);
    expect(() => config(['--config', path])).toThrow(message);
  });

  it('refuses a missing file', () => {
    expect(() => config(['--config', join(dir, 'absent.conf')])).toThrow(/--config .*absent\.conf: no such file/);
  });
});

describe('kube-proxy\'s flag names', () => {
  it('are taken with kube-proxy\'s meaning', () => {
    const c = config(['--iptables-sync-period', '10s', '--iptables-min-sync-period=2s', '--nodeport-addresses', 'primary,198.18.0.0/16', '--detect-local-mode', 'BridgeInterface', '--pod-bridge-interface', 'cbr0', '--masquerade-all=true', '--iptables-localhost-nodeports=false', '--v=4', '--conntrack-max-per-core', '0', '--bind-address', '198.18.0.1']);
    expect(c).toMatchObject({ syncPeriodMs: 10_000, minSyncPeriodMs: 2000, nodePortAddresses: ['primary', '198.18.0.0/16'], localTraffic: { mode: 'BridgeInterface', bridgeInterface: 'cbr0' }, masqueradeAll: true, localhostNodePorts: false, logLevel: 'debug', bindAddress: '198.18.0.1' });
    expect(c.conntrack.maxPerCore).toBe(0);
    expect(config(['--proxy-mode', 'ipvs', '--ipvs-sync-period', '4s', '--iptables-sync-period', '9s', '--ipvs-exclude-cidrs', '198.18.9.0/24'])).toMatchObject({ syncPeriodMs: 4000, ipvsExcludeCIDRs: ['198.18.9.0/24'] });
  });

  it('take one cluster CIDR per family, and give a family without one no detector', () => {
    expect(config(['--cluster-cidr', '198.18.0.0/16,fd00:18::/64']).localTraffic).toEqual({ mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16', 'fd00:18::/64'] });
    expect(config([]).localTraffic).toEqual({ mode: 'None' });
    expect(config(['--detect-local-mode', 'NodeCIDR']).localTraffic).toEqual({ mode: 'NodeCIDR' });
    expect(() => config(['--cluster-cidr', 'fd00:18::/64,fd00:19::/64'])).toThrow(/at most one CIDR per IP family/);
    expect(() => config(['--detect-local-mode', 'Magic'])).toThrow(/--detect-local-mode "Magic" is not one of: ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix/);
    expect(() => config(['--nodeport-addresses', 'everywhere'])).toThrow(/--nodeport-addresses "everywhere" is not a CIDR/);
    expect(() => config(['--masquerade-all=maybe'])).toThrow(UsageError);
  });
});
