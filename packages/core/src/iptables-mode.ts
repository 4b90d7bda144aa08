import { IptablesExecutor, planIptables, renderPlan, RestoreError, type PlannerOptions, type IptablesVariant } from '@hybrid-proxy/iptables';
import type { IPFamily, Snapshot } from '@hybrid-proxy/model';
import type { ModeOptions, ProxyBackend, SyncOutcome } from './backend.js';
import type { ProxyMetrics } from './metrics.js';

export interface IptablesModeOptions extends ModeOptions {
  readonly planner: Omit<PlannerOptions, 'family'>;
  readonly variant: IptablesVariant | 'auto';
  readonly metrics?: ProxyMetrics;
}

/** The iptables mode: one planner + executor pair per IP family. */
export class IptablesMode implements ProxyBackend {
  readonly mode = 'iptables' as const;
  private readonly executors: Map<IPFamily, IptablesExecutor>;

  constructor(private readonly options: IptablesModeOptions) {
    this.executors = new Map(options.families.map((family) => [family, new IptablesExecutor({ runner: options.runner, family, variant: options.variant })]));
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
  }

  private plans(snapshot: Snapshot) {
    return [...this.executors].map(([family, executor]) => ({ family, executor, plan: planIptables(snapshot, { ...this.options.planner, family }) }));
  }

  async sync(snapshot: Snapshot, options: { full: boolean }): Promise<SyncOutcome> {
    const rulesPerTable: Record<string, number> = { filter: 0, nat: 0 };
    let kind: SyncOutcome['kind'] = 'unchanged';
    for (const { family, executor, plan } of this.plans(snapshot)) {
      try {
        const result = await executor.apply(plan, options);
        for (const [table, count] of Object.entries(result.rulesPerTable)) rulesPerTable[table] = (rulesPerTable[table] ?? 0) + count;
        if (result.kind === 'full' || (result.kind === 'partial' && kind === 'unchanged')) kind = result.kind;
      } catch (err) {
        if (err instanceof RestoreError) {
          this.options.metrics?.restoreFailures.inc();
          this.options.logger.error('iptables-restore rejected the update', { family, line: err.line, rejected: err.lineText, context: err.context, stderr: err.stderr.trim() });
        }
        // Other families may have been applied already; all of them must be rewritten in full on the retry.
        for (const other of this.executors.values()) other.invalidate();
        throw err;
      }
    }
    return { kind, rulesPerTable };
  }

  describe(snapshot: Snapshot): string {
    return this.plans(snapshot)
      .map(({ family, plan }) => `# IPv${family}\n${renderPlan(plan)}`)
      .join('\n');
  }

  async cleanup(): Promise<void> {
    for (const executor of this.executors.values()) await executor.cleanup();
  }
}
