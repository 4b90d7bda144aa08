import { groupedIpset, type IpsetPlan } from '@hybrid-proxy/iptables';
import type { IPFamily } from '@hybrid-proxy/model';

/** kube-proxy's IPVS-mode ipsets: what each holds, in kube-proxy's names and comments. */
export const IPVS_SETS = {
  loopBack: { name: 'KUBE-LOOP-BACK', type: 'hash:ip,port,ip', comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose' },
  clusterIP: { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port', comment: 'Kubernetes service cluster ip + port for masquerade purpose' },
  externalIP: { name: 'KUBE-EXTERNAL-IP', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port for masquerade and filter purpose' },
  externalIPLocal: { name: 'KUBE-EXTERNAL-IP-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local' },
  loadBalancer: { name: 'KUBE-LOAD-BALANCER', type: 'hash:ip,port', comment: 'Kubernetes service lb portal' },
  loadBalancerFW: { name: 'KUBE-LOAD-BALANCER-FW', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange' },
  loadBalancerLocal: { name: 'KUBE-LOAD-BALANCER-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local' },
  loadBalancerSourceIP: { name: 'KUBE-LOAD-BALANCER-SOURCE-IP', type: 'hash:ip,port,ip', comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose' },
  loadBalancerSourceCIDR: { name: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', type: 'hash:ip,port,net', comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose' },
  nodePortTCP: { name: 'KUBE-NODE-PORT-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port for masquerade purpose' },
  nodePortLocalTCP: { name: 'KUBE-NODE-PORT-LOCAL-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local' },
  nodePortUDP: { name: 'KUBE-NODE-PORT-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port for masquerade purpose' },
  nodePortLocalUDP: { name: 'KUBE-NODE-PORT-LOCAL-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local' },
  // SCTP node ports are matched per node address (hash:ip,port), as kube-proxy does.
  nodePortSCTP: { name: 'KUBE-NODE-PORT-SCTP-HASH', type: 'hash:ip,port', comment: 'Kubernetes nodeport SCTP port for masquerade purpose with type \'hash ip:port\'' },
  nodePortLocalSCTP: { name: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', type: 'hash:ip,port', comment: 'Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type \'hash ip:port\'' },
  healthCheckNodePort: { name: 'KUBE-HEALTH-CHECK-NODE-PORT', type: 'bitmap:port', comment: 'Kubernetes health check node port' },
  ipvsIPs: { name: 'KUBE-IPVS-IPS', type: 'hash:ip', comment: 'IPVS virtual server IP addresses' },
} as const;

export type IpvsSetKey = keyof typeof IPVS_SETS;

/** IPSET_MAXNAMELEN, with its terminating NUL. */
const MAX_SET_NAME = 31;

/** kube-proxy's IPv6 names: `KUBE-6-` for `KUBE-`, cut to ipset's 31 characters. */
export function ipvsSetName(key: IpvsSetKey, family: IPFamily): string {
  const { name } = IPVS_SETS[key];
  return family === 6 ? name.replace(/^KUBE-/, 'KUBE-6-').slice(0, MAX_SET_NAME) : name;
}

/** The names of every set of one family: what `cleanup --kube-proxy-leftovers` removes of kube-proxy's. */
export const ipvsSetNames = (family: IPFamily): string[] => (Object.keys(IPVS_SETS) as IpvsSetKey[]).map((key) => ipvsSetName(key, family));

/** Every set of one family, in kube-proxy's order. `groups`: by set, its members by owner (a Service port). */
export function ipvsSets(family: IPFamily, groups: ReadonlyMap<IpvsSetKey, ReadonlyMap<string, readonly string[]>>): IpsetPlan[] {
  const inet = family === 6 ? 'inet6' : 'inet';
  return (Object.keys(IPVS_SETS) as IpvsSetKey[]).map((key) => {
    const set = IPVS_SETS[key];
    // Bitmaps hold ports, whatever the family. The hashes' default maxelem (65536) is below one member per endpoint
    // at 10k Services × 10 (KUBE-LOOP-BACK).
    const options = set.type === 'bitmap:port' ? 'range 0-65535' : `family ${inet} hashsize 4096 maxelem 4194304`;
    return groupedIpset(ipvsSetName(key, family), `${set.type} ${options}`, set.comment, groups.get(key) ?? new Map());
  });
}
