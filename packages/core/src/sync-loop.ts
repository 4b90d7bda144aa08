import type { IPFamily, Snapshot, SnapshotMeta, TriggerTime } from '@hybrid-proxy/model';
import { jitteredBackoff } from '@hybrid-proxy/watcher';
import type { ProxyBackend, SyncOutcome } from './backend.js';
import type { Logger } from './logger.js';
import { ipFamilyLabel, type ProxyMetrics } from './metrics.js';

export interface SyncLoopOptions {
  readonly backend: ProxyBackend;
  /** The families the backend programs: the ip_family labels of the loop's metrics. */
  readonly families: readonly IPFamily[];
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** Bursts of updates within this period are coalesced into one sync (kube-proxy's --iptables-min-sync-period). */
  readonly minSyncPeriodMs: number;
  /** A resync runs at least this often, changes or not (kube-proxy's --iptables-sync-period). */
  readonly syncPeriodMs: number;
  /** A full rewrite runs at least this often, catching any drift partial syncs cannot see. */
  readonly fullSyncPeriodMs: number;
  /** Backoff after a failed sync: doubles from the first value up to the second, with jitter. */
  readonly retryBackoffMs?: readonly [number, number];
  readonly now?: () => number;
  readonly onSynced?: (event: SyncEvent) => void;
  /** Work that must follow a successful apply before the next sync starts (conntrack cleanup). */
  readonly afterSync?: (event: SyncEvent) => Promise<void>;
}

export interface SyncEvent {
  readonly outcome: SyncOutcome;
  readonly snapshot: Snapshot;
  readonly durationMs: number;
  /** When the oldest change this sync applied was queued. */
  readonly queuedAt: number | undefined;
  /** The change trigger times of every snapshot this sync covered (coalesced ones included). */
  readonly triggerTimes: readonly TriggerTime[];
}

/**
 * The sync loop: one sync at a time, bursts coalesced, periodic resyncs, retries with backoff.
 * A failed sync leaves the kernel as it was (the backends apply atomically) and the retry is a full sync.
 */
export class SyncLoop {
  private latest: Snapshot | undefined;
  private pendingTriggers: TriggerTime[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Number.POSITIVE_INFINITY;
  private periodic: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private rerun = false;
  private forceFull = true;
  private lastStart = Number.NEGATIVE_INFINITY;
  private lastFull = Number.NEGATIVE_INFINITY;
  private consecutiveFailures = 0;
  /** Set by the periodic timer: the next sync first asks the backend whether its kernel state is still there. */
  private checkDue = false;
  private stopped = false;
  /** Set while an update is queued and not yet applied: the health check's clock. */
  private pendingSince: number | undefined;
  lastSuccessAt: number | undefined;
  private readonly now: () => number;

  constructor(private readonly options: SyncLoopOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Starts periodic resyncs. Nothing is applied before the first snapshot arrives. */
  start(): void {
    this.periodic = setInterval(() => {
      this.checkDue = true;
      this.schedule(0);
    }, this.options.syncPeriodMs);
    this.periodic.unref();
  }

  /** Queues a snapshot; the sync happens no sooner than minSyncPeriod after the previous one. */
  update(snapshot: Snapshot, meta?: SnapshotMeta): void {
    this.latest = snapshot;
    if (meta) for (const time of meta.triggerTimes) this.pendingTriggers.push(time);
    this.pendingSince ??= this.now();
    for (const family of this.options.families) this.options.metrics.lastQueuedTimestamp.set({ ip_family: ipFamilyLabel(family) }, this.now() / 1000);
    this.schedule(this.options.minSyncPeriodMs);
  }

  /** Asks for a full rewrite at the next sync. */
  requestFullSync(): void {
    this.forceFull = true;
    this.schedule(0);
  }

  /** kube-proxy's node eligibility: the latest snapshot's Node is neither being deleted nor tainted for deletion. */
  get nodeEligible(): boolean {
    return !this.latest?.node?.goingAway;
  }

  get oldestPendingAt(): number | undefined {
    return this.pendingSince;
  }

  /** Stops scheduling and waits for a sync in flight; the kernel keeps the rules (as kube-proxy does on exit). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.periodic);
    await this.syncing;
  }

  /** Resolves once nothing is queued or running (for tests and one-shot runs). */
  async idle(): Promise<void> {
    while (this.syncing || this.timer) {
      await (this.syncing ?? new Promise((r) => setTimeout(r, 5)));
    }
  }

  private schedule(minGapMs: number): void {
    if (this.stopped || !this.latest) return;
    if (this.syncing) {
      this.rerun = true;
      return;
    }
    const due = Math.max(this.now(), this.lastStart + minGapMs);
    if (this.timer && this.timerDue <= due) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Number.POSITIVE_INFINITY;
      this.syncing = this.runSync().finally(() => {
        this.syncing = undefined;
        if (this.rerun) {
          this.rerun = false;
          this.schedule(this.options.minSyncPeriodMs);
        }
      });
    }, Math.max(0, due - this.now()));
  }

