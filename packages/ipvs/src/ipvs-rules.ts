import { localArgs, masqueradeMark, notLocalArgs, ruleText, type BuiltinJump, type IptablesPlan, type Rule } from '@hybrid-proxy/iptables';
import { localTrafficMatch, type IPFamily, type LocalTrafficDetector } from '@hybrid-proxy/model';
import { IPVS_SETS, ipvsSetName, type IpvsSetKey } from './ipvs-sets.js';

export interface FixedRuleOptions {
  readonly family: IPFamily;
  readonly localTraffic: LocalTrafficDetector;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
}

const comment = (text: string): string[] => ['-m', 'comment', '--comment', text];
const LOCAL_DST = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
const CHAINS = { services: 'KUBE-SERVICES', loadBalancer: 'KUBE-LOAD-BALANCER', nodePort: 'KUBE-NODE-PORT', markMasq: 'KUBE-MARK-MASQ', postrouting: 'KUBE-POSTROUTING' } as const;
const FILTER_CHAINS = { ipvsFilter: 'KUBE-IPVS-FILTER', forward: 'KUBE-FORWARD', nodePort: 'KUBE-NODE-PORT', firewall: 'KUBE-PROXY-FIREWALL', sourceRanges: 'KUBE-SOURCE-RANGES-FIREWALL' } as const;

/**
 * kube-proxy's IPVS-mode rules: a fixed list keyed on the sets, whatever the number of Services. Unlike kube-proxy,
 * a rule whose set is empty is written all the same, so that the rules never change with the Services and a sync
 * rewrites no chain.
 */
