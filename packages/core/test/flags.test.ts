import { describe, expect, it } from 'vitest';
import { parseDuration, parseFlags, PROXY_FLAGS, proxyConfigFrom, UsageError } from '@hybrid-proxy/core';

const config = (args: string[]) => proxyConfigFrom(parseFlags(args, PROXY_FLAGS));

describe('proxy flags', () => {
  it('takes kube-proxy names and defaults', () => {
    const c = config(['--proxy-mode', 'iptables', '--cluster-cidr', '198.18.1.0/24', '--masquerade-all', '--hostname-override', 'Node-A', '--manifests', 'dir']);
    expect(c).toMatchObject({ mode: 'iptables', clusterCIDRs: ['198.18.1.0/24'], localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] }, masqueradeAll: true, hostname: 'node-a', masqueradeBit: 14, minSyncPeriodMs: 1000, syncPeriodMs: 30_000, families: [4, 6] });
    expect(c.healthz).toEqual({ host: '0.0.0.0', port: 10256 });
    expect(c.metrics).toEqual({ host: '127.0.0.1', port: 10249 });
  });

  it.each([
    [['--mode', 'nftables'], /--mode "nftables" is not one of: iptables, ipvs/],
    [['--mode', 'iptables', '--proxy-mode', 'ipvs'], /disagree/],
    [['--cluster-cidr', '198.18.1.0'], /not a CIDR/],
    [['--cluster-cidr', '198.18.1.0/33'], /not a CIDR/],
    [['--iptables-masquerade-bit', '32'], /0-31/],
    [['--min-sync-period', 'soon'], /not a duration/],
    [['--healthz-bind-address', 'everywhere'], /HOST:PORT/],
    [['--ip-families', '4,5'], /ip-families/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--manifests'], /argument missing/],
  ])('%j is a usage error', (args, message) => {
    expect(() => config(args)).toThrow(UsageError);
    expect(() => config(args)).toThrow(message);
  });

  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['2', 2000],
  ])('parses duration %s', (text, ms) => expect(parseDuration(text, '--x')).toBe(ms));
});
