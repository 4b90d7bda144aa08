import { ToolMissingError, type CommandRunner } from '@hybrid-proxy/exec';
import type { IPFamily } from '@hybrid-proxy/model';
import { iptablesTools, type IptablesVariant } from './iptables-tools.js';

async function kubeLineCount(runner: CommandRunner, family: IPFamily, variant: IptablesVariant): Promise<number | undefined> {
  try {
    const result = await runner.run(iptablesTools(family, variant).save, []);
    if (result.exitCode !== 0) return undefined;
    return result.stdout.split('\n').filter((line) => /^(:|-A )KUBE-/.test(line)).length;
  } catch (err) {
    if (err instanceof ToolMissingError) return undefined;
    throw err;
  }
}

/**
 * Picks the iptables variant the node already uses for Kubernetes rules (mixing nft and legacy rules on one
 * node breaks both), else the system default that `iptables --version` names.
 */
export async function detectVariant(runner: CommandRunner, family: IPFamily): Promise<IptablesVariant> {
  const [nft, legacy] = await Promise.all([kubeLineCount(runner, family, 'nft'), kubeLineCount(runner, family, 'legacy')]);
  if ((legacy ?? 0) > (nft ?? 0)) return 'legacy';
  if ((nft ?? 0) > 0) return 'nft';
  if (nft === undefined && legacy === undefined) {
    // No variant binaries (an older distribution): use the plain commands, or fail clearly if even those are missing.
    await runner.run(iptablesTools(family, 'default').iptables, ['--version']);
    return 'default';
  }
  const version = await runner.run(iptablesTools(family, 'default').iptables, ['--version']).catch(() => undefined);
  if (version?.stdout.includes('legacy') && legacy !== undefined) return 'legacy';
  return nft !== undefined ? 'nft' : 'legacy';
}
