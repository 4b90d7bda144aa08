import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** kube-proxy's sync latency buckets: 1 ms doubling to ~16 s. */
const SYNC_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);

export interface ProxyMetrics {
  readonly registry: Registry;
  readonly syncDuration: Histogram;
  readonly fullSyncDuration: Histogram;
  readonly partialSyncDuration: Histogram;
  readonly lastSyncTimestamp: Gauge;
  readonly iptablesRules: Gauge<'table'>;
  readonly restoreFailures: Counter;
  readonly syncFailures: Counter;
  readonly invalidObjects: Counter<'kind' | 'reason'>;
}

/** kube-proxy's metric names where they overlap, so existing dashboards and alerts keep working. */
export function createProxyMetrics(registry = new Registry()): ProxyMetrics {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    syncDuration: new Histogram({ name: 'kubeproxy_sync_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds', buckets: SYNC_BUCKETS, registers }),
    fullSyncDuration: new Histogram({ name: 'kubeproxy_sync_full_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds for full resyncs', buckets: SYNC_BUCKETS, registers }),
    partialSyncDuration: new Histogram({ name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds for partial resyncs', buckets: SYNC_BUCKETS, registers }),
    lastSyncTimestamp: new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', help: 'The last time proxy rules were successfully synced', registers }),
    iptablesRules: new Gauge({ name: 'kubeproxy_sync_proxy_rules_iptables_total', help: 'Total number of iptables rules owned by hybrid-proxy', labelNames: ['table'], registers }),
    restoreFailures: new Counter({ name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total', help: 'Cumulative proxy iptables restore failures', registers }),
    syncFailures: new Counter({ name: 'hybrid_proxy_sync_failures_total', help: 'Syncs that failed and were retried, in any mode', registers }),
    invalidObjects: new Counter({ name: 'hybrid_proxy_invalid_objects_total', help: 'Services and EndpointSlices (or parts of them) skipped as invalid', labelNames: ['kind', 'reason'], registers }),
  };
}
