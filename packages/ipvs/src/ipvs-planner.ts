import { resolveLocalTraffic } from '@hybrid-proxy/iptables';
import { categorizeEndpoints, cidrContains, NO_LOCAL_DETECTOR, OverlayMap, type Endpoint, type IPFamily, type LocalTrafficDetector, type ServiceEntry, type Snapshot } from '@hybrid-proxy/model';
import { type IpvsPlan, type RealServer, type Scheduler, type VirtualServer } from './ipvs-plan.js';
import { fixedRules } from './ipvs-rules.js';
import { ipvsSets, type IpvsSetKey } from './ipvs-sets.js';

export interface IpvsPlannerOptions {
  readonly family: IPFamily;
  readonly scheduler: Scheduler;
  /** What traffic is local (--detect-local-mode); traffic to a ClusterIP that is not is masqueraded. */
  readonly localTraffic: LocalTrafficDetector;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly nodeName: string;
  readonly zone: string;
  /**
   * The node addresses of this family that take node ports (--nodeport-addresses, resolved): a virtual server per
   * address and node port. Never loopback (IPVS does not serve it) nor kube-ipvs0's own addresses. None by default.
   */
  readonly nodePortAddresses?: readonly string[];
}

export const defaultIpvsPlannerOptions: IpvsPlannerOptions = { family: 4, scheduler: 'rr', localTraffic: NO_LOCAL_DETECTOR, masqueradeAll: false, masqueradeBit: 14, nodeName: '', zone: '' };

const NODE_PORT_SETS = {
  tcp: { cluster: 'nodePortTCP', local: 'nodePortLocalTCP' },
  udp: { cluster: 'nodePortUDP', local: 'nodePortLocalUDP' },
  sctp: { cluster: 'nodePortSCTP', local: 'nodePortLocalSCTP' },
} as const satisfies Record<VirtualServer['protocol'], { cluster: IpvsSetKey; local: IpvsSetKey }>;

/** `ipset save` spells a host route in a hash:…,net set without its prefix length. */
const netMember = (cidr: string) => cidr.replace(/\/(32|128)$/, '');

/** One Service port's share of a plan. Unchanged entries keep theirs (same objects) from one plan to the next. */
interface Fragment {
  readonly virtualServers: readonly VirtualServer[];
  /** kube-ipvs0 addresses: its ClusterIP, external IPs and load-balancer IPs. */
  readonly addresses: readonly string[];
  readonly members: ReadonlyMap<IpvsSetKey, readonly string[]>;
}

/**
 * Unchanged Service ports keep their fragment from the last plan, as long as the options and the node's addresses
 * are the same: a plan then costs a lookup per Service port, and the executor diffs only the fragments that changed.
 * With the last plan's groups kept too, a snapshot of the same lineage (the watcher's) is planned in O(changed).
 */
export interface IpvsPlanMemo {
  context: string;
  fragments: WeakMap<ServiceEntry, Fragment>;
  last?: PlannedGroups;
}

/** The last plan's groups, by owner (the snapshot's Service-port key): what the next plan patches. */
interface PlannedGroups {
  readonly entries: ReadonlyMap<string, ServiceEntry>;
  readonly virtualServers: OverlayMap<string, readonly VirtualServer[]>;
  readonly members: ReadonlyMap<IpvsSetKey, OverlayMap<string, readonly string[]>>;
  readonly addresses: OverlayMap<string, readonly string[]>;
}

export const createIpvsPlanMemo = (): IpvsPlanMemo => ({ context: '', fragments: new WeakMap() });

/**
 * Pure: the IPVS state for one family. A virtual server per ClusterIP, external IP and load-balancer IP on the
 * Service port, and per node address on the node port; a real server per usable endpoint (this node's only, for
 * external traffic of a Local Service). External traffic of a Cluster Service is masqueraded; of a Local one, not.
 * Virtual servers, set members and kube-ipvs0 addresses are also grouped by Service port, for partial syncs.
 */
export function planIpvs(snapshot: Snapshot, planned: IpvsPlannerOptions, memo?: IpvsPlanMemo): IpvsPlan {
  const options = { ...planned, zone: snapshot.node?.zone || planned.zone, localTraffic: resolveLocalTraffic(planned.localTraffic, snapshot.node) };
  const v6 = options.family === 6;
  const ofFamily = (ips: readonly string[]) => ips.filter((ip) => ip.includes(':') === v6);
  const context: EntryContext = { options, nodeIPs: ofFamily(snapshot.node?.addresses ?? []), nodePortAddresses: ofFamily(options.nodePortAddresses ?? []) };
  const key = JSON.stringify(context);
  if (memo && memo.context !== key) Object.assign(memo, { context: key, fragments: new WeakMap(), last: undefined });
  const fragmentOf = (entry: ServiceEntry): Fragment => {
    let fragment = memo?.fragments.get(entry);
    if (!fragment) {
      fragment = planEntry(entry, context);
      memo?.fragments.set(entry, fragment);
    }
    return fragment;
  };
  const groups = (memo?.last && patchGroups(memo.last, snapshot.entries, fragmentOf)) ?? groupAll(snapshot.entries, fragmentOf);
  if (memo) memo.last = groups;
  let flat: VirtualServer[] | undefined;
  let addresses: string[] | undefined;
  return {
    family: options.family,
    get addresses() {
      return (addresses ??= [...new Set([...groups.addresses.values()].flat())].sort());
    },
    addressGroups: groups.addresses,
    get virtualServers() {
      return (flat ??= [...groups.virtualServers.values()].flat());
    },
    virtualServerGroups: groups.virtualServers,
    ipsets: ipvsSets(options.family, groups.members),
    iptables: fixedRules(options),
  };
}

