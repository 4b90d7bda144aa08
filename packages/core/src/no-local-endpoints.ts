import { selectLocalEndpoints, type NodeIdentity } from '@hybrid-proxy/iptables';
import type { IPFamily, ServicePort, Snapshot } from '@hybrid-proxy/model';

export interface NoLocalEndpoints {
  readonly family: IPFamily;
  /** Service ports with internalTrafficPolicy Local, endpoints elsewhere, and none here: their cluster traffic drops. */
  readonly internal: number;
  /** Externally reachable Service ports with externalTrafficPolicy Local and no endpoint here. */
  readonly external: number;
}

const reachableFromOutside = (service: ServicePort) => service.nodePort > 0 || service.externalIPs.length > 0 || service.loadBalancerIPs.length > 0;

/** kube-proxy's kubeproxy_sync_proxy_rules_no_local_endpoints_total, recounted from each synced snapshot. */
export function countNoLocalEndpoints(snapshot: Snapshot, families: readonly IPFamily[], node: NodeIdentity): NoLocalEndpoints[] {
  return families.map((family) => {
    let internal = 0;
    let external = 0;
    for (const entry of snapshot.entries.values()) {
      const { internalTrafficPolicy, externalTrafficPolicy } = entry.service;
      const localExternal = externalTrafficPolicy === 'Local' && reachableFromOutside(entry.service);
      if (internalTrafficPolicy !== 'Local' && !localExternal) continue;
      const local = selectLocalEndpoints(entry, family, node);
      if (!local.anyEndpoints || local.endpoints.length > 0) continue;
      if (internalTrafficPolicy === 'Local') internal++;
      if (localExternal) external++;
    }
    return { family, internal, external };
  });
}
