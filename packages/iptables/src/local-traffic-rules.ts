import type { LocalTrafficDetector, LocalTrafficMatch, NodeInfo } from '@hybrid-proxy/model';

/**
 * NodeCIDR reads the Node's Pod ranges: resolved here, once per plan, into the CIDRs they are, so that every rule
 * of the plan (and the plan memo's options key) sees a detector that needs no node.
 */
export function resolveLocalTraffic(detector: LocalTrafficDetector, node: NodeInfo | undefined): LocalTrafficDetector {
  return detector.mode === 'NodeCIDR' ? { mode: 'ClusterCIDR', cidrs: node?.podCIDRs ?? [] } : detector;
}

/** The arguments that match traffic that is not local (kube-proxy's IfNotLocal), for rules in argument arrays. */
export function notLocalArgs(match: NonNullable<LocalTrafficMatch>): readonly string[] {
  return 'sourceCIDR' in match ? ['!', '-s', match.sourceCIDR] : ['!', '-i', match.inInterface];
}

/** The arguments that match local traffic (kube-proxy's IfLocal). */
export function localArgs(match: NonNullable<LocalTrafficMatch>): readonly string[] {
  return 'sourceCIDR' in match ? ['-s', match.sourceCIDR] : ['-i', match.inInterface];
}

/**
 * `rule`, which starts with `-d ADDRESS`, for traffic that is not local. The match goes where iptables-save prints
 * it (`-s` before `-d`, `-i` after it), so that a read-back compares as text.
 */
export function ifNotLocal(match: NonNullable<LocalTrafficMatch>, rule: string): string {
  if ('sourceCIDR' in match) return `! -s ${match.sourceCIDR} ${rule}`;
  const afterAddress = rule.indexOf(' ', 3);
  return `${rule.slice(0, afterAddress)} ! -i ${match.inInterface}${rule.slice(afterAddress)}`;
}
