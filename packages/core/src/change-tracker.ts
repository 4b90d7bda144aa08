import { diffSnapshots, emptySnapshot, type Snapshot } from '@hybrid-proxy/model';
import type { ProxyMetrics } from './metrics.js';

/**
 * kube-proxy's change metrics, source-agnostic: every received snapshot is compared with the previous one
 * (changes_total), and the latest with the last applied one (changes_pending).
 */
export class ChangeTracker {
  private received: Snapshot = emptySnapshot;
  private applied: Snapshot = emptySnapshot;

  constructor(private readonly metrics: ProxyMetrics) {}

  onReceived(snapshot: Snapshot): void {
    const diff = diffSnapshots(this.received, snapshot);
    this.metrics.serviceChanges.inc(diff.added.length + diff.removed.length + diff.serviceChanged.length);
    this.metrics.endpointChanges.inc(diff.endpointsChanged.length);
    this.received = snapshot;
    this.updatePending();
  }

  onApplied(snapshot: Snapshot): void {
    this.applied = snapshot;
    this.updatePending();
  }

  private updatePending(): void {
    const pending = diffSnapshots(this.applied, this.received);
    this.metrics.serviceChangesPending.set(pending.added.length + pending.removed.length + pending.serviceChanged.length);
    this.metrics.endpointChangesPending.set(pending.endpointsChanged.length);
  }
}
