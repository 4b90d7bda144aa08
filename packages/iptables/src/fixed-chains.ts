import { KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_SERVICES } from './chain-names.js';
import type { PlannerOptions } from './planner-options.js';
import { masqueradeMark } from './planner-options.js';
import { ruleText, type BuiltinJump, type Rule } from './rule-plan.js';

const comment = (text: string): string[] => ['-m', 'comment', '--comment', text];

/** The masquerade pair: KUBE-MARK-MASQ tags a packet, KUBE-POSTROUTING masquerades tagged packets once. */
export function masqueradeChains(options: PlannerOptions, hairpinSet?: string): [string, Rule[]][] {
  const mark = masqueradeMark(options);
  const bit = mark.split('/')[0]!;
  // Inline endpoints have no KUBE-SEP chain to mark hairpin traffic in: after DNAT, a packet whose source is the
  // endpoint it was sent to (ip,proto:port,ip in the set) is marked here instead, as kube-proxy's IPVS mode does.
  // Only a DNATed connection can be hairpin traffic; the conntrack status test (native in nft) comes first, so
  // that every other new connection through the node skips the set lookup (an xt compat match on nft).
  const hairpin = hairpinSet ? [['-m', 'conntrack', '--ctstate', 'DNAT', '-m', 'set', '--match-set', hairpinSet, 'dst,dst,src', ...(options.comments ? comment('kubernetes hairpin: a Pod reaching itself through its Service') : []), '-j', KUBE_MARK_MASQ]] : [];
  return [
    [
      KUBE_POSTROUTING,
      [
        ...hairpin,
        ['-m', 'mark', '!', '--mark', mark, '-j', 'RETURN'],
        // Clear the bit so a re-traversal (e.g. through another namespace's rules) does not masquerade again.
        ['-j', 'MARK', '--xor-mark', bit],
        [...comment('kubernetes service traffic requiring SNAT'), '-j', 'MASQUERADE', '--random-fully'],
      ].map(ruleText),
    ],
    [KUBE_MARK_MASQ, [ruleText(['-j', 'MARK', '--or-mark', bit])]],
  ];
}

/**
 * The last rule of nat KUBE-SERVICES: local destinations go on to the node ports, once KUBE-NODEPORTS holds a rule.
 * A jump into an empty chain changes no packet's fate, but its addrtype test is a route lookup that every new
 * connection through the node would pay (about 0.5-1% of a connect, BENCHMARKS.md).
 */
export function nodePortsDispatch(nodePorts: readonly Rule[]): Rule[] {
  if (nodePorts.length === 0) return [];
  return [ruleText([...comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain'), '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', KUBE_NODEPORTS])];
}

/** Forwarding of service traffic that a host firewall with a DROP policy would otherwise lose. */
export function forwardChain(options: PlannerOptions): Rule[] {
  return [
    ['-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'],
    [...comment('kubernetes forwarding rules'), '-m', 'mark', '--mark', masqueradeMark(options), '-j', 'ACCEPT'],
    [...comment('kubernetes forwarding conntrack rule'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ].map(ruleText);
}

/** Jumps from the built-in chains into ours, as kube-proxy installs them. */
export function builtinJumps(): BuiltinJump[] {
  const portals = comment('kubernetes service portals');
  const newConnPortals = ['-m', 'conntrack', '--ctstate', 'NEW', ...portals];
  return [
    { table: 'nat', chain: 'PREROUTING', target: KUBE_SERVICES, match: portals },
    { table: 'nat', chain: 'OUTPUT', target: KUBE_SERVICES, match: portals },
    { table: 'nat', chain: 'POSTROUTING', target: KUBE_POSTROUTING, match: comment('kubernetes postrouting rules') },
    { table: 'filter', chain: 'INPUT', target: KUBE_SERVICES, match: newConnPortals },
    { table: 'filter', chain: 'FORWARD', target: KUBE_SERVICES, match: newConnPortals },
    { table: 'filter', chain: 'OUTPUT', target: KUBE_SERVICES, match: newConnPortals },
    { table: 'filter', chain: 'FORWARD', target: KUBE_FORWARD, match: comment('kubernetes forwarding rules') },
  ];
}

/** The last rules of filter KUBE-SERVICES: reject what is addressed to the Service ranges and matched no Service. */
export function unallocatedServiceIPRules(options: PlannerOptions): Rule[] {
  return options.serviceCIDRs
    .filter((cidr) => cidr.includes(':') === (options.family === 6))
    .map((cidr) => ruleText(['-d', cidr, ...(options.comments ? comment('reject traffic to unallocated ClusterIPs and unused ports') : []), '-j', 'REJECT']));
}
