import { KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_LOCALNET_FIREWALL, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_FIREWALL, KUBE_SERVICES } from './chain-names.js';
import type { Dispatch, PlannerOptions } from './planner-options.js';
import { localhostNodePortsActive, masqueradeMark } from './planner-options.js';
import type { NodePortBlock } from './nodeport-tree.js';
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
 * The last rules of nat KUBE-SERVICES: local destinations go on to the node ports, once KUBE-NODEPORTS holds a rule.
 * A jump into an empty chain changes no packet's fate, but its addrtype test is a route lookup that every new
 * connection through the node would pay (about 0.5-1% of a connect, BENCHMARKS.md). The tree layout (`blocks`: the
 * node-port tree's root blocks) tests the destination port against the blocks that hold node ports first, a plain
 * compare, so that a connection to any other port skips the lookup too. With --nodeport-addresses, one rule per
 * address instead; loopback answers only on IPv4 with localhost node ports, as in kube-proxy.
 */
export function nodePortsDispatch(options: Pick<PlannerOptions, 'family' | 'localhostNodePorts' | 'nodePortAddresses'>, nodePorts: boolean, blocks?: readonly NodePortBlock[]): Rule[] {
  if (!nodePorts) return [];
  const note = comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain');
  const v6 = options.family === 6;
  if (options.nodePortAddresses === 'all') {
    const loopback = v6 ? ['!', '-d', '::1/128'] : options.localhostNodePorts ? [] : ['!', '-d', '127.0.0.0/8'];
    const local = [...note, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', KUBE_NODEPORTS];
    if (!blocks) return [ruleText([...loopback, ...local])];
    return blocks.map(([proto, first, last]) => ruleText([...loopback, '-p', proto, '-m', proto, '--dport', `${first}:${last}`, ...local]));
  }
  return options.nodePortAddresses
    .filter((ip) => ip.includes(':') === v6 && !(isLoopback(ip) && !localhostNodePortsActive(options)))
    .map((ip) => ruleText(['-d', `${ip}${v6 ? '/128' : '/32'}`, ...note, '-j', KUBE_NODEPORTS]));
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.');

/**
 * kube-proxy's martian guard for route_localnet: with it on, a packet from outside addressed to 127.0.0.1 would
 * be routed; only connections we DNATed (localhost node ports) or that are already established may use it.
 */
export function localnetFirewall(): Rule[] {
  return [ruleText(['!', '-s', '127.0.0.0/8', '-d', '127.0.0.0/8', ...comment('block incoming localnet connections'), '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'DROP'])];
}

/** Which of the filter chains that new connections are sent to hold rules (the tree layout jumps only into those). */
export interface FilledFilterChains {
  readonly external: boolean;
  readonly services: boolean;
  readonly firewall: boolean;
}

/**
 * Forwarding of service traffic that a host firewall with a DROP policy would otherwise lose. Every forwarded packet
 * of the node walks this chain, so the tree layout accepts established packets first, where kube-proxy's order
 * (linear) has them wait for two rules: the same verdicts, as a packet is never both INVALID and ESTABLISHED.
 * The tree layout also sends new connections on from here to the filter chains that hold rules, in the order
 * kube-proxy's FORWARD jumps reach them, instead of three FORWARD jumps that each test every forwarded packet and
 * lead a new one into chains that are mostly empty: a connection through the node that is no Service's skips them.
 */
export function forwardChain(options: PlannerOptions, filled: FilledFilterChains): Rule[] {
  const invalid = ['-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'];
  const marked = [...comment('kubernetes forwarding rules'), '-m', 'mark', '--mark', masqueradeMark(options), '-j', 'ACCEPT'];
  const established = [...comment('kubernetes forwarding conntrack rule'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'];
  if (options.dispatch === 'linear') return [invalid, marked, established].map(ruleText);
  const onward = FORWARD_NEW_JUMPS.filter(({ filledBy }) => filled[filledBy]).map(({ target, match }) => [...match, '-j', target]);
  return [established, invalid, marked, ...onward].map(ruleText);
}

const portals = comment('kubernetes service portals');
const newConn = ['-m', 'conntrack', '--ctstate', 'NEW'];
const firewall = { table: 'filter', target: KUBE_PROXY_FIREWALL, match: [...newConn, ...comment('kubernetes load balancer firewall')] } as const;
const external = { table: 'filter', target: KUBE_EXTERNAL_SERVICES, match: [...newConn, ...comment('kubernetes externally-visible service portals')] } as const;
const services = { table: 'filter', target: KUBE_SERVICES, match: [...newConn, ...portals] } as const;
/** kube-proxy's FORWARD jumps for new connections, in the order a packet meets them (each is inserted first). */
const FORWARD_NEW_JUMPS = [
  { ...external, filledBy: 'external' },
  { ...services, filledBy: 'services' },
  { ...firewall, filledBy: 'firewall' },
] as const;

/**
 * Jumps from the built-in chains into ours, as kube-proxy installs them (each is inserted first, so the last listed
 * is met first). `localnet`: the route_localnet guard too. The tree layout leaves FORWARD's jumps for new
 * connections to KUBE-FORWARD (forwardChain); the default, linear, is every jump either layout may have installed.
 */
export function builtinJumps(localnet = false, dispatch: Dispatch = 'linear'): BuiltinJump[] {
  // Inserted first each, so listed in the reverse of the order a packet meets them.
  const forwardNew = dispatch === 'linear' ? [...FORWARD_NEW_JUMPS].reverse().map(({ filledBy: _, ...jump }) => ({ ...jump, chain: 'FORWARD' })) : [];
  return [
    { table: 'nat', chain: 'PREROUTING', target: KUBE_SERVICES, match: portals },
    { table: 'nat', chain: 'OUTPUT', target: KUBE_SERVICES, match: portals },
    { table: 'nat', chain: 'POSTROUTING', target: KUBE_POSTROUTING, match: comment('kubernetes postrouting rules') },
    { ...firewall, chain: 'INPUT' },
    { table: 'filter', chain: 'INPUT', target: KUBE_NODEPORTS, match: comment('kubernetes health check service ports') },
    { ...external, chain: 'INPUT' },
    { ...services, chain: 'INPUT' },
    ...forwardNew,
    { ...firewall, chain: 'OUTPUT' },
    { ...services, chain: 'OUTPUT' },
    { table: 'filter', chain: 'FORWARD', target: KUBE_FORWARD, match: comment('kubernetes forwarding rules') },
    ...(localnet
      ? ([
          { table: 'filter', chain: 'INPUT', target: KUBE_LOCALNET_FIREWALL, match: [] },
          { table: 'filter', chain: 'OUTPUT', target: KUBE_LOCALNET_FIREWALL, match: [] },
        ] as const)
      : []),
  ];
}

/** The last rules of filter KUBE-SERVICES: reject what is addressed to the Service ranges and matched no Service. */
export function unallocatedServiceIPRules(options: PlannerOptions): Rule[] {
  return options.serviceCIDRs
    .filter((cidr) => cidr.includes(':') === (options.family === 6))
    .map((cidr) => ruleText(['-d', cidr, ...(options.comments ? comment('reject traffic to unallocated ClusterIPs and unused ports') : []), '-j', 'REJECT']));
}
