import { RestoreError, type IptablesVariant } from '@hybrid-proxy/iptables';
import { createIpvsPlanMemo, DUMMY_INTERFACE, IpvsExecutor, IpvsRestoreError, planIpvs, renderIpvsPlan, type IpvsPlanMemo, type IpvsPlannerOptions } from '@hybrid-proxy/ipvs';
import type { IPFamily, Snapshot } from '@hybrid-proxy/model';
import type { ModeOptions, ProxyBackend, SyncOutcome } from './backend.js';
import type { IpvsTimeouts } from './proxy-config.js';
import { syncEachFamily } from './family-sync.js';
import { ipFamilyLabel } from './metrics.js';
import { ipvsNodePortAddresses, localAddresses, primaryAddresses, resolveNodePortAddresses } from './node-port-addresses.js';

export interface IpvsModeOptions extends ModeOptions {
  readonly planner: Omit<IpvsPlannerOptions, 'family' | 'nodePortAddresses'>;
  /** --nodeport-addresses as given (CIDRs and the words primary, localhost, all), resolved at every sync; all by default. */
  readonly nodePortAddresses?: readonly string[];
  readonly bindAddress?: string;
  readonly iptablesVariant: IptablesVariant | 'auto';
  readonly strictARP: boolean;
  readonly timeouts: IpvsTimeouts;
  readonly excludeCIDRs: readonly string[];
}

/** The IPVS mode: VIPs on kube-ipvs0, a virtual server per VIP:port, ipsets and a fixed set of iptables rules. */
export class IpvsMode implements ProxyBackend {
  readonly mode = 'ipvs' as const;
  private readonly executors: Map<IPFamily, IpvsExecutor>;
  /** Per family: unchanged Service ports keep their planned virtual servers and set members. */
  private readonly memos = new Map<IPFamily, IpvsPlanMemo>();

  constructor(private readonly options: IpvsModeOptions) {
    this.executors = new Map(options.families.map((family) => [family, new IpvsExecutor({ runner: options.runner, family, iptablesVariant: options.iptablesVariant, strictARP: options.strictARP, excludeCIDRs: options.excludeCIDRs, standby: true })]));
  }

  async preflight(): Promise<void> {
    for (const executor of this.executors.values()) {
      await executor.preflight();
      await executor.setSysctls();
    }
    const { tcpMs, tcpFinMs, udpMs } = this.options.timeouts;
    const timeouts = { tcp: Math.round(tcpMs / 1000), tcpFin: Math.round(tcpFinMs / 1000), udp: Math.round(udpMs / 1000) };
    await [...this.executors.values()][0]?.setTimeouts(timeouts);
    this.options.logger.info('ipvs ready', { families: [...this.executors.keys()], scheduler: this.options.planner.scheduler, timeouts });
  }

  private plans(snapshot: Snapshot, local: readonly string[]) {
    const spec = this.options.nodePortAddresses ?? [];
    const primary = primaryAddresses(snapshot, this.options.bindAddress);
    return [...this.executors].map(([family, executor]) => {
      const nodePortAddresses = ipvsNodePortAddresses(resolveNodePortAddresses(spec, family, local, primary), local, family);
      let memo = this.memos.get(family);
      if (!memo) this.memos.set(family, (memo = createIpvsPlanMemo()));
      return { family, executor, plan: planIpvs(snapshot, { ...this.options.planner, family, nodePortAddresses }, memo) };
    });
  }

  /**
   * The node's addresses but kube-ipvs0's, where node ports are served: read on full syncs (and the first), not on
   * every change. lostState() reads them once per sync period, and a change there takes a full sync.
   */
  private nodeAddressesRead: readonly string[] | undefined;

  private async nodeAddresses(snapshot: Snapshot, full: boolean): Promise<readonly string[]> {
    // Known once read: a partial sync walks no Service to find out whether any has a node port.
    if (!full && this.nodeAddressesRead) return this.nodeAddressesRead;
    if (!hasNodePorts(snapshot)) return [];
    return (this.nodeAddressesRead = await localAddresses(this.options.runner, DUMMY_INTERFACE));
  }

  /** When draining real servers were last checked for connections left. */
  private drainCheckedAt = 0;

  async sync(snapshot: Snapshot, options: { full: boolean }): Promise<SyncOutcome> {
    const steps = this.plans(snapshot, await this.nodeAddresses(snapshot, options.full)).map(({ family, executor, plan }) => ({
      family,
      apply: async () => {
        const result = await executor.apply(plan, options);
        await this.deleteDrainedReals(executor);
        const changed = result.ipvsCommands + result.ipsetCommands + result.addressCommands > 0;
        return { kind: options.full ? 'full' : changed ? 'partial' : 'unchanged', rulesPerTable: result.rulesPerTable } as const;
      },
    }));
    return syncEachFamily(steps, (family, err) => {
      if (err instanceof RestoreError || err instanceof IpvsRestoreError) {
        this.options.metrics?.restoreFailures.inc({ ip_family: ipFamilyLabel(family) });
        this.options.logger.error('the kernel refused the update', { family, error: (err as Error).message });
      }
      for (const other of this.executors.values()) other.invalidate();
    });
  }

  /**
   * Graceful termination's second half: draining reals with no connection left are deleted, checked at most every
   * DRAIN_CHECK_MS (kube-proxy: every minute), after a sync has served its change.
   */
  private async deleteDrainedReals(executor: IpvsExecutor): Promise<void> {
    if (executor.drainingReals === 0 || performance.now() - this.drainCheckedAt < DRAIN_CHECK_MS) return;
    this.drainCheckedAt = performance.now();
    const deleted = await executor.deleteDrainedReals();
    if (deleted > 0) this.options.logger.info('deleted drained real servers', { deleted, draining: executor.drainingReals });
  }

  /** Virtual servers, set members, kube-ipvs0 addresses and rules that someone else changed since the last sync, and the node's addresses. */
  async lostState(): Promise<string[]> {
    const lost: string[] = [];
    for (const [family, executor] of this.executors) for (const what of await executor.lostState()) lost.push(`IPv${family}: ${what}`);
    const read = this.nodeAddressesRead;
    if (read) {
      const now = await localAddresses(this.options.runner, DUMMY_INTERFACE);
      if ([...now].sort().join() !== [...read].sort().join()) lost.push(`the node's addresses changed (node ports are served on ${now.length})`);
    }
    return lost;
  }

  /** The plan as text; without the node's addresses, node ports are shown on its primary IPs. */
  describe(snapshot: Snapshot, local: readonly string[] = []): string {
    const addresses = local.length > 0 ? local : primaryAddresses(snapshot, this.options.bindAddress);
    return this.plans(snapshot, addresses).map(({ family, plan }) => `# IPv${family}\n${renderIpvsPlan(plan)}`).join('\n');
  }

  async close(): Promise<void> {
    await Promise.all([...this.executors.values()].map((executor) => executor.close()));
  }

  async cleanup(): Promise<void> {
    const empty: Snapshot = { entries: new Map(), invalid: [] };
    for (const { executor, plan } of this.plans(empty, [])) await executor.cleanup(plan);
  }
}

/** How often draining real servers are checked for connections left: the sync period's order, well under kube-proxy's minute. */
const DRAIN_CHECK_MS = 5000;

function hasNodePorts(snapshot: Snapshot): boolean {
  for (const entry of snapshot.entries.values()) if (entry.service.nodePort !== 0) return true;
  return false;
}
