import { classifyObjects, listManifestFiles, readManifestFile, type ManifestObjects } from '@hybrid-proxy/watcher';
import { parseIP } from '@hybrid-proxy/model';
import type { PodSpec } from './topology.js';

interface RawSlice {
  ports?: { name?: string; protocol?: string; port?: number }[];
  endpoints?: { addresses?: string[]; targetRef?: { name?: string } }[];
}

/**
 * The Pods a lab needs, derived from the EndpointSlices in a manifest directory: one Pod per endpoint
 * address, named after its targetRef, listening on every port its slices list.
 */
export async function podsFromManifests(dir: string): Promise<PodSpec[]> {
  const objects: ManifestObjects = { services: [], endpointSlices: [] };
  for (const file of await listManifestFiles(dir)) classifyObjects(await readManifestFile(file), objects);
  const pods = new Map<string, { name: string; tcp: Set<number>; udp: Set<number> }>();
  for (const slice of objects.endpointSlices as RawSlice[]) {
    for (const endpoint of slice.endpoints ?? []) {
      const ip = parseIP(endpoint.addresses?.[0])?.ip;
      if (!ip) continue;
      const pod = pods.get(ip) ?? { name: endpoint.targetRef?.name ?? `pod-${ip.replace(/[.:]/g, '-')}`, tcp: new Set(), udp: new Set() };
      pods.set(ip, pod);
      for (const port of slice.ports ?? []) {
        if (typeof port.port !== 'number') continue;
        (port.protocol === 'UDP' ? pod.udp : pod.tcp).add(port.port);
      }
    }
  }
  return [...pods].map(([ip, pod]) => ({ name: pod.name, ip, tcpPorts: [...pod.tcp].sort(), udpPorts: [...pod.udp].sort() }));
}
