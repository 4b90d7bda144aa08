import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import {
  SnapshotAssembler,
  collectConversions,
  convertEndpointSlice,
  convertNode,
  convertService,
  type Conversion,
  type EndpointSliceConversion,
  type EndpointSliceDef,
  type InvalidObject,
  type NodeInfo,
  type ServiceConversion,
  type ServiceDef,
} from '@hybrid-proxy/model';
import type { SourceLogger } from './logger.js';
import type { SnapshotListener, SnapshotSource, TriggerTime, WatchHooks } from '@hybrid-proxy/model';
import { SupervisedInformer, type InformerHandlers } from './supervised-informer.js';
import { listInPages } from './paged-list.js';

/** kube-proxy's selector for both Services and EndpointSlices: skip headless Services and other proxies' Services. */
export const PROXY_LABEL_SELECTOR = '!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name';

export interface ApiSourceOptions {
  readonly kubeConfig: KubeConfig;
  /** This node's name: its Node object gives the zone (topology hints) and addresses. */
  readonly nodeName: string;
  readonly logger: SourceLogger;
  readonly hooks?: WatchHooks;
  /** Events within this window become one snapshot (the sync loop coalesces further). */
  readonly emitDelayMs?: number;
  readonly backoffMs?: readonly [number, number];
  readonly watchTimeoutSeconds?: number;
  readonly quietLimitMs?: number;
}

/** A conversion's value when the object is valid and programmed. */
const valueOf = <T>(conversion: Conversion<T | null> | undefined): T | undefined => (conversion?.ok ? (conversion.value ?? undefined) : undefined);

const key = (obj: KubernetesObject) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

/**
 * Services, EndpointSlices and this node's Node object from the API server, through client-node informers.
 * Each object is converted once when it changes; snapshots are assembled from the converted objects. Nothing is
 * emitted before both Services and EndpointSlices have been listed, so a proxy never applies an empty or half view.
 */
export class KubernetesApiSource implements SnapshotSource {
  /** Keeps unchanged Services' entries (same objects) from one snapshot to the next. */
  private readonly assembler = new SnapshotAssembler();
  private readonly services = new Map<string, ServiceConversion>();
  private readonly slices = new Map<string, EndpointSliceConversion>();
  private node: NodeInfo | undefined;
  private readonly informers: SupervisedInformer[];
  private listener: SnapshotListener | undefined;
  private ready = false;
  private emitTimer: NodeJS.Timeout | undefined;
  private triggerTimes: TriggerTime[] = [];
  /** Set by start(): trigger times before it are the history of the first list, not changes this proxy saw. */
  private startedAt = Number.POSITIVE_INFINITY;
  private readonly lastTriggers = new Map<string, number>();

  constructor(private readonly options: ApiSourceOptions) {
    const { kubeConfig, logger, hooks } = options;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
    const common = { kubeConfig, logger, hooks, backoffMs: options.backoffMs, watchTimeoutSeconds: options.watchTimeoutSeconds, quietLimitMs: options.quietLimitMs };
    const nodeSelector = `metadata.name=${options.nodeName}`;
    this.informers = [
      new SupervisedInformer({
        ...common,
        resource: 'services',
        path: '/api/v1/services',
        labelSelector: PROXY_LABEL_SELECTOR,
        list: (onPage) => listInPages((page) => core.listServiceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR, ...page }), onPage),
        trimCached: true,
        handlers: this.cacheHandlers(this.services, convertService, (id, conversion) => this.assembler.setService(id, valueOf(conversion))),
      }),
      new SupervisedInformer({
        ...common,
        resource: 'endpointslices',
        path: '/apis/discovery.k8s.io/v1/endpointslices',
        labelSelector: PROXY_LABEL_SELECTOR,
        list: (onPage) => listInPages((page) => discovery.listEndpointSliceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR, ...page }), onPage),
        trimCached: true,
        handlers: this.cacheHandlers(this.slices, convertEndpointSlice, (id, conversion) => {
          const slice = valueOf(conversion);
          this.assembler.setSlice(id, slice);
          this.noteTriggerTime(id, slice ?? undefined);
        }),
      }),
      new SupervisedInformer({
        ...common,
        resource: 'nodes',
        path: '/api/v1/nodes',
        fieldSelector: nodeSelector,
        list: () => core.listNode({ fieldSelector: nodeSelector }),
        handlers: {
          upsert: (obj) => this.changed(() => (this.node = convertNode(obj))),
          remove: () => this.changed(() => (this.node = undefined)),
          listed: (objects) => this.changed(() => (this.node = objects[0] ? convertNode(objects[0]) : undefined)),
        },
      }),
    ];
  }

  /** Keeps each object's conversion (for its errors) and tells `onSet` of every change; undefined when removed. */
  private cacheHandlers<T>(cache: Map<string, T>, convert: (obj: unknown) => T, onSet: (id: string, conversion: T | undefined) => void): InformerHandlers {
    return {
      upsert: (obj) =>
        this.changed(() => {
          const converted = convert(obj);
          cache.set(key(obj), converted);
          onSet(key(obj), converted);
        }),
      remove: (obj) =>
        this.changed(() => {
          cache.delete(key(obj));
          onSet(key(obj), undefined);
        }),
      listed: (objects) =>
        this.changed(() => {
          const present = new Set(objects.map(key));
          for (const cached of [...cache.keys()]) {
            if (present.has(cached)) continue;
            cache.delete(cached);
            onSet(cached, undefined);
          }
        }),
    };
  }

  /** kube-proxy's rule: only a new trigger time made after the start is a change to measure (a relist repeats old ones). */
  private noteTriggerTime(id: string, slice: EndpointSliceDef | undefined): void {
    const at = slice?.triggerTime;
    const previous = this.lastTriggers.get(id);
    if (at === undefined) {
      this.lastTriggers.delete(id);
      return;
    }
    this.lastTriggers.set(id, at);
    if (at !== previous && at >= this.startedAt) this.triggerTimes.push({ at, family: slice!.family });
  }

  private changed(apply: () => void): void {
    apply();
    if (!this.ready || this.emitTimer) return;
    this.emitTimer = setTimeout(() => this.emit(), this.options.emitDelayMs ?? 50);
  }

  private emit(): void {
    this.emitTimer = undefined;
    // The assembler already holds every change; the conversions are walked only for their errors and warnings.
    const invalid: InvalidObject[] = [];
    collectConversions<ServiceDef>(this.services.values(), invalid);
    collectConversions<EndpointSliceDef>(this.slices.values(), invalid);
    const triggerTimes = this.triggerTimes;
    this.triggerTimes = [];
    this.listener?.(this.assembler.snapshot(invalid, this.node), { triggerTimes });
  }

  /** Resolves once Services and EndpointSlices are listed and the first snapshot is delivered; retries until then. */
  async start(onSnapshot: SnapshotListener): Promise<void> {
    this.listener = onSnapshot;
    this.startedAt = Date.now();
    for (const informer of this.informers) informer.start();
    await Promise.all(this.informers.slice(0, 2).map((i) => i.synced));
    this.ready = true;
    clearTimeout(this.emitTimer);
    this.emit();
  }

  async stop(): Promise<void> {
    clearTimeout(this.emitTimer);
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  /** When each resource last brought an event (or bookmark), for the watch health metric. */
  lastEventTimes(): Record<string, number> {
    return { services: this.informers[0]!.lastEventAt, endpointslices: this.informers[1]!.lastEventAt, nodes: this.informers[2]!.lastEventAt };
  }
}
