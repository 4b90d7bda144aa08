import type { Snapshot } from '@hybrid-proxy/model';
import { flowKey, keyHex } from './flow-key.js';

/** What a counted flow stands for: the metric labels of a VIP, or of a backend of a Service port. */
export interface FlowLabels {
  readonly namespace: string;
  readonly service: string;
  readonly port: string;
  readonly protocol: string;
  /** `ip:port` of the backend; absent for a VIP. */
  readonly endpoint?: string;
}

export interface FlowTargets {
  /** Key hex → labels; one VIP:port:protocol is one Service port. */
  readonly vips: ReadonlyMap<string, FlowLabels>;
  /** Key hex → labels of every Service port the endpoint serves (one Pod port may back several Services). */
  readonly backends: ReadonlyMap<string, readonly FlowLabels[]>;
}

/** Pure: the flows to count for a snapshot. Cluster IPs and external IPs are VIPs; every listed endpoint is a backend. */
export function flowTargets(snapshot: Snapshot): FlowTargets {
  const vips = new Map<string, FlowLabels>();
  const backends = new Map<string, FlowLabels[]>();
  for (const { service, endpoints } of snapshot.entries.values()) {
    const labels = { namespace: service.namespace, service: service.name, port: service.portName || String(service.port), protocol: service.protocol };
    for (const ip of [...service.clusterIPs, ...service.externalIPs]) vips.set(keyHex(flowKey(ip, service.port, service.protocol)), labels);
    for (const endpoint of endpoints) {
      const key = keyHex(flowKey(endpoint.ip, endpoint.port, service.protocol));
      const endpointLabel = endpoint.ip.includes(':') ? `[${endpoint.ip}]:${endpoint.port}` : `${endpoint.ip}:${endpoint.port}`;
      const list = backends.get(key) ?? [];
      list.push({ ...labels, endpoint: endpointLabel });
      backends.set(key, list);
    }
  }
  return { vips, backends };
}
