import type { InvalidObject, Snapshot } from '@hybrid-proxy/model';
import type { Logger } from './logger.js';
import type { ProxyMetrics } from './metrics.js';

/**
 * Logs and counts each invalid object once, when it first appears: snapshots are rebuilt on every change,
 * and counting the same bad object every time would make the metric meaningless.
 */
export class InvalidObjectReporter {
  private seen = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: ProxyMetrics,
  ) {}

  report(snapshot: Snapshot): void {
    const current = new Set<string>();
    for (const item of snapshot.invalid) {
      const id = invalidId(item);
      current.add(id);
      if (this.seen.has(id)) continue;
      this.metrics.invalidObjects.inc({ kind: item.kind, reason: item.reason });
      this.logger.warn('skipped invalid object', { kind: item.kind, object: item.ref, reason: item.reason, detail: item.message });
    }
    this.seen = current;
  }
}

function invalidId(item: InvalidObject): string {
  return `${item.kind}|${item.ref}|${item.reason}|${item.message}`;
}