export function fixedRules(options: FixedRuleOptions): IptablesPlan {
  const set = (key: IpvsSetKey, flags: string) => [...comment(IPVS_SETS[key].comment), '-m', 'set', '--match-set', ipvsSetName(key, options.family), flags];
  const bare = (key: IpvsSetKey, flags: string) => ['-m', 'set', '--match-set', ipvsSetName(key, options.family), flags];
  const mark = masqueradeMark(options);
  const bit = mark.split('/')[0]!;
  const local = localTrafficMatch(options.localTraffic, options.family);
  const clusterIPMasquerade = options.masqueradeAll ? [[...set('clusterIP', 'dst,dst'), '-j', CHAINS.markMasq]] : local ? [[...notLocalArgs(local), ...set('clusterIP', 'dst,dst'), '-j', CHAINS.markMasq]] : [];
  // Off-node traffic to an external IP, or traffic to one that is also a local address (a cloud LB's VIP on the node).
  const acceptExternal = (key: IpvsSetKey) => [
    [...set(key, 'dst,dst'), '-m', 'physdev', '!', '--physdev-is-in', '-m', 'addrtype', '!', '--src-type', 'LOCAL', '-j', 'ACCEPT'],
    [...set(key, 'dst,dst'), ...LOCAL_DST, '-j', 'ACCEPT'],
  ];
  const nodePortRules = (['tcp', 'udp', 'sctp'] as const).flatMap((protocol) => {
    const [localSet, clusterSet, flags] = protocol === 'sctp' ? (['nodePortLocalSCTP', 'nodePortSCTP', 'dst,dst'] as const) : protocol === 'tcp' ? (['nodePortLocalTCP', 'nodePortTCP', 'dst'] as const) : (['nodePortLocalUDP', 'nodePortUDP', 'dst'] as const);
    // Local policy first: its node ports keep the client's address.
    return [
      ['-p', protocol, ...set(localSet, flags), '-j', 'RETURN'],
      ['-p', protocol, ...set(clusterSet, flags), '-j', CHAINS.markMasq],
    ];
  });
  const nat = chains([
    [
      CHAINS.services,
      [
        [...set('loadBalancer', 'dst,dst'), '-j', CHAINS.loadBalancer],
        ...clusterIPMasquerade,
        [...set('externalIP', 'dst,dst'), '-j', CHAINS.markMasq],
        ...acceptExternal('externalIP'),
        ...acceptExternal('externalIPLocal'),
        [...LOCAL_DST, '-j', CHAINS.nodePort],
        // IPVS does the translation: accept what it serves, in case later rules of the node would block it.
        [...bare('clusterIP', 'dst,dst'), '-j', 'ACCEPT'],
        [...bare('loadBalancer', 'dst,dst'), '-j', 'ACCEPT'],
      ],
    ],
    [CHAINS.loadBalancer, [[...set('loadBalancerLocal', 'dst,dst'), '-j', 'RETURN'], ['-j', CHAINS.markMasq]]],
    [CHAINS.nodePort, nodePortRules],
    [
      CHAINS.postrouting,
      [
        [...set('loopBack', 'dst,dst,src'), '-j', 'MASQUERADE'],
        ['-m', 'mark', '!', '--mark', mark, '-j', 'RETURN'],
        ['-j', 'MARK', '--xor-mark', bit],
        [...comment('kubernetes service traffic requiring SNAT'), '-j', 'MASQUERADE', '--random-fully'],
      ],
    ],
    [CHAINS.markMasq, [['-j', 'MARK', '--or-mark', bit]]],
  ]);
  const filter = chains([
    [
      // Host services must not answer on the addresses of kube-ipvs0: without this a node's sshd (say) would be
      // reachable at every Service address. What IPVS serves there returns first.
      FILTER_CHAINS.ipvsFilter,
      [
        [...bare('loadBalancer', 'dst,dst'), '-j', 'RETURN'],
        [...bare('clusterIP', 'dst,dst'), '-j', 'RETURN'],
        [...bare('externalIP', 'dst,dst'), '-j', 'RETURN'],
        [...bare('externalIPLocal', 'dst,dst'), '-j', 'RETURN'],
        [...bare('healthCheckNodePort', 'dst'), '-j', 'RETURN'],
        ['-m', 'conntrack', '--ctstate', 'NEW', ...bare('ipvsIPs', 'dst'), '-j', 'REJECT'],
      ],
    ],
    [
      FILTER_CHAINS.forward,
      [
        ['-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'],
        [...comment('kubernetes forwarding rules'), '-m', 'mark', '--mark', mark, '-j', 'ACCEPT'],
        [...comment('kubernetes forwarding conntrack rule'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
      ],
    ],
    [FILTER_CHAINS.nodePort, [[...set('healthCheckNodePort', 'dst'), '-j', 'ACCEPT']]],
    [FILTER_CHAINS.firewall, [[...set('loadBalancerFW', 'dst,dst'), '-j', FILTER_CHAINS.sourceRanges]]],
    [
      FILTER_CHAINS.sourceRanges,
      [
        [...set('loadBalancerSourceCIDR', 'dst,dst,src'), '-j', 'RETURN'],
        [...set('loadBalancerSourceIP', 'dst,dst,src'), '-j', 'RETURN'],
        // As in the iptables mode: the node's own Pods keep reaching the LB IP, wherever the ranges put them.
        ...(local ? [[...localArgs(local), '-j', 'RETURN']] : []),
        ['-j', 'DROP'],
      ],
    ],
  ]);
  const jump = (table: 'nat' | 'filter', chain: string, target: string, text: string): BuiltinJump => ({ table, chain, target, match: comment(text) });
  const jumps: BuiltinJump[] = [
    jump('nat', 'PREROUTING', CHAINS.services, 'kubernetes service portals'),
    jump('nat', 'OUTPUT', CHAINS.services, 'kubernetes service portals'),
    jump('nat', 'POSTROUTING', CHAINS.postrouting, 'kubernetes postrouting rules'),
    jump('filter', 'INPUT', FILTER_CHAINS.ipvsFilter, 'kubernetes ipvs access filter'),
    jump('filter', 'FORWARD', FILTER_CHAINS.forward, 'kubernetes forwarding rules'),
    jump('filter', 'INPUT', FILTER_CHAINS.nodePort, 'kubernetes health check rules'),
    jump('filter', 'INPUT', FILTER_CHAINS.firewall, 'kube-proxy firewall rules'),
    jump('filter', 'FORWARD', FILTER_CHAINS.firewall, 'kube-proxy firewall rules'),
  ];
  // IPVS mode's sets are kept by IpvsExecutor, beside the virtual servers they mirror.
  return { family: options.family, tables: { nat, filter }, jumps, ipsets: [] };
}

/** Chains from each rule's arguments. */
function chains(list: readonly (readonly [string, readonly (readonly string[])[]])[]): Map<string, readonly Rule[]> {
  return new Map(list.map(([chain, rules]) => [chain, rules.map(ruleText)]));
}
