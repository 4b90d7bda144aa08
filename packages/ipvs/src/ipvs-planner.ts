import { notLocalArgs, resolveLocalTraffic, masqueradeMark, ruleText, type BuiltinJump, type IpsetPlan, type Rule } from '@hybrid-proxy/iptables';
import { categorizeEndpoints, localTrafficMatch, NO_LOCAL_DETECTOR, type IPFamily, type LocalTrafficDetector, type Snapshot } from '@hybrid-proxy/model';
import { type IpvsPlan, type Scheduler, type VirtualServer } from './ipvs-plan.js';

export interface IpvsPlannerOptions {
  readonly family: IPFamily;
  readonly scheduler: Scheduler;
  /** What traffic is local (--detect-local-mode); traffic to a ClusterIP that is not is masqueraded. */
  readonly localTraffic: LocalTrafficDetector;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly nodeName: string;
  readonly zone: string;
}

export const defaultIpvsPlannerOptions: IpvsPlannerOptions = { family: 4, scheduler: 'rr', localTraffic: NO_LOCAL_DETECTOR, masqueradeAll: false, masqueradeBit: 14, nodeName: '', zone: '' };

const SET_TYPES = { clusterIP: 'hash:ip,port', loopBack: 'hash:ip,port,ip', ipvsIPs: 'hash:ip' } as const;
export const IPSET_NAMES = { clusterIP: 'KUBE-CLUSTER-IP', loopBack: 'KUBE-LOOP-BACK', ipvsIPs: 'KUBE-IPVS-IPS' } as const;

const comment = (text: string): string[] => ['-m', 'comment', '--comment', text];
const matchSet = (name: string, flags: string): string[] => ['-m', 'set', '--match-set', name, flags];

