import type { Endpoint, IPFamily, ServiceEntry, ServicePort } from './types.js';

/** Who the proxy runs for: its node's name (Local policies) and zone (topology hints). */
export interface NodeIdentity {
  /** This node's name, to find its local endpoints. */
  readonly nodeName: string;
  /** This node's zone, for topology hints; empty when unknown. */
  readonly zone: string;
}

/**
 * A Service port's endpoints of one family, sorted by the traffic they serve (kube-proxy's CategorizeEndpoints).
 * Every backend programs from this, so that iptables, IPVS and nftables agree on who gets which connection.
 */
export interface EndpointCategories {
  /** Cluster policy: ready endpoints, else serving-terminating ones, narrowed by topology hints. */
  readonly cluster: readonly Endpoint[];
  /** Local policy: this node's ready endpoints, else its serving-terminating ones. */
  readonly local: readonly Endpoint[];
  /** ClusterIP traffic: `local` under internalTrafficPolicy Local, else `cluster`. */
  readonly internal: readonly Endpoint[];
  /** Traffic to a node port, an external IP or a load-balancer IP: `local` under externalTrafficPolicy Local, else `cluster`. */
  readonly external: readonly Endpoint[];
  /** Any endpoint of this family exists at all, usable or not: an empty category then drops instead of rejecting. */
  readonly any: boolean;
}

/** Reached from outside the cluster network: a node port, an external IP or a load-balancer IP. */
export function isExternallyAccessible(service: ServicePort): boolean {
  return service.nodePort !== 0 || service.externalIPs.length > 0 || service.loadBalancerIPs.length > 0;
}

/**
 * Pure. The cluster category is computed whenever any traffic uses it, and also for an externally accessible
 * Service whose policies are both Local: its Pods' traffic to its external addresses short-circuits to the
 * cluster endpoints (it is subject to neither policy, as if it had left for the load balancer and come back).
 */
export function categorizeEndpoints(entry: ServiceEntry, family: IPFamily, node: NodeIdentity): EndpointCategories {
  const { service } = entry;
  const ofFamily = keep(entry.endpoints, (e) => e.family === family);
  const internalLocal = service.internalTrafficPolicy === 'Local';
  const externally = isExternallyAccessible(service);
  const externalLocal = externally && service.externalTrafficPolicy === 'Local';
  const cluster = !internalLocal || externally ? applyTopologyHints(usableEndpoints(ofFamily), node.zone) : NONE;
  // Local: this node's endpoints first, then readiness among them, so that a rolling update on this node falls
  // back to its own serving-terminating endpoints rather than dropping while other nodes have ready ones.
  const local = internalLocal || externalLocal ? usableEndpoints(ofFamily.filter((e) => e.nodeName === node.nodeName)) : NONE;
  return { cluster, local, internal: internalLocal ? local : cluster, external: externalLocal ? local : cluster, any: ofFamily.length > 0 };
}

/** This node's usable endpoints of a family, whatever the Service's policies say (health checks, metrics). */
export function localEndpointsOf(entry: ServiceEntry, family: IPFamily | undefined, nodeName: string): readonly Endpoint[] {
  return usableEndpoints(entry.endpoints.filter((e) => e.nodeName === nodeName && (family === undefined || e.family === family)));
}

const NONE: readonly Endpoint[] = [];

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
