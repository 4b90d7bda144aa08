import type { Snapshot } from '@hybrid-proxy/model';

/** UDP conntrack entries that would keep sending datagrams to a backend the rules no longer choose. */
export interface StaleUdpFlow {
  readonly vip: string;
  readonly port: number;
  /** Only flows DNATed to this endpoint; undefined: every flow to vip:port (the Service port is gone). */
  readonly endpoint?: string;
}

/**
 * UDP has no connection end, so conntrack keeps steering a client's datagrams to the endpoint it first chose,
 * even after the Service or the endpoint is gone. Like kube-proxy, clear those entries after each sync.
 */
export function staleUdpFlows(applied: Snapshot, next: Snapshot): StaleUdpFlow[] {
  const flows: StaleUdpFlow[] = [];
  for (const [key, before] of applied.entries) {
    if (before.service.protocol !== 'UDP') continue;
    const after = next.entries.get(key);
    for (const vip of before.service.clusterIPs) {
      if (!after || !after.service.clusterIPs.includes(vip) || after.service.port !== before.service.port) {
        flows.push({ vip, port: before.service.port });
        continue;
      }
      const remaining = new Set(after.endpoints.filter((e) => e.ready || e.serving).map((e) => `${e.ip}|${e.port}`));
      for (const endpoint of before.endpoints) {
        if (!remaining.has(`${endpoint.ip}|${endpoint.port}`)) flows.push({ vip, port: before.service.port, endpoint: endpoint.ip });
      }
    }
  }
  return flows;
}
