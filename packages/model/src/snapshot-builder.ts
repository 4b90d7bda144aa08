import type { EndpointSliceDef } from './endpointslice-conversion.js';
import { convertEndpointSlice } from './endpointslice-conversion.js';
import type { ServiceDef } from './service-conversion.js';
import { convertService } from './service-conversion.js';
import type { Conversion } from './invalid.js';
import type { Endpoint, InvalidObject, NodeInfo, ServiceEntry, ServicePortKey, Snapshot } from './types.js';

/** Joins converted Services with their slices: each service port gets the merged, de-duplicated endpoints of all slices. */
export function assembleSnapshot(
  services: Iterable<ServiceDef>,
  slices: Iterable<EndpointSliceDef>,
  invalid: readonly InvalidObject[] = [],
  node?: NodeInfo,
): Snapshot {
  return new SnapshotAssembler().assemble(services, slices, invalid, node);
}

/**
 * assembleSnapshot for a source that keeps its converted objects between snapshots (the watchers do): a Service
 * whose definition and slices are the very same objects as last time keeps its ServiceEntry objects, so planners
 * can tell an unchanged Service by identity instead of comparing every endpoint.
 */
export class SnapshotAssembler {
  private previous = new Map<string, { readonly service: ServiceDef; readonly slices: readonly EndpointSliceDef[]; readonly entries: readonly [ServicePortKey, ServiceEntry][] }>();

  assemble(services: Iterable<ServiceDef>, slices: Iterable<EndpointSliceDef>, invalid: readonly InvalidObject[] = [], node?: NodeInfo): Snapshot {
    const slicesByService = new Map<string, EndpointSliceDef[]>();
    for (const slice of slices) {
      const id = `${slice.namespace}/${slice.serviceName}`;
      const list = slicesByService.get(id);
      if (list) list.push(slice);
      else slicesByService.set(id, [slice]);
    }

    const next = new Map<string, { service: ServiceDef; slices: readonly EndpointSliceDef[]; entries: readonly [ServicePortKey, ServiceEntry][] }>();
    const entries: [ServicePortKey, ServiceEntry][] = [];
    for (const service of services) {
      const id = `${service.namespace}/${service.name}`;
      const serviceSlices = (slicesByService.get(id) ?? []).sort((a, b) => (a.name < b.name ? -1 : 1));
      const before = this.previous.get(id);
      const reuse = before && before.service === service && before.slices.length === serviceSlices.length && before.slices.every((s, i) => s === serviceSlices[i]);
      const own = reuse ? before.entries : service.ports.map((port): [ServicePortKey, ServiceEntry] => [port.key, { service: port, endpoints: endpointsFor(port.portName, port.protocol, serviceSlices) }]);
      next.set(id, { service, slices: serviceSlices, entries: own });
      entries.push(...own);
    }
    this.previous = next;
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return node ? { entries: new Map(entries), invalid, node } : { entries: new Map(entries), invalid };
  }
}

function endpointsFor(portName: string, protocol: string, slices: readonly EndpointSliceDef[]): Endpoint[] {
  const byAddress = new Map<string, Endpoint>();
  for (const slice of slices) {
    // The slice's port carries the Service port's name and the resolved target port number.
    const port = slice.ports.find((p) => p.name === portName && p.protocol === protocol);
    if (!port) continue;
    for (const endpoint of slice.endpoints) {
      const id = `${endpoint.ip}|${port.port}`;
      // An endpoint moving between slices may briefly appear in both; keep the first by slice name.
      // An object literal, not { ...endpoint, port }: V8 gave every spread copy a map of its own (100k maps at 100k
      // endpoints, a third of the proxy's heap).
      if (!byAddress.has(id)) {
        byAddress.set(id, {
          ip: endpoint.ip,
          family: endpoint.family,
          port: port.port,
          ready: endpoint.ready,
          serving: endpoint.serving,
          terminating: endpoint.terminating,
          nodeName: endpoint.nodeName,
          zone: endpoint.zone,
          zoneHints: endpoint.zoneHints,
        });
      }
    }
  }
  return [...byAddress.values()].sort(compareEndpoints);
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1;
  return a.port - b.port;
}

/** Keeps the values of conversions, recording every error and warning in `invalid`. */
export function collectConversions<T>(conversions: Iterable<Conversion<T | null>>, invalid: InvalidObject[]): T[] {
  const values: T[] = [];
  for (const result of conversions) {
    if (!result.ok) {
      invalid.push(result.error);
      continue;
    }
    invalid.push(...result.warnings);
    if (result.value) values.push(result.value);
  }
  return values;
}

/** Converts raw API objects (from YAML or JSON) and assembles them; invalid objects are skipped and listed. */
export function buildSnapshot(rawServices: readonly unknown[], rawSlices: readonly unknown[]): Snapshot {
  const invalid: InvalidObject[] = [];
  const services = collectConversions(rawServices.map((obj, i) => convertService(obj, i)), invalid);
  const slices = collectConversions(rawSlices.map((obj, i) => convertEndpointSlice(obj, i)), invalid);
  return assembleSnapshot(services, slices, invalid);
}

export const emptySnapshot: Snapshot = { entries: new Map(), invalid: [] };
