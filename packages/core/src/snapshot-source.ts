import type { Snapshot } from '@hybrid-proxy/model';

/** Where snapshots come from: a manifest directory now, the API server's informers later. */
export interface SnapshotSource {
  /** Resolves once the first complete snapshot has been delivered; a source never delivers a partial initial view. */
  start(onSnapshot: (snapshot: Snapshot) => void): Promise<void>;
  stop(): Promise<void>;
}
