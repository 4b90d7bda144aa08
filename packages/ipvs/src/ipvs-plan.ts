import type { IPFamily } from '@hybrid-proxy/model';
import type { IpsetPlan, IptablesPlan } from '@hybrid-proxy/iptables';

export const DUMMY_INTERFACE = 'kube-ipvs0';
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh'] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

export interface RealServer {
  readonly address: string;
  readonly port: number;
  /** 1 for ready endpoints; 0 for terminating ones, so established connections drain and no new ones arrive. */
  readonly weight: number;
}

export interface VirtualServer {
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly address: string;
  readonly port: number;
  readonly scheduler: Scheduler;
  /** Seconds of ClientIP affinity (`persistent`); 0 for none. */
  readonly persistence: number;
  readonly reals: readonly RealServer[];
  /** The service port it stands for, for logs. */
  readonly service: string;
}

/** The desired IPVS state for one family, as data. */
export interface IpvsPlan {
  readonly family: IPFamily;
  /** Addresses bound to kube-ipvs0 (as /32 or /128), so that the node accepts traffic to them. */
  readonly addresses: readonly string[];
  /** The same addresses by owner (a Service port; several may share one), for partial syncs as virtualServerGroups. */
  readonly addressGroups?: ReadonlyMap<string, readonly string[]>;
  readonly virtualServers: readonly VirtualServer[];
  /**
   * The same virtual servers by owner (a Service port): an owner's array is the same object from one plan to the
   * next while it is unchanged (with a plan memo), so a partial sync diffs only the owners whose array changed.
   */
  readonly virtualServerGroups?: ReadonlyMap<string, readonly VirtualServer[]>;
  readonly ipsets: readonly IpsetPlan[];
  /** The small fixed set of iptables rules, keyed on the ipsets (they do not grow with Services). */
  readonly iptables: IptablesPlan;
}

export const virtualServerId = (vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>) => `${vs.protocol}:${hostPort(vs.address, vs.port)}`;
export const hostPort = (address: string, port: number) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);
