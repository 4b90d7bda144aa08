import type { CommandRunner } from '@hybrid-proxy/exec';
import { emptySnapshot, type Snapshot } from '@hybrid-proxy/model';
import type { Logger } from './logger.js';
import { staleUdpFlows, type StaleUdpFlow } from './stale-udp-flows.js';

/** Runs `conntrack -D` for the stale UDP flows of each applied snapshot. */
export class ConntrackCleaner {
  private applied: Snapshot = emptySnapshot;

  constructor(
    private readonly runner: CommandRunner,
    private readonly logger: Logger,
  ) {}

  /** Call after a snapshot was applied to the kernel: clears what the previous one left behind. */
  async afterSync(snapshot: Snapshot): Promise<void> {
    const flows = staleUdpFlows(this.applied, snapshot);
    this.applied = snapshot;
    for (const flow of flows) await this.clear(flow);
  }

  private async clear(flow: StaleUdpFlow): Promise<void> {
    const family = flow.vip.includes(':') ? '-f' : '';
    const args = ['-D', ...(family ? [family, 'ipv6'] : []), '-p', 'udp', '--orig-dst', flow.vip, '--orig-port-dst', String(flow.port), ...(flow.endpoint ? ['--dst-nat', flow.endpoint] : [])];
    try {
      // Exit code 1 means no entry matched: nothing to clear.
      const result = await this.runner.run('conntrack', args);
      if (result.exitCode > 1) this.logger.warn('conntrack could not clear stale UDP flows', { ...flow, stderr: result.stderr.trim() });
    } catch (err) {
      this.logger.warn('conntrack could not clear stale UDP flows', { ...flow, error: (err as Error).message });
    }
  }
}
