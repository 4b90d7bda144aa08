import type { CommandRunner } from '@hybrid-proxy/exec';
import { emptySnapshot, type IPFamily, type Snapshot } from '@hybrid-proxy/model';
import { parseConntrackList, RECONCILED_PROTOCOLS, staleConntrackEntries, type ConntrackEntry } from './conntrack-reconcile.js';
import type { Logger } from './logger.js';
import { staleUdpFlows, type StaleUdpFlow } from './stale-udp-flows.js';

/**
 * Clears conntrack entries that would keep steering datagrams to endpoints the rules no longer choose: after
 * every sync, those the change between two snapshots names (cheap); after a full sync (the first one after a
 * start among them), every entry in the kernel's table that no current endpoint answers (kube-proxy's reconciler).
 */
export class ConntrackCleaner {
  private applied: Snapshot = emptySnapshot;

  constructor(
    private readonly runner: CommandRunner,
    private readonly logger: Logger,
    private readonly families: readonly IPFamily[],
  ) {}

  /** Call after a snapshot was applied to the kernel; `reconcile` also checks the whole table against it. */
  async afterSync(snapshot: Snapshot, options: { reconcile: boolean }): Promise<number> {
    const flows = staleUdpFlows(this.applied, snapshot);
    this.applied = snapshot;
    for (const flow of flows) await this.clearFlow(flow);
    if (!options.reconcile) return 0;
    let stale = 0;
    for (const family of this.families) {
      const entries = staleConntrackEntries(snapshot, await this.list(family));
      stale += entries.length;
      // One `conntrack -D` per Service IP, port and gone backend, not per entry: a busy UDP Service has thousands.
      const groups = new Map(entries.map((entry) => [`${entry.protocol}|${entry.origDst}|${entry.origDport}|${entry.replySrc}|${entry.replySport}`, entry]));
      for (const entry of groups.values()) await this.clearGroup(entry);
    }
    if (stale > 0) this.logger.info('cleared conntrack entries that no current endpoint answers', { entries: stale });
    return stale;
  }

  private async list(family: IPFamily): Promise<ConntrackEntry[]> {
    const entries: ConntrackEntry[] = [];
    for (const protocol of RECONCILED_PROTOCOLS) {
      const result = await this.runner.run('conntrack', ['-L', '-f', family === 4 ? 'ipv4' : 'ipv6', '-p', protocol]);
      if (result.exitCode !== 0) {
        this.logger.warn('conntrack cannot list the table; stale entries stay until they expire', { family, protocol, stderr: result.stderr.trim() });
        continue;
      }
      entries.push(...parseConntrackList(result.stdout, family));
    }
    return entries;
  }

  private clearFlow(flow: StaleUdpFlow): Promise<boolean> {
    const family = flow.vip.includes(':') ? 'ipv6' : 'ipv4';
    return this.delete(['-f', family, '-p', 'udp', '--orig-dst', flow.vip, '--orig-port-dst', String(flow.port), ...(flow.endpoint ? ['--dst-nat', flow.endpoint] : [])], flow);
  }

  /** Every entry to this Service IP and port that this (gone) backend answers. */
  private clearGroup(entry: ConntrackEntry): Promise<boolean> {
    const match = ['--orig-dst', entry.origDst, '--orig-port-dst', String(entry.origDport), '--reply-src', entry.replySrc, '--reply-port-src', String(entry.replySport)];
    return this.delete(['-f', entry.family === 4 ? 'ipv4' : 'ipv6', '-p', entry.protocol, ...match], { vip: entry.origDst, port: entry.origDport, backend: entry.replySrc });
  }

  private async delete(args: readonly string[], what: object): Promise<boolean> {
    try {
      const result = await this.runner.run('conntrack', ['-D', ...args]);
      // Exit code 1 means no entry matched: nothing to clear.
      if (result.exitCode > 1) this.logger.warn('conntrack could not clear stale flows', { ...what, stderr: result.stderr.trim() });
      return result.exitCode === 0;
    } catch (err) {
      this.logger.warn('conntrack could not clear stale flows', { ...what, error: (err as Error).message });
      return false;
    }
  }
}
