import type { Endpoint, ServiceEntry, ServicePort } from '@hybrid-proxy/model';

/**
 * Remembers each Service port's planned rules between plans. Snapshots are rebuilt on every change, but almost
 * every entry equals the one before: reusing its rules (the same arrays) skips re-planning it, and lets the
 * executor see an unchanged chain by identity instead of by comparing text. Planning stays a pure function of
 * (snapshot, options): the memo only ever returns what planning the entry afresh would.
 */
export class PlanMemo<T> {
  private entries = new Map<string, { readonly entry: ServiceEntry; readonly value: T }>();
  private optionsKey = '';

  /** Forgets everything when the options change (they shape every rule); true when it did. */
  useOptions(options: object): boolean {
    const key = JSON.stringify(options);
    const changed = key !== this.optionsKey;
    if (changed) this.entries = new Map();
    this.optionsKey = key;
    return changed;
  }

  /** What was last planned for `key`, if anything. */
  peek(key: string): T | undefined {
    return this.entries.get(key)?.value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get(key: string, entry: ServiceEntry, plan: (entry: ServiceEntry) => T): T {
    const cached = this.entries.get(key);
    if (cached && sameEntry(cached.entry, entry)) return cached.value;
    const value = plan(entry);
    this.entries.set(key, { entry, value });
    return value;
  }

  /** Drops Service ports that are gone, so the memo stays the size of the cluster. */
  retain(keys: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const key of this.entries.keys()) if (!keys.has(key)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

const sameList = <T>(a: readonly T[], b: readonly T[]) => a === b || (a.length === b.length && a.every((x, i) => x === b[i]));

/**
 * Field by field (node:util's isDeepStrictEqual took longer than planning afresh). A field added to ServicePort or
 * Endpoint must be added here: the memo test plans every field changed one at a time.
 */
export function sameEntry(a: ServiceEntry, b: ServiceEntry): boolean {
  if (a === b) return true;
  return sameServicePort(a.service, b.service) && a.endpoints.length === b.endpoints.length && a.endpoints.every((e, i) => sameEndpoint(e, b.endpoints[i]!));
}

function sameServicePort(a: ServicePort, b: ServicePort): boolean {
  return (
    a === b ||
    (a.key === b.key &&
      a.namespace === b.namespace &&
      a.name === b.name &&
      a.portName === b.portName &&
      a.protocol === b.protocol &&
      a.port === b.port &&
      a.nodePort === b.nodePort &&
      a.healthCheckNodePort === b.healthCheckNodePort &&
      a.targetPort === b.targetPort &&
      a.externalTrafficPolicy === b.externalTrafficPolicy &&
      a.internalTrafficPolicy === b.internalTrafficPolicy &&
      a.sessionAffinity.type === b.sessionAffinity.type &&
      a.sessionAffinity.timeoutSeconds === b.sessionAffinity.timeoutSeconds &&
      sameList(a.clusterIPs, b.clusterIPs) &&
      sameList(a.externalIPs, b.externalIPs) &&
      sameList(a.loadBalancerIPs, b.loadBalancerIPs) &&
      sameList(a.loadBalancerSourceRanges, b.loadBalancerSourceRanges))
  );
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return (
    a === b ||
    (a.ip === b.ip &&
      a.family === b.family &&
      a.port === b.port &&
      a.ready === b.ready &&
      a.serving === b.serving &&
      a.terminating === b.terminating &&
      a.nodeName === b.nodeName &&
      a.zone === b.zone &&
      sameList(a.zoneHints, b.zoneHints))
  );
}
