import type { EndpointSliceDef, SliceEndpoint } from './endpointslice-conversion.js';
import { convertEndpointSlice } from './endpointslice-conversion.js';
import type { ServiceDef } from './service-conversion.js';
import { convertService } from './service-conversion.js';
import type { Conversion } from './invalid.js';
import { OverlayMap } from './overlay-map.js';
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
 * assembleSnapshot for a source that keeps its converted objects between snapshots (the watchers do). It holds the
 * cluster as it was last told, and a change of a few objects costs O(changed), not O(cluster): only the Services
 * they touch are joined again, and every other Service keeps its ServiceEntry objects, so planners can tell an
 * unchanged Service by identity instead of comparing every endpoint.
 *
 * Tell it what changed (setService, setSlice) and take a snapshot(), or hand it everything with assemble().
 */
export class SnapshotAssembler {
  private readonly services = new Map<string, ServiceDef>();
  private readonly slices = new Map<string, EndpointSliceDef>();
  /** Service id → its slices by slice id. */
  private readonly slicesOf = new Map<string, Map<string, EndpointSliceDef>>();
  /** Service id → its entries, in port order. */
  private readonly own = new Map<string, readonly [ServicePortKey, ServiceEntry][]>();
  private readonly dirty = new Set<string>();
  private entries: ReadonlyMap<ServicePortKey, ServiceEntry> = new Map();

  /** The Service `namespace/name` is now `service`, or gone (removed, or invalid) when undefined. */
  setService(id: string, service: ServiceDef | undefined): void {
    if (this.services.get(id) === service) return;
    if (service) this.services.set(id, service);
    else this.services.delete(id);
    this.dirty.add(id);
  }

  /** The EndpointSlice `namespace/name` is now `slice`, or gone (removed, invalid or not programmed) when undefined. */
  setSlice(id: string, slice: EndpointSliceDef | undefined): void {
    const before = this.slices.get(id);
    if (before === slice) return;
    if (before) {
      const owner = serviceIdOf(before);
      this.slicesOf.get(owner)?.delete(id);
      if (this.slicesOf.get(owner)?.size === 0) this.slicesOf.delete(owner);
      this.dirty.add(owner);
    }
    if (slice) {
      const owner = serviceIdOf(slice);
      let list = this.slicesOf.get(owner);
      if (!list) this.slicesOf.set(owner, (list = new Map()));
      list.set(id, slice);
      this.slices.set(id, slice);
      this.dirty.add(owner);
    } else {
      this.slices.delete(id);
    }
  }

  /** The snapshot of everything set so far; only the Services touched since the last one are joined again. */
  snapshot(invalid: readonly InvalidObject[] = [], node?: NodeInfo): Snapshot {
    let keysMoved = false;
    const changed: [ServicePortKey, ServiceEntry][] = [];
    for (const id of this.dirty) {
      const before = this.own.get(id) ?? [];
      const after = this.join(id);
      if (after.length > 0) this.own.set(id, after);
      else this.own.delete(id);
      if (before.length !== after.length || before.some(([key], i) => key !== after[i]![0])) keysMoved = true;
      for (const entry of after) changed.push(entry);
    }
    this.dirty.clear();
    if (keysMoved) {
      // A port came or went: the only case that sorts the whole cluster again.
      const all: [ServicePortKey, ServiceEntry][] = [];
      for (const list of this.own.values()) for (const entry of list) all.push(entry);
      all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      this.entries = new Map(all);
    } else if (changed.length > 0) {
      // The same keys in the same order: only the changed entries are new, over the last snapshot's map.
      this.entries = OverlayMap.over(this.entries).patch(changed);
    }
    return node ? { entries: this.entries, invalid, node } : { entries: this.entries, invalid };
  }

  /** Everything at once: Services and slices not in these lists are gone. */
  assemble(services: Iterable<ServiceDef>, slices: Iterable<EndpointSliceDef>, invalid: readonly InvalidObject[] = [], node?: NodeInfo): Snapshot {
    replaceAll(this.services, services, (id, service) => this.setService(id, service));
    replaceAll(this.slices, slices, (id, slice) => this.setSlice(id, slice));
    return this.snapshot(invalid, node);
  }

  /** One Service's entries: each port with the merged, de-duplicated endpoints of its slices. */
  private join(id: string): [ServicePortKey, ServiceEntry][] {
    const service = this.services.get(id);
    if (!service) return [];
    const slices = [...(this.slicesOf.get(id)?.values() ?? [])];
    if (slices.length > 1) slices.sort((a, b) => (a.name < b.name ? -1 : 1));
    return service.ports.map((port): [ServicePortKey, ServiceEntry] => [port.key, { service: port, endpoints: endpointsFor(port.portName, port.protocol, slices) }]);
  }
}

const serviceIdOf = (slice: EndpointSliceDef): string => `${slice.namespace}/${slice.serviceName}`;

/** Sets every object under its `namespace/name`, and unsets the ids `held` has that `objects` does not. */
function replaceAll<T extends { readonly namespace: string; readonly name: string }>(held: ReadonlyMap<string, T>, objects: Iterable<T>, set: (id: string, object: T | undefined) => void): void {
  const ids = new Set<string>();
  for (const object of objects) {
    const id = `${object.namespace}/${object.name}`;
    ids.add(id);
    set(id, object);
  }
  for (const id of [...held.keys()]) if (!ids.has(id)) set(id, undefined);
}

function endpointsFor(portName: string, protocol: string, slices: readonly EndpointSliceDef[]): Endpoint[] {
  const endpoints: Endpoint[] = [];
  for (const slice of slices) {
    // The slice's port carries the Service port's name and the resolved target port number.
    const port = portNamed(slice.ports, portName, protocol);
    if (!port) continue;
    const listed = slice.endpoints;
    for (let i = 0; i < listed.length; i++) endpoints.push(listed[i]!.port === port ? listed[i]! : onPort(listed[i]!, port));
  }
  // A stable sort, then repeats dropped: of an endpoint that two slices list (while it moves between them), the
  // first slice's by name is kept. No map per Service port, and no sort for a list already in order: this runs for
  // every Service of a first sync.
  if (!inOrder(endpoints)) endpoints.sort(compareEndpoints);
  let kept = 0;
  for (let i = 0; i < endpoints.length; i++) if (kept === 0 || compareEndpoints(endpoints[kept - 1]!, endpoints[i]!) !== 0) endpoints[kept++] = endpoints[i]!;
  endpoints.length = kept;
  return endpoints;
}

function portNamed(ports: EndpointSliceDef['ports'], name: string, protocol: string): number | undefined {
  for (const port of ports) if (port.name === name && port.protocol === protocol) return port.port;
  return undefined;
}

function inOrder(endpoints: readonly Endpoint[]): boolean {
  for (let i = 1; i < endpoints.length; i++) if (compareEndpoints(endpoints[i - 1]!, endpoints[i]!) > 0) return false;
  return true;
}

/**
 * A slice's endpoint on another of its ports. An object literal, not { ...endpoint, port }: V8 gave every spread
 * copy a map of its own (100k maps at 100k endpoints, a third of the proxy's heap).
 */
function onPort(endpoint: SliceEndpoint, port: number): Endpoint {
  return {
    ip: endpoint.ip,
    family: endpoint.family,
    port,
    ready: endpoint.ready,
    serving: endpoint.serving,
    terminating: endpoint.terminating,
    nodeName: endpoint.nodeName,
    zone: endpoint.zone,
    zoneHints: endpoint.zoneHints,
  };
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
