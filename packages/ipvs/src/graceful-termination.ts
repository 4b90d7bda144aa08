import { hostPort, virtualServerId, type RealServer, type VirtualServer } from './ipvs-plan.js';
import { ipvsOperations, type IpvsOperation, type ListedReal } from './ipvsadm-text.js';

/** A real server that left the plan while its virtual server stayed: at weight 0 until its connections are gone. */
export interface DrainingReal {
  readonly vs: VirtualServer;
  /** As the kernel holds it: weight 0. */
  readonly real: RealServer;
}

export type DrainingReals = ReadonlyMap<string, DrainingReal>;

const realKey = (real: Pick<RealServer, 'address' | 'port'>) => hostPort(real.address, real.port);
export const drainingKey = (vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>, real: Pick<RealServer, 'address' | 'port'>) => `${virtualServerId(vs)} ${realKey(real)}`;

/**
 * kube-proxy drains TCP reals only: a UDP or SCTP real goes at once, and with expire_nodest_conn the kernel drops
 * its flows on their next packet, so that they move to a live endpoint instead of waiting on a dead one.
 */
const drains = (vs: Pick<VirtualServer, 'protocol'>) => vs.protocol === 'tcp';

/** The virtual servers as the kernel holds them while reals drain: each draining real (weight 0) back in its own. */
export function withDraining(servers: readonly VirtualServer[], draining: DrainingReals): readonly VirtualServer[] {
  if (draining.size === 0) return servers;
  const byServer = new Map<string, RealServer[]>();
  for (const { vs, real } of draining.values()) {
    const id = virtualServerId(vs);
    byServer.set(id, [...(byServer.get(id) ?? []), real]);
  }
  return servers.map((vs) => {
    const extra = byServer.get(virtualServerId(vs));
    if (!extra) return vs;
    const planned = new Set(vs.reals.map(realKey));
    const missing = extra.filter((real) => !planned.has(realKey(real)));
    return missing.length === 0 ? vs : { ...vs, reals: [...vs.reals, ...missing] };
  });
}

/**
 * Graceful termination, as kube-proxy's IPVS mode does it (graceful_termination.go): a TCP real that leaves a
 * virtual server that stays is not deleted but set to weight 0, so that its established connections live on while
 * every new one goes elsewhere; drainedReals says when it has no connection left. A real that comes back before
 * then is simply weighted again. Pure: the operations from `current` (the kernel or the ledger, draining reals
 * included) to `desired`, and the draining reals after them.
 */
export function gracefulOperations(current: readonly VirtualServer[], desired: readonly VirtualServer[], draining: DrainingReals): { operations: IpvsOperation[]; draining: Map<string, DrainingReal> } {
  const next = new Map(draining);
  const operations: IpvsOperation[] = [];
  for (const operation of ipvsOperations(withDraining(current, draining), desired)) {
    if (operation.op === 'delete-service') {
      const id = virtualServerId(operation.vs);
      for (const [key, entry] of next) if (virtualServerId(entry.vs) === id) next.delete(key);
    } else if (operation.op === 'delete-real' && drains(operation.vs)) {
      const real = { ...operation.real, weight: 0 };
      next.set(drainingKey(operation.vs, real), { vs: operation.vs, real });
      if (operation.real.weight !== 0) operations.push({ op: 'edit-real', vs: operation.vs, real });
      continue;
    }
    operations.push(operation);
  }
  // A draining real that the plan has again (as a weighted or a terminating endpoint) is the plan's once more.
  if (next.size > 0) for (const vs of desired) for (const real of vs.reals) next.delete(drainingKey(vs, real));
  return { operations, draining: next };
}

/**
 * The draining reals to delete now, given what `ipvsadm -Ln` lists of their virtual servers: those with no active
 * and no inactive connection (kube-proxy's test), and those someone else removed already (`gone`, nothing to do).
 */
export function drainedReals(draining: DrainingReals, listed: ReadonlyMap<string, readonly ListedReal[] | undefined>): { drained: DrainingReal[]; gone: string[] } {
  const drained: DrainingReal[] = [];
  const gone: string[] = [];
  for (const [key, entry] of draining) {
    const reals = listed.get(virtualServerId(entry.vs));
    const real = reals?.find((r) => realKey(r) === realKey(entry.real));
    if (!real) gone.push(key);
    else if (real.activeConnections + real.inactiveConnections === 0) drained.push(entry);
  }
  return { drained, gone };
}
