import type { CommandRunner } from '@hybrid-proxy/exec';
import type { IPFamily, Snapshot } from '@hybrid-proxy/model';
import type { Logger } from './logger.js';
import type { ProxyMetrics } from './metrics.js';

export type ProxyMode = 'iptables' | 'ipvs';
export const PROXY_MODES: readonly ProxyMode[] = ['iptables', 'ipvs'];

export type SyncKind = 'full' | 'partial' | 'unchanged';

/** One IP family's part of a sync: kube-proxy runs a proxier per family, and labels its metrics with ip_family. */
export interface FamilySync {
  readonly family: IPFamily;
  readonly kind: SyncKind;
  readonly durationMs: number;
  /** Rules per table after the sync (kubeproxy_sync_proxy_rules_iptables_total{ip_family,table}). */
  readonly rulesPerTable: Readonly<Record<string, number>>;
}

export interface SyncOutcome {
  /** full when any family was rewritten in full, partial when any changed, else unchanged. */
  readonly kind: SyncKind;
  /** Rules per table after the sync, all families together. */
  readonly rulesPerTable: Readonly<Record<string, number>>;
  readonly families: readonly FamilySync[];
}

/**
 * What a mode plugs into the sync loop: the loop hands it settled snapshots, never raw events.
 * A failed sync throws and must leave the previous kernel state in place.
 */
export interface ProxyBackend {
  readonly mode: ProxyMode;
  /** Verifies tools, privileges and kernel features up front, with an error that says what to install or enable. */
  preflight(): Promise<void>;
  sync(snapshot: Snapshot, options: { readonly full: boolean }): Promise<SyncOutcome>;
  /**
   * What someone else removed of the state the last sync applied (chains, jumps, sets), in words; empty when all
   * is in place. Asked once per sync period: anything listed is restored with a full sync.
   */
  lostState?(): Promise<readonly string[]>;
  /** The kernel input this snapshot would produce, touching nothing (`hybrid-proxy plan`); `local`: the node's addresses. */
  describe(snapshot: Snapshot, local?: readonly string[]): string;
  /** Removes everything the mode created. */
  cleanup(): Promise<void>;
  /** Ends what the mode keeps running between syncs (tools started ahead), leaving the rules in place. */
  close?(): Promise<void>;
}

/** What every mode is built from. */
export interface ModeOptions {
  readonly runner: CommandRunner;
  readonly families: readonly IPFamily[];
  readonly logger: Logger;
  /** Where restore failures are counted; none in `plan` and in tests that do not look. */
  readonly metrics?: ProxyMetrics;
}
