import type { IPFamily, Snapshot } from './types.js';

/** When the EndpointSlice controller recorded a change, and the family of the slice it changed. */
export interface TriggerTime {
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly family: IPFamily;
}

/** What a source knows about how a snapshot came about. */
export interface SnapshotMeta {
  /**
   * `endpoints.kubernetes.io/last-change-trigger-time` of the EndpointSlice changes that this snapshot is the first
   * to include: the start of the network programming latency. Only changes made after the source started count,
   * never those of the first list, and a relist that brings a slice back unchanged adds nothing.
   */
  readonly triggerTimes: readonly TriggerTime[];
}

export type SnapshotListener = (snapshot: Snapshot, meta?: SnapshotMeta) => void;

/** Where snapshots come from: a manifest directory or the API server's informers. */
export interface SnapshotSource {
  /** Resolves once the first complete snapshot has been delivered; a source never delivers a partial initial view. */
  start(onSnapshot: SnapshotListener): Promise<void>;
  stop(): Promise<void>;
}

/** What a source that watches an API reports about its watches (a manifest directory reports nothing). */
export interface WatchHooks {
  /** Any event from the API for this resource (objects and bookmarks): the watchdog's heartbeat. */
  onEvent?(resource: string): void;
  /** The watch was restarted: after an error, or because it went quiet. */
  onRestart?(resource: string, reason: 'error' | 'quiet'): void;
}
