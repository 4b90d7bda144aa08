import { watch, type FSWatcher } from 'node:fs';
import { buildSnapshot, type Snapshot, type SnapshotListener, type SnapshotSource } from '@hybrid-proxy/model';
import { classifyObjects, listManifestFiles, readManifestFile, type ManifestObjects } from './manifest-files.js';
import type { SourceLogger } from './logger.js';

export interface ManifestSourceOptions {
  readonly dir: string;
  readonly logger: SourceLogger;
  /** Follow the directory and emit a new snapshot on every change (default true). */
  readonly watch?: boolean;
  /** Editors write files in several steps: wait this long for the directory to settle. */
  readonly debounceMs?: number;
}

/**
 * Services and EndpointSlices from a directory of YAML/JSON files. A file that fails to parse keeps its last
 * good content, so a half-written edit never drops the rules of the Services it holds.
 */
export class ManifestDirectorySource implements SnapshotSource {
  private readonly lastGood = new Map<string, unknown[]>();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(private readonly options: ManifestSourceOptions) {}

  /** Reads the directory once. */
  async load(): Promise<Snapshot> {
    const files = await listManifestFiles(this.options.dir);
    const present = new Set(files);
    for (const file of [...this.lastGood.keys()]) if (!present.has(file)) this.lastGood.delete(file);
    for (const file of files) {
      try {
        this.lastGood.set(file, await readManifestFile(file));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.lastGood.delete(file);
          continue;
        }
        const kept = this.lastGood.has(file) ? 'keeping its previous content' : 'skipping it';
        this.options.logger.warn(`cannot parse manifest file; ${kept}`, { file, error: (err as Error).message });
      }
    }
    const objects: ManifestObjects = { services: [], endpointSlices: [] };
    for (const file of files) classifyObjects(this.lastGood.get(file) ?? [], objects);
    return buildSnapshot(objects.services, objects.endpointSlices);
  }

  async start(onSnapshot: SnapshotListener): Promise<void> {
    onSnapshot(await this.load());
    if (this.options.watch === false) return;
    this.watcher = watch(this.options.dir, { recursive: true }, () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => {
        this.reading = this.reading.then(async () => {
          try {
            onSnapshot(await this.load());
          } catch (err) {
            this.options.logger.error('cannot read manifest directory; keeping the current rules', { dir: this.options.dir, error: (err as Error).message });
          }
        });
      }, this.options.debounceMs ?? 100);
    });
  }

  async stop(): Promise<void> {
    clearTimeout(this.debounce);
    this.watcher?.close();
    await this.reading;
  }
}
