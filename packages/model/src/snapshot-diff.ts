import type { ServiceEntry, ServicePortKey, Snapshot } from './types.js';

export interface SnapshotDiff {
  readonly added: readonly ServicePortKey[];
  readonly removed: readonly ServicePortKey[];
  /** The service port itself changed (IPs, ports, affinity, policies). */
  readonly serviceChanged: readonly ServicePortKey[];
  /** Only the endpoint set (or an endpoint's conditions) changed. */
  readonly endpointsChanged: readonly ServicePortKey[];
}

const fingerprints = new WeakMap<object, string>();

/** Entries are immutable, so a fingerprint is computed once per object and identical objects compare in O(1). */
function fingerprint(value: object): string {
  let text = fingerprints.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    fingerprints.set(value, text);
  }
  return text;
}

export function sameService(a: ServiceEntry, b: ServiceEntry): boolean {
  return a.service === b.service || fingerprint(a.service) === fingerprint(b.service);
}

export function sameEndpoints(a: ServiceEntry, b: ServiceEntry): boolean {
  return a.endpoints === b.endpoints || fingerprint(a.endpoints) === fingerprint(b.endpoints);
}

export function diffSnapshots(previous: Snapshot, next: Snapshot): SnapshotDiff {
  const added: ServicePortKey[] = [];
  const removed: ServicePortKey[] = [];
  const serviceChanged: ServicePortKey[] = [];
  const endpointsChanged: ServicePortKey[] = [];
  for (const [key, entry] of next.entries) {
    const before = previous.entries.get(key);
    if (!before) added.push(key);
    else if (before === entry) continue;
    else if (!sameService(before, entry)) serviceChanged.push(key);
    else if (!sameEndpoints(before, entry)) endpointsChanged.push(key);
  }
  for (const key of previous.entries.keys()) if (!next.entries.has(key)) removed.push(key);
  return { added, removed, serviceChanged, endpointsChanged };
}

export function isEmptyDiff(diff: SnapshotDiff): boolean {
  return diff.added.length + diff.removed.length + diff.serviceChanged.length + diff.endpointsChanged.length === 0;
}
