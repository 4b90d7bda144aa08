import { categorizeEndpoints, isExternallyAccessible, type IPFamily, type NodeIdentity, type Snapshot } from '@hybrid-proxy/model';

export interface NoLocalEndpoints {
  readonly family: IPFamily;
  /** Service ports with internalTrafficPolicy Local, endpoints elsewhere, and none here: their cluster traffic drops. */
  readonly internal: number;
  /** Externally reachable Service ports with externalTrafficPolicy Local and no endpoint here. */
  readonly external: number;
}

/** kube-proxy's kubeproxy_sync_proxy_rules_no_local_endpoints_total, recounted from each synced snapshot. */
export function countNoLocalEndpoints(snapshot: Snapshot, families: readonly IPFamily[], node: NodeIdentity): NoLocalEndpoints[] {
  return families.map((family) => {
    let internal = 0;
    let external = 0;
    for (const entry of snapshot.entries.values()) {
      const { internalTrafficPolicy, externalTrafficPolicy } = entry.service;
      const localExternal = externalTrafficPolicy === 'Local' && isExternallyAccessible(entry.service);
      if (internalTrafficPolicy !== 'Local' && !localExternal) continue;
      const categories = categorizeEndpoints(entry, family, node);
      if (!categories.any || categories.local.length > 0) continue;
      if (internalTrafficPolicy === 'Local') internal++;
      if (localExternal) external++;
    }
    return { family, internal, external };
  });
}
