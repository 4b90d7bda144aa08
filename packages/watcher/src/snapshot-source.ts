import type { Snapshot } from '@hybrid-proxy/model';

/** What a source knows about how a snapshot came about. */
export interface SnapshotMeta {
  /**
   * `endpoints.kubernetes.io/last-change-trigger-time` of the EndpointSlice changes that this snapshot is the first
   * to include (milliseconds since the epoch): the start of the network programming latency.
   */
  readonly triggerTimes: readonly number[];
}

export type SnapshotListener = (snapshot: Snapshot, meta?: SnapshotMeta) => void;

/** Where snapshots come from: a manifest directory or the API server's informers. */
export interface SnapshotSource {
  /** Resolves once the first complete snapshot has been delivered; a source never delivers a partial initial view. */
  start(onSnapshot: SnapshotListener): Promise<void>;
  stop(): Promise<void>;
}
