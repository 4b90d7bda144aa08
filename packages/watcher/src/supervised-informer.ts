import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { WatchHooks } from '@hybrid-proxy/model';
import { jitteredBackoff } from './backoff.js';
import type { SourceLogger } from './logger.js';

export interface ListResult {
  readonly items: readonly KubernetesObject[];
  readonly metadata?: { readonly resourceVersion?: string };
}

export interface InformerHandlers {
  upsert(obj: KubernetesObject): void;
  remove(obj: KubernetesObject): void;
  /** After each (re)list: every object the API has now; anything else cached is gone. */
  listed(objects: readonly KubernetesObject[]): void;
}

export interface SupervisedInformerOptions {
  readonly resource: string;
  readonly kubeConfig: KubeConfig;
  /** The watch path, e.g. /api/v1/services. */
  readonly path: string;
  /** Lists the resource; a paged list hands each page to `onPage` as it arrives. */
  readonly list: (onPage: (items: readonly KubernetesObject[]) => void) => Promise<ListResult>;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly handlers: InformerHandlers;
  readonly logger: SourceLogger;
  readonly hooks?: WatchHooks;
  /** First and largest retry delay after an error. */
  readonly backoffMs?: readonly [number, number];
  /** The API server ends each watch after this long (a fresh watch then resumes from the last resourceVersion). */
  readonly watchTimeoutSeconds?: number;
  /** Restart a watch that brought nothing, not even a bookmark, for this long: a half-open TCP connection. */
  readonly quietLimitMs?: number;
  /**
   * Cut each object ListWatch keeps down to its identity (trimToIdentity) once `upsert` has handled it. Only for
   * handlers that keep what they need themselves and read nothing but names from `remove` and `listed`.
   */
  readonly trimCached?: boolean;
}

/**
 * ListWatch keeps every object it delivered, and later reads only its metadata name, namespace and
 * resourceVersion (to find what a relist removed, and to skip an object whose version it has). Once converted,
 * an object is cut down to those in place: at 10k Services × 10 endpoints, the typed objects are tens of MB that
 * the proxy never reads again. The other fields are set to undefined, not deleted: a deleted field turns the
 * object into a dictionary, some 400 bytes each, 8 MiB at 10k Services and 10k slices.
 */
export function trimToIdentity(obj: KubernetesObject): void {
  const { name, namespace, resourceVersion } = obj.metadata ?? {};
  const fields = obj as Record<string, unknown>;
  for (const field of Object.keys(fields)) if (field !== 'apiVersion' && field !== 'kind') fields[field] = undefined;
  obj.metadata = { name, namespace, resourceVersion };
}

/**
 * One client-node informer under supervision. client-node's ListWatch relists by itself after a 410, but on any
 * other error (a refused connection, a failed list) it emits `error` and stops for good, and its watch has no
 * timeout, so a half-open connection hangs silently. This supervisor restarts it with jittered backoff, restarts a
 * watch that went quiet, and guards against double starts. Each restart is a new generation with a fresh
 * ListWatch; events from older generations are ignored.
 */
export class SupervisedInformer {
  private generation = 0;
  private current: ListWatch<KubernetesObject> | undefined;
  private running = false;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private resolveSynced!: () => void;
  /** Resolves once the first list has been delivered to the handlers. */
  readonly synced: Promise<void> = new Promise((resolve) => (this.resolveSynced = resolve));
  lastEventAt = 0;

  constructor(private readonly options: SupervisedInformerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.launch();
    const quiet = this.options.quietLimitMs ?? ((this.options.watchTimeoutSeconds ?? 300) + 60) * 1000;
    this.watchdog = setInterval(() => {
      if (this.current && this.lastEventAt > 0 && Date.now() - this.lastEventAt > quiet) this.restart('quiet', new Error(`no event for ${Math.round((Date.now() - this.lastEventAt) / 1000)} s`));
    }, Math.min(quiet, 5000));
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    const informer = this.current;
    this.current = undefined;
    await informer?.stop();
  }

  private watchPath(): string {
    // ListWatch keeps a query already in the path: ask for bookmarks and for a server-side end to every watch.
    return `${this.options.path}?allowWatchBookmarks=true&timeoutSeconds=${this.options.watchTimeoutSeconds ?? 300}`;
  }

  private launch(): void {
    const gen = ++this.generation;
    this.lastEventAt = Date.now(); // a new watch gets the full quiet limit before the watchdog looks at it
    const live = () => gen === this.generation && this.running;
    const { handlers, hooks, resource } = this.options;
    const heartbeat = () => {
      this.lastEventAt = Date.now();
      hooks?.onEvent?.(resource);
    };
    // With trimCached, each listed page is converted and trimmed as it arrives: the full objects then die young,
    // instead of all of them waiting in the list for ListWatch. ListWatch's events for them are skipped.
    const seen = new WeakSet<KubernetesObject>();
    const onPage = (items: readonly KubernetesObject[]) => {
      if (!this.options.trimCached || !live()) return;
      for (const obj of items) {
        const cached = informer.get(obj.metadata?.name ?? '', obj.metadata?.namespace);
        // The same version: ListWatch keeps the cached object and tells nobody.
        if (!cached || cached.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
          handlers.upsert(obj);
          seen.add(obj);
        }
        trimToIdentity(obj);
      }
    };
    const list = async () => {
      const result = await this.options.list(onPage);
      if (live()) {
        // ListWatch adds the listed items right after this promise resolves; reconcile after that.
        setImmediate(() => {
          if (!live()) return;
          handlers.listed(result.items);
          this.attempts = 0;
          heartbeat();
          this.resolveSynced();
        });
      }
      return result as { items: KubernetesObject[]; metadata?: { resourceVersion?: string } };
    };
    const informer = new ListWatch<KubernetesObject>(this.watchPath(), new Watch(this.options.kubeConfig), list as never, false, this.options.labelSelector, this.options.fieldSelector);
    const upsert = (obj: KubernetesObject) => {
      if (!live()) return;
      heartbeat();
      if (seen.delete(obj)) return;
      handlers.upsert(obj);
      if (this.options.trimCached) trimToIdentity(obj);
    };
    informer.on('add', upsert);
    informer.on('update', upsert);
    informer.on('delete', (obj) => live() && (heartbeat(), handlers.remove(obj)));
    informer.on('error', (err) => live() && this.restart('error', err));
    this.current = informer;
    informer.start().catch((err: unknown) => live() && this.restart('error', err));
  }

  private restart(reason: 'error' | 'quiet', err: unknown): void {
    if (!this.running) return;
    this.attempts++;
    const [first, max] = this.options.backoffMs ?? [1000, 30_000];
    const delay = reason === 'quiet' ? 0 : jitteredBackoff(this.attempts, first, max);
    const message = err instanceof Error ? err.message : String(err);
    this.options.logger[reason === 'quiet' ? 'warn' : 'error'](
      reason === 'quiet' ? `watch of ${this.options.resource} went quiet; restarting it` : `cannot list or watch ${this.options.resource}; retrying`,
      { resource: this.options.resource, error: message, attempt: this.attempts, retryInMs: delay, server: this.options.kubeConfig.getCurrentCluster()?.server },
    );
    this.options.hooks?.onRestart?.(this.options.resource, reason);
    const old = this.current;
    this.current = undefined;
    this.generation++;
    void old?.stop().catch(() => undefined);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.running && this.launch(), delay);
  }
}
