import type { IPFamily } from '@hybrid-proxy/model';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** kube-proxy's sync latency buckets: 1 ms doubling to ~16 s. */
const SYNC_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);

export interface ProxyMetrics {
  readonly registry: Registry;
  readonly syncDuration: Histogram<'ip_family'>;
  readonly fullSyncDuration: Histogram<'ip_family'>;
  readonly partialSyncDuration: Histogram<'ip_family'>;
  readonly lastSyncTimestamp: Gauge<'ip_family'>;
  readonly lastQueuedTimestamp: Gauge<'ip_family'>;
  readonly iptablesRules: Gauge<'ip_family' | 'table'>;
  readonly restoreFailures: Counter<'ip_family'>;
  readonly noLocalEndpoints: Gauge<'ip_family' | 'traffic_policy'>;
  readonly syncFailures: Counter;
  readonly healthzAnswers: Counter<'code'>;
  readonly livezAnswers: Counter<'code'>;
  readonly stateRepairs: Counter;
  readonly invalidObjects: Counter<'kind' | 'reason'>;
  readonly networkProgramming: Histogram<'ip_family'>;
  readonly serviceChanges: Counter;
  readonly endpointChanges: Counter;
  readonly serviceChangesPending: Gauge;
  readonly endpointChangesPending: Gauge;
  readonly watchLastEvent: Gauge<'resource'>;
  readonly watchRestarts: Counter<'resource' | 'reason'>;
}

/** kube-proxy's network programming buckets: 0.25 s to 5 min. */
const PROGRAMMING_BUCKETS = [0.25, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 65, 70, 75, 80, 85, 90, 95, 100, 105, 110, 115, 120, 150, 180, 210, 240, 270, 300];

const FAMILY = ['ip_family'] as const;

/** kube-proxy's ip_family label value: "IPv4" or "IPv6". */
export function ipFamilyLabel(family: IPFamily): 'IPv4' | 'IPv6' {
  return family === 4 ? 'IPv4' : 'IPv6';
}

/** kube-proxy's metric names where they overlap, so existing dashboards and alerts keep working. */
export function createProxyMetrics(registry = new Registry()): ProxyMetrics {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    syncDuration: new Histogram({ name: 'kubeproxy_sync_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds', labelNames: FAMILY, buckets: SYNC_BUCKETS, registers }),
    fullSyncDuration: new Histogram({ name: 'kubeproxy_sync_full_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds for full resyncs', labelNames: FAMILY, buckets: SYNC_BUCKETS, registers }),
    partialSyncDuration: new Histogram({ name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds for partial resyncs', labelNames: FAMILY, buckets: SYNC_BUCKETS, registers }),
    lastSyncTimestamp: new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', help: 'The last time proxy rules were successfully synced', labelNames: FAMILY, registers }),
    lastQueuedTimestamp: new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', help: 'The last time a sync of proxy rules was queued', labelNames: FAMILY, registers }),
    iptablesRules: new Gauge({ name: 'kubeproxy_sync_proxy_rules_iptables_total', help: 'Total number of iptables rules owned by hybrid-proxy', labelNames: ['ip_family', 'table'], registers }),
    restoreFailures: new Counter({ name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total', help: 'Cumulative proxy restore failures (iptables-restore, and ipvsadm -R in IPVS mode)', labelNames: FAMILY, registers }),
    noLocalEndpoints: new Gauge({ name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total', help: 'Number of services with a Local traffic policy and no endpoints', labelNames: ['ip_family', 'traffic_policy'], registers }),
    healthzAnswers: new Counter({ name: 'kubeproxy_proxy_healthz_total', help: 'Cumulative proxy healthz HTTP status', labelNames: ['code'], registers }),
    livezAnswers: new Counter({ name: 'kubeproxy_proxy_livez_total', help: 'Cumulative proxy livez HTTP status', labelNames: ['code'], registers }),
    syncFailures: new Counter({ name: 'hybrid_proxy_sync_failures_total', help: 'Syncs that failed and were retried, in any mode', registers }),
    stateRepairs: new Counter({ name: 'hybrid_proxy_lost_state_repairs_total', help: 'Full syncs run because chains, jumps or sets the proxy applied were removed by someone else', registers }),
    invalidObjects: new Counter({ name: 'hybrid_proxy_invalid_objects_total', help: 'Services and EndpointSlices (or parts of them) skipped as invalid', labelNames: ['kind', 'reason'], registers }),
    networkProgramming: new Histogram({ name: 'kubeproxy_network_programming_duration_seconds', help: 'In Cluster Network Programming Latency in seconds', labelNames: FAMILY, buckets: PROGRAMMING_BUCKETS, registers }),
    serviceChanges: new Counter({ name: 'kubeproxy_sync_proxy_rules_service_changes_total', help: 'Cumulative proxy rules Service changes', registers }),
    endpointChanges: new Counter({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total', help: 'Cumulative proxy rules Endpoint changes', registers }),
    serviceChangesPending: new Gauge({ name: 'kubeproxy_sync_proxy_rules_service_changes_pending', help: 'Pending proxy rules Service changes', registers }),
    endpointChangesPending: new Gauge({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending', help: 'Pending proxy rules Endpoint changes', registers }),
    watchLastEvent: new Gauge({ name: 'hybrid_proxy_watch_last_event_timestamp_seconds', help: 'When each watched resource last brought an event or bookmark', labelNames: ['resource'], registers }),
    watchRestarts: new Counter({ name: 'hybrid_proxy_watch_restarts_total', help: 'Informer restarts after an error or a quiet watch', labelNames: ['resource', 'reason'], registers }),
  };
}

/**
 * Every family's series exist from the start, at zero: as in kube-proxy, a dashboard or an alert on rate() or on
 * "> 0" sees a family before its first partial sync or failure, instead of no data.
 */
export function zeroFamilyMetrics(metrics: ProxyMetrics, families: readonly IPFamily[]): void {
  for (const family of families) {
    const ip_family = ipFamilyLabel(family);
    for (const histogram of [metrics.syncDuration, metrics.fullSyncDuration, metrics.partialSyncDuration, metrics.networkProgramming]) histogram.zero({ ip_family });
    metrics.restoreFailures.inc({ ip_family }, 0);
    for (const traffic_policy of ['internal', 'external']) metrics.noLocalEndpoints.set({ ip_family, traffic_policy }, 0);
  }
}