/** Every Service port's fragment, grouped by owner. */
function groupAll(entries: ReadonlyMap<string, ServiceEntry>, fragmentOf: (entry: ServiceEntry) => Fragment): PlannedGroups {
  const virtualServers = new Map<string, readonly VirtualServer[]>();
  const members = new Map<IpvsSetKey, Map<string, readonly string[]>>();
  const addresses = new Map<string, readonly string[]>();
  for (const [owner, entry] of entries) {
    const fragment = fragmentOf(entry);
    if (fragment.virtualServers.length === 0) continue;
    virtualServers.set(owner, fragment.virtualServers);
    addresses.set(owner, fragment.addresses);
    for (const [set, list] of fragment.members) {
      let groups = members.get(set);
      if (!groups) members.set(set, (groups = new Map()));
      groups.set(owner, list);
    }
  }
  const overlays = new Map([...members].map(([set, groups]) => [set, OverlayMap.over(groups)] as const));
  return { entries, virtualServers: OverlayMap.over(virtualServers), members: overlays, addresses: OverlayMap.over(addresses) };
}

/**
 * The last groups with the changed Service ports' fragments swapped in: the keys the snapshots' overlays name.
 * Undefined when the snapshots share no lineage or so much changed that grouping afresh is cheaper.
 */
function patchGroups(last: PlannedGroups, entries: ReadonlyMap<string, ServiceEntry>, fragmentOf: (entry: ServiceEntry) => Fragment): PlannedGroups | undefined {
  if (entries === last.entries) return last;
  const candidates = OverlayMap.changedKeys(last.entries, entries);
  if (!candidates) return undefined;
  const limit = Math.max(64, entries.size >> 4);
  const virtualServers: [string, readonly VirtualServer[] | undefined][] = [];
  const addresses: [string, readonly string[] | undefined][] = [];
  const members = new Map<IpvsSetKey, [string, readonly string[] | undefined][]>();
  for (const owner of candidates) {
    const entry = entries.get(owner);
    if (entry === last.entries.get(owner)) continue;
    if (virtualServers.length >= limit) return undefined;
    const fragment = entry ? fragmentOf(entry) : EMPTY_FRAGMENT;
    const serves = fragment.virtualServers.length > 0;
    virtualServers.push([owner, serves ? fragment.virtualServers : undefined]);
    addresses.push([owner, serves ? fragment.addresses : undefined]);
    const sets = new Set<IpvsSetKey>(fragment.members.keys());
    for (const [set, groups] of last.members) if (groups.has(owner)) sets.add(set);
    for (const set of sets) {
      const list = serves ? fragment.members.get(set) : undefined;
      members.set(set, [...(members.get(set) ?? []), [owner, list]]);
    }
  }
  const patched = new Map(last.members);
  for (const [set, updates] of members) patched.set(set, (last.members.get(set) ?? OverlayMap.over(new Map<string, readonly string[]>())).patch(updates));
  return { entries, virtualServers: last.virtualServers.patch(virtualServers), members: patched, addresses: last.addresses.patch(addresses) };
}

interface EntryContext {
  readonly options: IpvsPlannerOptions;
  readonly nodeIPs: readonly string[];
  readonly nodePortAddresses: readonly string[];
}