  private async runSync(): Promise<void> {
    const snapshot = this.latest;
    if (!snapshot) return;
    const { backend, metrics, logger } = this.options;
    const start = this.now();
    this.lastStart = start;
    const queuedAt = this.pendingSince;
    this.pendingSince = undefined;
    const triggerTimes = this.pendingTriggers;
    this.pendingTriggers = [];
    let full = this.forceFull || start - this.lastFull >= this.options.fullSyncPeriodMs;
    try {
      if (this.checkDue && !full) full = await this.lostStateFound();
      this.checkDue = false;
      const outcome = await backend.sync(snapshot, { full });
      const seconds = (this.now() - start) / 1000;
      this.observe(outcome);
      if (outcome.kind === 'full') this.lastFull = start;
      this.forceFull = false;
      this.consecutiveFailures = 0;
      this.lastSuccessAt = this.now();
      const event = { outcome, snapshot, durationMs: seconds * 1000, queuedAt, triggerTimes };
      await this.options.afterSync?.(event);
      logger.info('synced', { kind: outcome.kind, services: snapshot.entries.size, durationMs: Math.round(seconds * 1000), rules: outcome.rulesPerTable });
      this.options.onSynced?.(event);
    } catch (err) {
      // The update is still pending: keep its original queue time so health reflects how long it has waited.
      this.pendingSince = Math.min(queuedAt ?? start, this.pendingSince ?? start);
      this.pendingTriggers.unshift(...triggerTimes);
      this.forceFull = true;
      this.consecutiveFailures++;
      metrics.syncFailures.inc();
      const delay = this.backoffMs();
      logger.error('sync failed; the previous rules stay in place', { error: err instanceof Error ? err.message : String(err), retryInMs: delay, failures: this.consecutiveFailures });
      this.retryAfter(delay);
    }
  }

  /** kube-proxy's per-proxier metrics, one ip_family label per family that this sync applied. */
  private observe(outcome: SyncOutcome): void {
    const { metrics } = this.options;
    for (const family of outcome.families) {
      const labels = { ip_family: ipFamilyLabel(family.family) };
      const seconds = family.durationMs / 1000;
      metrics.syncDuration.observe(labels, seconds);
      (family.kind === 'full' ? metrics.fullSyncDuration : metrics.partialSyncDuration).observe(labels, seconds);
      metrics.lastSyncTimestamp.set(labels, this.now() / 1000);
      for (const [table, count] of Object.entries(family.rulesPerTable)) metrics.iptablesRules.set({ ...labels, table }, count);
    }
  }

  /** Whether someone removed what the last sync applied; if so the sync that follows is a full one. */
  private async lostStateFound(): Promise<boolean> {
    const lost = (await this.options.backend.lostState?.()) ?? [];
    if (lost.length === 0) return false;
    this.options.metrics.stateRepairs.inc();
    this.options.logger.warn('rules or sets were removed by someone else; restoring them with a full sync', { lost: lost.slice(0, 10), count: lost.length });
    return true;
  }

  private backoffMs(): number {
    const [first, max] = this.options.retryBackoffMs ?? [1000, 30_000];
    return jitteredBackoff(this.consecutiveFailures, first, max);
  }

  private retryAfter(delayMs: number): void {
    if (this.stopped) return;
    const retry = setTimeout(() => this.schedule(0), delayMs);
    retry.unref();
  }
}
