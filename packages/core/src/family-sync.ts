import type { IPFamily } from '@hybrid-proxy/model';
import type { FamilySync, SyncKind, SyncOutcome } from './backend.js';

export interface FamilyStep {
  readonly family: IPFamily;
  apply(): Promise<{ readonly kind: SyncKind; readonly rulesPerTable: Readonly<Record<string, number>> }>;
}

const RANK: Record<SyncKind, number> = { unchanged: 0, partial: 1, full: 2 };

/**
 * Applies each family in turn and sums up the sync. A family that fails stops the sync: `onFailure` hears which
 * one and why (to count and log it, and to invalidate what the other families applied) before the error is rethrown.
 */
export async function syncEachFamily(steps: readonly FamilyStep[], onFailure: (family: IPFamily, err: unknown) => void): Promise<SyncOutcome> {
  const families: FamilySync[] = [];
  for (const step of steps) {
    const started = performance.now();
    try {
      const result = await step.apply();
      families.push({ family: step.family, kind: result.kind, rulesPerTable: result.rulesPerTable, durationMs: performance.now() - started });
    } catch (err) {
      onFailure(step.family, err);
      throw err;
    }
  }
  const rulesPerTable: Record<string, number> = { filter: 0, nat: 0 };
  for (const family of families) for (const [table, count] of Object.entries(family.rulesPerTable)) rulesPerTable[table] = (rulesPerTable[table] ?? 0) + count;
  const kind = families.reduce<SyncKind>((worst, family) => (RANK[family.kind] > RANK[worst] ? family.kind : worst), 'unchanged');
  return { kind, rulesPerTable, families };
}