/** One Service port's virtual servers, kube-ipvs0 addresses and set members. Pure. */
function planEntry(entry: ServiceEntry, { options, nodeIPs, nodePortAddresses }: EntryContext): Fragment {
  const { service } = entry;
  const v6 = options.family === 6;
  const ofFamily = (ips: readonly string[]) => ips.filter((ip) => ip.includes(':') === v6);
  const vip = service.clusterIPs.find((ip) => ip.includes(':') === v6);
  if (vip === undefined) return EMPTY_FRAGMENT;
  const virtualServers: VirtualServer[] = [];
  const addresses: string[] = [];
  const members = new Map<IpvsSetKey, string[]>();
  const add = (set: IpvsSetKey, member: string) => {
    let list = members.get(set);
    if (!list) members.set(set, (list = []));
    list.push(member);
  };
  const protocol = service.protocol.toLowerCase() as VirtualServer['protocol'];
  const onPort = (port: number) => portText(protocol, port);
  const categories = categorizeEndpoints(entry, options.family, options);
  const externalLocal = service.externalTrafficPolicy === 'Local';
  const internal = realServers(entry, options.family, categories.internal, service.internalTrafficPolicy === 'Local' ? options.nodeName : undefined);
  const external = categories.external === categories.internal ? internal : realServers(entry, options.family, categories.external, externalLocal ? options.nodeName : undefined);
  const virtualServer = (address: string, port: number, reals: readonly RealServer[]): VirtualServer => ({
    protocol,
    address,
    port,
    scheduler: options.scheduler,
    persistence: service.sessionAffinity.type === 'ClientIP' ? service.sessionAffinity.timeoutSeconds : 0,
    reals,
    service: service.key,
  });
  const bind = (address: string, reals: readonly RealServer[]) => {
    addresses.push(address);
    add('ipvsIPs', address);
    virtualServers.push(virtualServer(address, service.port, reals));
  };

  bind(vip, internal);
  add('clusterIP', flat(vip, ',', onPort(service.port)));
  for (const real of internal) add('loopBack', flat(real.address, ',', onPort(real.port), ',', real.address));
  if (external !== internal) for (const real of external) if (!internal.some((r) => r.address === real.address && r.port === real.port)) add('loopBack', flat(real.address, ',', onPort(real.port), ',', real.address));

  for (const ip of ofFamily(service.externalIPs)) {
    bind(ip, external);
    add(externalLocal ? 'externalIPLocal' : 'externalIP', flat(ip, ',', onPort(service.port)));
  }

  const ranges = ofFamily(service.loadBalancerSourceRanges);
  for (const ip of ofFamily(service.loadBalancerIPs)) {
    bind(ip, external);
    const member = flat(ip, ',', onPort(service.port));
    add('loadBalancer', member);
    if (externalLocal) add('loadBalancerLocal', member);
    if (service.loadBalancerSourceRanges.length === 0) continue;
    // Source ranges of the other family only: this family's clients are all outside them.
    add('loadBalancerFW', member);
    for (const cidr of ranges) add('loadBalancerSourceCIDR', `${member},${netMember(cidr)}`);
    // The node reaching its own bound LB IP does so from that IP: admitted when the ranges admit the node.
    if (nodeIPs.some((nodeIP) => ranges.some((cidr) => cidrContains(cidr, nodeIP)))) add('loadBalancerSourceIP', `${member},${ip}`);
  }

  if (service.nodePort !== 0 && nodePortAddresses.length > 0) {
    const setKeys = NODE_PORT_SETS[protocol];
    for (const address of nodePortAddresses) virtualServers.push(virtualServer(address, service.nodePort, external));
    const nodePortMembers = protocol === 'sctp' ? nodePortAddresses.map((address) => `${address},${onPort(service.nodePort)}`) : [String(service.nodePort)];
    for (const member of nodePortMembers) {
      add(setKeys.cluster, member);
      if (externalLocal) add(setKeys.local, member);
    }
  }
  if (service.healthCheckNodePort !== 0) add('healthCheckNodePort', String(service.healthCheckNodePort));
  return { virtualServers, addresses, members };
}

const EMPTY_FRAGMENT: Fragment = { virtualServers: [], addresses: [], members: new Map() };

/**
 * A set member as one flat string. A template literal of five parts is a tree of four ropes in V8, and a plan at
 * 10k Services × 10 keeps 110k members for as long as it is the last one (15 MiB as ropes, 5 MiB flat).
 */
const flat = (...parts: string[]): string => parts.join('');

/** `tcp:8080`, one string per protocol and port: every endpoint of a Service port shares it. */
const portTexts = new Map<string, string>();
function portText(protocol: string, port: number): string {
  const key = protocol + port;
  let text = portTexts.get(key);
  if (text === undefined) portTexts.set(key, (text = `${protocol}:${port}`));
  return text;
}

/**
 * The real servers for a set of selected endpoints. Terminating endpoints that still serve stay as weight-0 reals:
 * their connections drain, no new ones arrive. `onlyNode`: a Local policy's, whose draining endpoints are its own.
 */
function realServers(entry: ServiceEntry, family: IPFamily, selected: readonly Endpoint[], onlyNode: string | undefined): RealServer[] {
  const draining = entry.endpoints.filter((e) => e.family === family && e.terminating && e.serving && !selected.includes(e) && (onlyNode === undefined || e.nodeName === onlyNode));
  return [...selected.map((e) => ({ address: e.ip, port: e.port, weight: 1 })), ...draining.map((e) => ({ address: e.ip, port: e.port, weight: 0 }))];
}
