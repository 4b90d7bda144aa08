import type { IPFamily } from '@hybrid-proxy/model';
import type { NodeIdentity } from './endpoint-selection.js';

export interface PlannerOptions extends NodeIdentity {
  readonly family: IPFamily;
  /** Pod CIDR of the cluster: traffic from outside it to a ClusterIP is masqueraded. Empty: only hairpin traffic is. */
  readonly clusterCIDR: string;
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
}

export const defaultPlannerOptions: PlannerOptions = {
  family: 4,
  clusterCIDR: '',
  masqueradeAll: false,
  masqueradeBit: 14,
  serviceCIDRs: [],
  comments: true,
  nodeName: '',
  zone: '',
};

export function masqueradeMark(options: Pick<PlannerOptions, 'masqueradeBit'>): string {
  const mark = `0x${(1 << options.masqueradeBit).toString(16)}`;
  return `${mark}/${mark}`;
}
