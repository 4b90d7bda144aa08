import { ToolMissingError, type CommandRunner } from '@hybrid-proxy/exec';
import { IptablesExecutor, type IptablesVariant } from '@hybrid-proxy/iptables';
import { ipvsSetNames } from '@hybrid-proxy/ipvs';
import type { IPFamily } from '@hybrid-proxy/model';
import type { Logger } from './logger.js';

/**
 * `hybrid-proxy cleanup --kube-proxy-leftovers`: after a switch from kube-proxy, its iptables chains and jumps
 * (both variants), its IPVS-mode sets and its nftables tables (`ip kube-proxy`, `ip6 kube-proxy`). Run it once the
 * proxy has taken over: the shared chain names (KUBE-SERVICES...) are removed too, and the next sync rebuilds ours.
 */
export async function cleanupKubeProxyLeftovers(runner: CommandRunner, families: readonly IPFamily[], logger: Logger): Promise<number> {
  let removed = 0;
  for (const family of families) {
    for (const variant of ['nft', 'legacy'] satisfies IptablesVariant[]) {
      try {
        const gone = await new IptablesExecutor({ runner, family, variant }).cleanupKubeProxy(ipvsSetNames(family));
        if (gone.length > 0) logger.info('removed kube-proxy leftovers', { family, variant, removed: gone.length, examples: gone.slice(0, 5) });
        removed += gone.length;
      } catch (err) {
        // One variant's tools may be absent on the node: kube-proxy cannot have used it then.
        if (!(err instanceof ToolMissingError)) throw err;
      }
    }
    const table = family === 4 ? 'ip' : 'ip6';
    const deleted = await runner.run('nft', ['delete', 'table', table, 'kube-proxy']).catch((err: unknown) => {
      if (err instanceof ToolMissingError) return { exitCode: 1, stderr: '' };
      throw err;
    });
    if (deleted.exitCode === 0) {
      logger.info('removed kube-proxy leftovers', { family, nftables: `table ${table} kube-proxy` });
      removed++;
    }
  }
  return removed;
}
