import { NO_LOCAL_DETECTOR, type IPFamily, type LocalTrafficDetector, type NodeIdentity } from '@hybrid-proxy/model';

export interface PlannerOptions extends NodeIdentity {
  readonly family: IPFamily;
  /**
   * What traffic is local (kube-proxy's --detect-local-mode): traffic to a ClusterIP that is not is masqueraded.
   * A family the detector has nothing for (no CIDR of that family) masquerades only hairpin traffic.
   */
  readonly localTraffic: LocalTrafficDetector;
  /** Masquerade every packet sent to a ClusterIP (kube-proxy's --masquerade-all). */
  readonly masqueradeAll: boolean;
  /** The fwmark bit that KUBE-MARK-MASQ sets (kube-proxy's --iptables-masquerade-bit, default 14 → 0x4000). */
  readonly masqueradeBit: number;
  /**
   * The Service IP ranges. New connections to an address in them that no Service port claims are rejected, as
   * kube-proxy's nftables mode does, instead of leaking to the default route and timing out.
   */
  readonly serviceCIDRs: readonly string[];
  /** Rule comments cost memory and restore time; kube-proxy drops them in large clusters. */
  readonly comments: boolean;
  /** Above this many endpoints in total, rules carry no comments (kube-proxy's largeClusterEndpointsThreshold). */
  readonly commentsEndpointThreshold: number;
  /**
   * How nat KUBE-SERVICES reaches a Service: `tree`, a gate set and a 16×16 goto tree (see dispatch-tree.ts), or
   * `linear`, kube-proxy's one rule per Service port, kept as the baseline.
   */
  readonly dispatch: Dispatch;
  /**
   * `per-endpoint`: kube-proxy's KUBE-SEP chain per endpoint. `inline`: the DNAT rules sit in the service chain and
   * a hairpin set masquerades a Pod reaching itself; 10 × fewer chains, so every commit validates less (nft).
   * ClientIP affinity keeps its KUBE-SEP chains either way.
   */
  readonly endpointChains: EndpointChains;
  /**
   * Where node ports answer (kube-proxy's --nodeport-addresses), resolved to this family's addresses: `all` for
   * every local address (kube-proxy's default), else these addresses only.
   */
  readonly nodePortAddresses: 'all' | readonly string[];
  /** IPv4 node ports answer on 127.0.0.1 too (kube-proxy's --iptables-localhost-nodeports; needs route_localnet). */
  readonly localhostNodePorts: boolean;
  /**
   * This node's primary address of the family, or empty. A load-balancer firewall whose source ranges hold it lets
   * the node reach the LB IP (the packet loops back with the LB IP as its source). Default: the Node's first address.
   */
  readonly nodeIP: string;
}

export type EndpointChains = 'inline' | 'per-endpoint';
export const ENDPOINT_CHAIN_MODES: readonly EndpointChains[] = ['inline', 'per-endpoint'];

export type Dispatch = 'tree' | 'linear';
export const DISPATCH_MODES: readonly Dispatch[] = ['tree', 'linear'];

export const defaultPlannerOptions: PlannerOptions = {
  family: 4,
  localTraffic: NO_LOCAL_DETECTOR,
  masqueradeAll: false,
  masqueradeBit: 14,
  serviceCIDRs: [],
  comments: true,
  commentsEndpointThreshold: 1000,
  dispatch: 'tree',
  endpointChains: 'inline',
  nodeName: '',
  zone: '',
  nodePortAddresses: 'all',
  localhostNodePorts: true,
  nodeIP: '',
};

/** route_localnet is wanted: IPv4 node ports answer on a loopback address. */
export function localhostNodePortsActive(options: Pick<PlannerOptions, 'family' | 'localhostNodePorts' | 'nodePortAddresses'>): boolean {
  if (options.family !== 4 || !options.localhostNodePorts) return false;
  return options.nodePortAddresses === 'all' || options.nodePortAddresses.some((ip) => ip.startsWith('127.'));
}

export function masqueradeMark(options: Pick<PlannerOptions, 'masqueradeBit'>): string {
  const mark = `0x${(1 << options.masqueradeBit).toString(16)}`;
  return `${mark}/${mark}`;
}
