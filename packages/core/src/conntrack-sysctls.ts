import { ToolMissingError, type CommandRunner } from '@hybrid-proxy/exec';
import type { Logger } from './logger.js';
import type { ConntrackSettings, ProxyConfig } from './proxy-config.js';

export interface SysctlChange {
  readonly key: string;
  readonly value: number;
  /** Only ever raised, never lowered (nf_conntrack_max): another component may have asked for more. */
  readonly raiseOnly: boolean;
}

const seconds = (ms: number) => Math.round(ms / 1000);

/**
 * kube-proxy's conntrack settings as sysctls: nf_conntrack_max from max-per-core × CPUs (at least min), and
 * the TCP and UDP timeouts; a zero leaves the kernel's value alone. The table's hash size, which kube-proxy
 * also raises, lives in /sys/module and is global to the host, so it is never written here.
 */
export function conntrackSysctls(settings: ConntrackSettings, cpus: number): SysctlChange[] {
  const changes: SysctlChange[] = [];
  const max = settings.maxPerCore > 0 ? Math.max(settings.maxPerCore * cpus, settings.min) : 0;
  if (max > 0) changes.push({ key: 'net.netfilter.nf_conntrack_max', value: max, raiseOnly: true });
  const timeouts: [string, number][] = [
    ['net.netfilter.nf_conntrack_tcp_timeout_established', seconds(settings.tcpEstablishedTimeoutMs)],
    ['net.netfilter.nf_conntrack_tcp_timeout_close_wait', seconds(settings.tcpCloseWaitTimeoutMs)],
    ['net.netfilter.nf_conntrack_udp_timeout', seconds(settings.udpTimeoutMs)],
    ['net.netfilter.nf_conntrack_udp_timeout_stream', seconds(settings.udpStreamTimeoutMs)],
  ];
  for (const [key, value] of timeouts) if (value > 0) changes.push({ key, value, raiseOnly: false });
  if (settings.tcpBeLiberal) changes.push({ key: 'net.netfilter.nf_conntrack_tcp_be_liberal', value: 1, raiseOnly: false });
  return changes;
}

/**
 * route_localnet, which IPv4 node ports on 127.0.0.1 need (kube-proxy's --iptables-localhost-nodeports): in the
 * iptables mode, when node ports answer on loopback. KUBE-LOCALNET-FIREWALL guards what it opens.
 */
export function localhostNodePortSysctls(config: Pick<ProxyConfig, 'mode' | 'families' | 'localhostNodePorts' | 'nodePortAddresses'>): SysctlChange[] {
  const onLoopback = config.nodePortAddresses.length === 0 || config.nodePortAddresses.some((a) => a === 'all' || a === 'localhost' || a.startsWith('127.'));
  if (config.mode !== 'iptables' || !config.families.includes(4) || !config.localhostNodePorts || !onLoopback) return [];
  return [{ key: 'net.ipv4.conf.all.route_localnet', value: 1, raiseOnly: false }];
}

/**
 * Applies what differs from the kernel. A value the kernel will not take (nf_conntrack_max is read-only outside
 * the host's network namespace) is logged, and the proxy goes on: the rules do not depend on it.
 */
export async function applySysctls(runner: CommandRunner, changes: readonly SysctlChange[], logger: Logger): Promise<void> {
  for (const change of changes) {
    const read = await runner.run('sysctl', ['-n', change.key]).catch((err: unknown) => {
      if (err instanceof ToolMissingError) return undefined;
      throw err;
    });
    if (!read) {
      logger.warn('sysctl is not installed (Debian: procps); the conntrack settings keep the kernel\'s values', { settings: changes.map((c) => `${c.key}=${c.value}`) });
      return;
    }
    const current = Number(read.stdout.trim());
    if (read.exitCode === 0 && (current === change.value || (change.raiseOnly && current >= change.value))) continue;
    const written = await runner.run('sysctl', ['-qw', `${change.key}=${change.value}`]);
    // sysctl exits 0 even when the kernel refused the value: read it back.
    const after = await runner.run('sysctl', ['-n', change.key]);
    if (written.exitCode === 0 && Number(after.stdout.trim()) === change.value) logger.info('set a sysctl', { key: change.key, from: read.exitCode === 0 ? current : undefined, to: change.value });
    else logger.warn('cannot set a sysctl; the kernel keeps its value', { key: change.key, current: read.exitCode === 0 ? current : undefined, wanted: change.value, stderr: written.stderr.trim() });
  }
}
