import { createPlanMemo, IptablesExecutor, planIptables, type IptablesPlanMemo, renderPlan, RestoreError, type PlannerOptions, type IptablesVariant } from '@hybrid-proxy/iptables';
import type { IPFamily, Snapshot } from '@hybrid-proxy/model';
import type { ModeOptions, ProxyBackend, SyncOutcome } from './backend.js';
import { syncEachFamily } from './family-sync.js';
import { ipFamilyLabel } from './metrics.js';
import { localAddresses, needsLocalAddresses, primaryAddresses, resolveNodePortAddresses } from './node-port-addresses.js';

export interface IptablesModeOptions extends ModeOptions {
  readonly planner: Omit<PlannerOptions, 'family' | 'nodePortAddresses'>;
  readonly variant: IptablesVariant | 'auto';
  /** --nodeport-addresses as given (CIDRs and the words primary, localhost, all), resolved at every sync; all by default. */
  readonly nodePortAddresses?: readonly string[];
  readonly bindAddress?: string;
}

/** The iptables mode: one planner + executor pair per IP family. */
export class IptablesMode implements ProxyBackend {
  readonly mode = 'iptables' as const;
  private readonly executors: Map<IPFamily, IptablesExecutor>;
  /** Per family: unchanged Service ports keep their planned rules from one sync to the next. */
  private readonly memos = new Map<IPFamily, IptablesPlanMemo>();

  constructor(private readonly options: IptablesModeOptions) {
    this.executors = new Map(options.families.map((family) => [family, new IptablesExecutor({ runner: options.runner, family, variant: options.variant, standby: true, serveFirst: true })]));
  }

  async preflight(): Promise<void> {
    for (const [family, executor] of this.executors) {
      const tools = await executor.resolveTools();
      const probe = await this.options.runner.run(tools.save, ['-t', 'nat']);
      if (probe.exitCode !== 0) {
        throw new Error(`${tools.save} cannot read the nat table (IPv${family}): ${probe.stderr.trim()}. The kernel needs nf_tables or ip_tables with NAT support, and the proxy needs CAP_NET_ADMIN.`);
      }
      this.options.logger.info('iptables ready', { family, variant: tools.variant, tools: tools.restore });
    }
    // Once, not per family: the sets' kernel support is the same for both.
    if (this.options.planner.dispatch === 'tree' || this.options.planner.endpointChains === 'inline') await this.preflightIpset();
  }

  /** The gate and hairpin sets need the ipset tool and the kernel's ip_set (hash:ip,port and hash:ip,port,ip). */
  private async preflightIpset(): Promise<void> {
    const listed = await this.options.runner.run('ipset', ['list', '-n']);
    if (listed.exitCode !== 0) {
      throw new Error(`ipset cannot reach the kernel's ip_set (${listed.stderr.trim()}): the default layout needs CONFIG_IP_SET with hash:ip,port and hash:ip,port,ip; --dispatch linear --endpoint-chains per-endpoint (kube-proxy's layout) works without it`);
    }
  }

  private plans(snapshot: Snapshot, local: readonly string[]) {
    return [...this.executors].map(([family, executor]) => ({ family, executor, plan: this.plan(snapshot, family, local) }));
  }

  private plan(snapshot: Snapshot, family: IPFamily, local: readonly string[]) {
    let memo = this.memos.get(family);
    if (!memo) this.memos.set(family, (memo = createPlanMemo()));
    const nodePortAddresses = resolveNodePortAddresses(this.options.nodePortAddresses ?? [], family, local, primaryAddresses(snapshot, this.options.bindAddress));
    return planIptables(snapshot, { ...this.options.planner, family, nodePortAddresses }, memo);
  }

  /** The node's addresses, read at each sync only when --nodeport-addresses names CIDRs (they may change). */
  private async localAddresses(): Promise<readonly string[]> {
    return needsLocalAddresses(this.options.nodePortAddresses ?? []) ? localAddresses(this.options.runner) : [];
  }

  async sync(snapshot: Snapshot, options: { full: boolean }): Promise<SyncOutcome> {
    const steps = this.plans(snapshot, await this.localAddresses()).map(({ family, executor, plan }) => ({ family, apply: () => executor.apply(plan, options) }));
    return syncEachFamily(steps, (family, err) => {
      if (err instanceof RestoreError) {
        this.options.metrics?.restoreFailures.inc({ ip_family: ipFamilyLabel(family) });
        this.options.logger.error('iptables-restore rejected the update', { family, line: err.line, rejected: err.lineText, context: err.context, stderr: err.stderr.trim() });
      }
      // Other families may have been applied already; all of them must be rewritten in full on the retry.
      for (const other of this.executors.values()) other.invalidate();
    });
  }

  async lostState(): Promise<string[]> {
    const lost: string[] = [];
    for (const [family, executor] of this.executors) for (const what of await executor.lostState()) lost.push(`IPv${family}: ${what}`);
    return lost;
  }

  describe(snapshot: Snapshot, local: readonly string[] = []): string {
    return this.plans(snapshot, local)
      .map(({ family, plan }) => `# IPv${family}\n${renderPlan(plan)}`)
      .join('\n');
  }

  async cleanup(): Promise<void> {
    for (const executor of this.executors.values()) await executor.cleanup();
  }

  async close(): Promise<void> {
    await Promise.all([...this.executors.values()].map((executor) => executor.close()));
  }
}