/** Pure: the IPVS state for one family. One virtual server per VIP:port, a real server per usable endpoint. */
export function planIpvs(snapshot: Snapshot, planned: IpvsPlannerOptions): IpvsPlan {
  const options = { ...planned, zone: snapshot.node?.zone || planned.zone, localTraffic: resolveLocalTraffic(planned.localTraffic, snapshot.node) };
  const v6 = options.family === 6;
  const addresses = new Set<string>();
  const virtualServers: VirtualServer[] = [];
  const clusterIPEntries: string[] = [];
  const loopBackEntries: string[] = [];
  for (const entry of snapshot.entries.values()) {
    const { service } = entry;
    const vip = service.clusterIPs.find((ip) => ip.includes(':') === v6);
    if (vip === undefined) continue;
    const protocol = service.protocol.toLowerCase() as VirtualServer['protocol'];
    addresses.add(vip);
    clusterIPEntries.push(`${vip},${protocol}:${service.port}`);
    // Terminating endpoints that still serve stay as weight-0 reals: their connections drain, no new ones arrive.
    const selected = categorizeEndpoints(entry, options.family, options).internal;
    const draining = entry.endpoints.filter((e) => e.family === options.family && e.terminating && e.serving && !selected.includes(e));
    const reals = [...selected.map((e) => ({ address: e.ip, port: e.port, weight: 1 })), ...draining.map((e) => ({ address: e.ip, port: e.port, weight: 0 }))];
    for (const real of reals) loopBackEntries.push(`${real.address},${protocol}:${real.port},${real.address}`);
    virtualServers.push({
      protocol,
      address: vip,
      port: service.port,
      scheduler: options.scheduler,
      persistence: service.sessionAffinity.type === 'ClientIP' ? service.sessionAffinity.timeoutSeconds : 0,
      reals,
      service: service.key,
    });
  }
  const family = v6 ? 'inet6' : 'inet';
  const ipsets: IpsetPlan[] = [
    { name: IPSET_NAMES.clusterIP, type: SET_TYPES.clusterIP, comment: 'Kubernetes service cluster ip + port for masquerade purpose', entries: [...new Set(clusterIPEntries)].sort() },
    { name: IPSET_NAMES.loopBack, type: SET_TYPES.loopBack, comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose', entries: [...new Set(loopBackEntries)].sort() },
    { name: IPSET_NAMES.ipvsIPs, type: SET_TYPES.ipvsIPs, comment: 'IPVS virtual server IP addresses', entries: [...addresses].sort() },
    // ipset's default maxelem (65536) is below one endpoint per member at 10k Services × 10 (KUBE-LOOP-BACK).
  ].map((set) => ({ ...set, name: v6 ? `${set.name}-6` : set.name, type: `${set.type} family ${family} hashsize 4096 maxelem 4194304` }));
  return { family: options.family, addresses: [...addresses].sort(), virtualServers, ipsets, iptables: fixedRules(options, ipsets) };
}

/** kube-proxy's IPVS-mode rules: a fixed handful, whatever the number of Services. */
function fixedRules(options: IpvsPlannerOptions, ipsets: readonly IpsetPlan[]) {
  const [clusterIP, loopBack, ipvsIPs] = ipsets.map((s) => s.name) as [string, string, string];
  const mark = masqueradeMark(options);
  const bit = mark.split('/')[0]!;
  const local = localTrafficMatch(options.localTraffic, options.family);
  const masqueradeRule = [...comment('Kubernetes service cluster ip + port for masquerade purpose'), ...matchSet(clusterIP, 'dst,dst'), '-j', 'KUBE-MARK-MASQ'];
  const masquerade: string[][] = options.masqueradeAll ? [masqueradeRule] : local ? [[...notLocalArgs(local), ...masqueradeRule]] : [];
  const nat = chains([
    ['KUBE-SERVICES', [...masquerade, [...matchSet(clusterIP, 'dst,dst'), '-j', 'ACCEPT']]],
    [
      'KUBE-POSTROUTING',
      [
        [...comment('Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose'), ...matchSet(loopBack, 'dst,dst,src'), '-j', 'MASQUERADE'],
        ['-m', 'mark', '!', '--mark', mark, '-j', 'RETURN'],
        ['-j', 'MARK', '--xor-mark', bit],
        [...comment('kubernetes service traffic requiring SNAT'), '-j', 'MASQUERADE', '--random-fully'],
      ],
    ],
    ['KUBE-MARK-MASQ', [['-j', 'MARK', '--or-mark', bit]]],
  ]);
  const filter = chains([
    [
      // Host services must not answer on ClusterIPs: kube-ipvs0 holds the VIPs, so without this a node's sshd
      // (say) would be reachable at every Service address.
      'KUBE-IPVS-FILTER',
      [
        [...matchSet(clusterIP, 'dst,dst'), '-j', 'RETURN'],
        ['-m', 'conntrack', '--ctstate', 'NEW', ...matchSet(ipvsIPs, 'dst'), '-j', 'REJECT'],
      ],
    ],
    [
      'KUBE-FORWARD',
      [
        ['-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'],
        [...comment('kubernetes forwarding rules'), '-m', 'mark', '--mark', mark, '-j', 'ACCEPT'],
        [...comment('kubernetes forwarding conntrack rule'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
      ],
    ],
  ]);
  const jumps: BuiltinJump[] = [
    { table: 'nat', chain: 'PREROUTING', target: 'KUBE-SERVICES', match: comment('kubernetes service portals') },
    { table: 'nat', chain: 'OUTPUT', target: 'KUBE-SERVICES', match: comment('kubernetes service portals') },
    { table: 'nat', chain: 'POSTROUTING', target: 'KUBE-POSTROUTING', match: comment('kubernetes postrouting rules') },
    { table: 'filter', chain: 'INPUT', target: 'KUBE-IPVS-FILTER', match: comment('kubernetes ipvs access filter') },
    { table: 'filter', chain: 'FORWARD', target: 'KUBE-FORWARD', match: comment('kubernetes forwarding rules') },
  ];
  // IPVS mode's sets are kept by IpvsExecutor, beside the virtual servers they mirror.
  return { family: options.family, tables: { nat, filter }, jumps, ipsets: [] };
}

/** Chains from each rule's arguments. */
function chains(list: readonly (readonly [string, readonly (readonly string[])[]])[]): Map<string, readonly Rule[]> {
  return new Map(list.map(([chain, rules]) => [chain, rules.map(ruleText)]));
}
