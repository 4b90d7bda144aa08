/** Messages between the lab (host side) and the traffic client running inside the client namespace. */

export type TrafficPath = 'ClusterIP' | 'NodePort' | 'ExternalIP' | 'LoadBalancer';

export interface TrafficTarget {
  /** The service port key, echoed back in results. */
  readonly key: string;
  readonly protocol: 'TCP' | 'UDP';
  readonly ip: string;
  readonly port: number;
  /** How the client reaches the Service: its ClusterIP (the default), a node port, an external IP or a load-balancer IP. */
  readonly via?: TrafficPath;
  /** UDP only: send from this source port (to test conntrack), instead of a fresh one per request. */
  readonly sourcePort?: number;
}

export interface BurstRequest {
  readonly id: number;
  readonly targets: readonly TrafficTarget[];
  /** Requests per target. Every request uses a new connection (TCP) or a new socket (UDP), so each is balanced anew. */
  readonly count: number;
  /** Requests in flight at once, per target. */
  readonly concurrency: number;
  /** Pause between the requests of one worker, to spread a burst over time. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /**
   * UDP only: request i of a target is sent from port sourcePortBase + i, so every request is a flow of its own
   * (random ephemeral ports sometimes meet a live conntrack entry and join its flow).
   */
  readonly sourcePortBase?: number;
}

export interface TargetResult {
  readonly key: string;
  readonly ok: number;
  readonly failed: number;
  /** Answers per backend name. */
  readonly backends: Record<string, number>;
  /** Failures per error code (ECONNREFUSED, ETIMEDOUT, ...). */
  readonly errors: Record<string, number>;
}

export interface BurstResult {
  readonly id: number;
  readonly results: readonly TargetResult[];
}
