/** The protocols a Service port may carry, as the API spells them. */
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export type IPFamily = 4 | 6;

export type TrafficPolicy = 'Cluster' | 'Local';

/** `namespace/name:portName` (`namespace/name` for an unnamed port), kube-proxy's ServicePortName. */
export type ServicePortKey = string;

export interface SessionAffinity {
  readonly type: 'None' | 'ClientIP';
  /** Seconds a client sticks to its endpoint; only meaningful for ClientIP. */
  readonly timeoutSeconds: number;
}

/** One port of one Service: the unit every backend programs. */
export interface ServicePort {
  readonly key: ServicePortKey;
  readonly namespace: string;
  readonly name: string;
  readonly portName: string;
  readonly protocol: Protocol;
  /** All cluster IPs of the Service (one per family for dual-stack). */
  readonly clusterIPs: readonly string[];
  readonly port: number;
  /** 0 when the Service has no node port. */
  readonly nodePort: number;
  /** The Service's targetPort as written (a number, or a name resolved through the EndpointSlices). */
  readonly targetPort: number | string;
  readonly externalIPs: readonly string[];
  /** status.loadBalancer.ingress[].ip, except where ipMode is Proxy (the load balancer proxies: no VIP rule). */
  readonly loadBalancerIPs: readonly string[];
  /** spec.loadBalancerSourceRanges as CIDRs: the clients a load balancer IP admits (empty: all). */
  readonly loadBalancerSourceRanges: readonly string[];
  readonly sessionAffinity: SessionAffinity;
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  /** spec.healthCheckNodePort: where load balancers ask whether this node has local endpoints; 0 when none. */
  readonly healthCheckNodePort: number;
}

/** One backend address of a service port, after the slice's named ports were resolved. */
export interface Endpoint {
  readonly ip: string;
  readonly family: IPFamily;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string;
  readonly zone: string;
  /** Zones this endpoint should serve (topology hints); empty when the slice gave none. */
  readonly zoneHints: readonly string[];
}

/** A service port with every endpoint that all its slices list. */
export interface ServiceEntry {
  readonly service: ServicePort;
  readonly endpoints: readonly Endpoint[];
}

/** An object (or part of one) that was skipped, and why. */
export interface InvalidObject {
  readonly kind: 'Service' | 'EndpointSlice';
  /** `namespace/name` when known, otherwise a position such as `#3`. */
  readonly ref: string;
  /** A short machine-friendly reason, used as a metric label. */
  readonly reason: string;
  /** What was wrong, in words, for the log. */
  readonly message: string;
}

/** What the proxy knows of its own node, from the Node object. */
export interface NodeInfo {
  readonly name: string;
  /** `topology.kubernetes.io/zone`; empty when unlabelled. */
  readonly zone: string;
  /** InternalIP and ExternalIP addresses, canonical. */
  readonly addresses: readonly string[];
  /** spec.podCIDRs (spec.podCIDR when that is all there is), canonical: the NodeCIDR local-traffic detector. */
  readonly podCIDRs: readonly string[];
  /**
   * Being deleted, or tainted ToBeDeletedByClusterAutoscaler: load balancers should stop sending traffic here
   * (kube-proxy's `nodeEligible: false` on /healthz).
   */
  readonly goingAway: boolean;
}

/** The whole desired state at one moment. Immutable: build a new one for every change. */
export interface Snapshot {
  /** Entries by service port key, sorted by key so that planners are deterministic. */
  readonly entries: ReadonlyMap<ServicePortKey, ServiceEntry>;
  /** What was skipped while this snapshot was built. */
  readonly invalid: readonly InvalidObject[];
  /** This node, when the source follows its Node object. */
  readonly node?: NodeInfo;
}
