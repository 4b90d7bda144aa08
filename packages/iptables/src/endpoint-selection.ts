import type { Endpoint, IPFamily, ServiceEntry } from '@hybrid-proxy/model';

export interface NodeIdentity {
  /** This node's name, to find its local endpoints (internalTrafficPolicy: Local). */
  readonly nodeName: string;
  /** This node's zone, for topology hints; empty when unknown. */
  readonly zone: string;
}

export interface EndpointSelection {
  /** The endpoints that receive cluster traffic, in a stable order. */
  readonly endpoints: readonly Endpoint[];
  /** Every endpoint of this family that exists at all (ready or not): decides REJECT versus DROP. */
  readonly anyEndpoints: boolean;
}

/**
 * kube-proxy's choice of endpoints for cluster (ClusterIP) traffic:
 * - ready endpoints; if none is ready, those still serving while terminating (graceful termination);
 * - topology hints, when every endpoint carries them and one names this node's zone;
 * - internalTrafficPolicy Local keeps only this node's endpoints: its ready ones, else its serving-terminating ones.
 */
export function selectClusterEndpoints(entry: ServiceEntry, family: IPFamily, node: NodeIdentity): EndpointSelection {
  const ofFamily = keep(entry.endpoints, (e) => e.family === family);
  // Local: this node's endpoints first, then readiness among them, so that a rolling update on this node falls
  // back to its own serving-terminating endpoints rather than dropping while other nodes have ready ones.
  const candidates = entry.service.internalTrafficPolicy === 'Local' ? localEndpoints(ofFamily, node) : applyTopologyHints(usableEndpoints(ofFamily), node.zone);
  return { endpoints: candidates, anyEndpoints: ofFamily.length > 0 };
}

/** This node's endpoints of a family, for a Local policy: its ready ones, else its serving-terminating ones. */
export function selectLocalEndpoints(entry: ServiceEntry, family: IPFamily, node: NodeIdentity): EndpointSelection {
  const ofFamily = keep(entry.endpoints, (e) => e.family === family);
  return { endpoints: localEndpoints(ofFamily, node), anyEndpoints: ofFamily.length > 0 };
}

function localEndpoints(endpoints: readonly Endpoint[], node: NodeIdentity): readonly Endpoint[] {
  return usableEndpoints(endpoints.filter((e) => e.nodeName === node.nodeName));
}

/** filter(), but the same array when every element passes: the usual case, 10k arrays fewer in a cold plan. */
function keep(endpoints: readonly Endpoint[], test: (e: Endpoint) => boolean): readonly Endpoint[] {
  return endpoints.every(test) ? endpoints : endpoints.filter(test);
}

function usableEndpoints(endpoints: readonly Endpoint[]): readonly Endpoint[] {
  const ready = keep(endpoints, (e) => e.ready);
  if (ready.length > 0) return ready;
  return endpoints.filter((e) => e.serving && e.terminating);
}

function applyTopologyHints(endpoints: readonly Endpoint[], zone: string): readonly Endpoint[] {
  if (!zone || endpoints.length === 0) return endpoints;
  // Hints are all-or-nothing: one endpoint without hints means the controller is not hinting this Service.
  if (!endpoints.every((e) => e.zoneHints.length > 0)) return endpoints;
  const local = endpoints.filter((e) => e.zoneHints.includes(zone));
  return local.length > 0 ? local : endpoints;
}
