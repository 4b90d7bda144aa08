import type { IPFamily, NodeInfo } from './types.js';

/**
 * How a proxy tells traffic from this node's Pods ("local") apart from the rest, as kube-proxy's
 * `--detect-local-mode`. Non-local traffic to a ClusterIP is masqueraded, so replies come back through the node.
 */
export type LocalTrafficDetector =
  /** Sources inside the cluster's Pod range; at most one CIDR per family. */
  | { readonly mode: 'ClusterCIDR'; readonly cidrs: readonly string[] }
  /** Sources inside this node's Pod ranges (the Node's spec.podCIDRs). */
  | { readonly mode: 'NodeCIDR' }
  /** Packets arriving from this bridge (the Pods' bridge, e.g. cbr0). */
  | { readonly mode: 'BridgeInterface'; readonly bridgeInterface: string }
  /** Packets arriving from interfaces whose names start with the prefix (the Pods' veths). */
  | { readonly mode: 'InterfaceNamePrefix'; readonly interfaceNamePrefix: string }
  /** No detector: only hairpin traffic is masqueraded. */
  | { readonly mode: 'None' };

export type LocalTrafficMode = LocalTrafficDetector['mode'];
export const LOCAL_TRAFFIC_MODES: readonly LocalTrafficMode[] = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];

export const NO_LOCAL_DETECTOR: LocalTrafficDetector = { mode: 'None' };

/** What one family's rules match as local traffic; undefined when that family has no detector. */
export type LocalTrafficMatch = { readonly sourceCIDR: string } | { readonly inInterface: string } | undefined;

const familyOf = (cidr: string): IPFamily => (cidr.includes(':') ? 6 : 4);

/**
 * The detector for one family. A family with no CIDR of its own gets no detector, never the other family's:
 * an IPv4 range in ip6tables input is refused and fails every sync.
 */
export function localTrafficMatch(detector: LocalTrafficDetector, family: IPFamily, node?: NodeInfo): LocalTrafficMatch {
  switch (detector.mode) {
    case 'ClusterCIDR':
      return sourceMatch(detector.cidrs, family);
    case 'NodeCIDR':
      return sourceMatch(node?.podCIDRs ?? [], family);
    case 'BridgeInterface':
      return { inInterface: detector.bridgeInterface };
    case 'InterfaceNamePrefix':
      // iptables' wildcard: `veth+` matches every interface whose name starts with `veth`.
      return { inInterface: `${detector.interfaceNamePrefix}+` };
    case 'None':
      return undefined;
  }
}

function sourceMatch(cidrs: readonly string[], family: IPFamily): LocalTrafficMatch {
  const cidr = cidrs.find((c) => familyOf(c) === family);
  return cidr === undefined ? undefined : { sourceCIDR: cidr };
}
