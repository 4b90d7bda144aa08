import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A stand-in for kube-apiserver, for the one thing that cannot exist on these machines. It speaks the list/watch
 * protocol for Services, EndpointSlices and Nodes as client-node uses it: resourceVersions on lists and events,
 * `?watch=true` streams of JSON lines, BOOKMARK events, 410 Gone (as an ERROR event carrying a Status) for a
 * compacted resourceVersion, label and field selectors, and server-side watch timeouts. Faults on demand: dropped
 * connections, watches that hang without a word, slow responses, failing lists, and being down.
 * It stores whatever JSON it is given, unvalidated, so tests can feed bad objects.
 */
type Resource = 'services' | 'endpointslices' | 'nodes';
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROUTES: Record<string, { resource: Resource; listKind: string; apiVersion: string }> = {
  '/api/v1/services': { resource: 'services', listKind: 'ServiceList', apiVersion: 'v1' },
  '/apis/discovery.k8s.io/v1/endpointslices': { resource: 'endpointslices', listKind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1' },
  '/api/v1/nodes': { resource: 'nodes', listKind: 'NodeList', apiVersion: 'v1' },
};
const KIND_RESOURCE: Record<string, Resource> = { Service: 'services', EndpointSlice: 'endpointslices', Node: 'nodes' };

interface WatchEvent {
  readonly rv: number;
  readonly resource: Resource;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Json;
  readonly previous: Json | undefined;
}

interface ActiveWatch {
  readonly resource: Resource;
  readonly matches: (obj: Json) => boolean;
  readonly res: ServerResponse;
  hung: boolean;
}

export interface ApiServerDoubleOptions {
  /** How often a watch that asked for them gets a BOOKMARK. */
  readonly bookmarkIntervalMs?: number;
}

export class ApiServerDouble {
  private rv = 1;
  private oldestRV = 1;
  private readonly objects: Record<Resource, Map<string, Json>> = { services: new Map(), endpointslices: new Map(), nodes: new Map() };
  private readonly history: WatchEvent[] = [];
  private readonly watches = new Set<ActiveWatch>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private port = 0;
  private host = '127.0.0.1';
  /** Delay before every response (a slow API server). */
  delayMs = 0;
  /** The next N list requests fail with 500. */
  failLists = 0;
  /** Requests served, by kind, for assertions on how the client behaved (each page of a list counts). */
  readonly requests = { list: 0, watch: 0 };
  /** Lists served in pages: the rest of each, as it was at its first page, by continue token. */
  private readonly continuations = new Map<string, { readonly rv: number; readonly items: Json[] }>();
  private nextToken = 0;

  constructor(private readonly options: ApiServerDoubleOptions = {}) {}

  /** Listens (again, on the same port after a stop, when it has one). Resolves with the base URL. */
  async start(host = this.host, port = this.port): Promise<string> {
    this.host = host;
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this.url;
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  /** Goes down: every connection is cut and new ones are refused until start() again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.dropWatches();
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  /** Creates or replaces an object (by kind, namespace, name); returns its new resourceVersion. */
  apply(object: Json): number {
    const resource = KIND_RESOURCE[object?.kind];
    if (!resource) throw new Error(`the API double serves Service, EndpointSlice and Node, not ${object?.kind}`);
    const id = this.id(object);
    const previous = this.objects[resource].get(id);
    const rv = ++this.rv;
    const stored = { ...object, metadata: { ...object.metadata, uid: previous?.metadata?.uid ?? randomUUID(), resourceVersion: String(rv) } };
    this.objects[resource].set(id, stored);
    this.publish({ rv, resource, type: previous ? 'MODIFIED' : 'ADDED', object: stored, previous });
    return rv;
  }

  remove(kind: string, namespace: string | undefined, name: string): number {
    const resource = KIND_RESOURCE[kind]!;
    const id = `${namespace ?? ''}/${name}`;
    const previous = this.objects[resource].get(id);
    if (!previous) return this.rv;
    this.objects[resource].delete(id);
    const rv = ++this.rv;
    this.publish({ rv, resource, type: 'DELETED', object: { ...previous, metadata: { ...previous.metadata, resourceVersion: String(rv) } }, previous });
    return rv;
  }

  /** Compacts the event history: a watch resuming from any resourceVersion seen so far now gets 410 Gone. */
  compact(): void {
    this.history.length = 0;
    this.oldestRV = this.rv + 1;
  }

  /** Cuts every open watch connection abruptly (a dropped TCP connection, a restarted API server). */
  dropWatches(): void {
    for (const watch of this.watches) watch.res.socket?.destroy();
    this.watches.clear();
  }

  /** Open watches stop receiving anything, bookmarks included, while their connections stay open (half-open TCP). */
  hangWatches(): void {
    for (const watch of this.watches) watch.hung = true;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  private id(object: Json): string {
    const meta = object?.metadata ?? {};
    return `${object?.kind === 'Node' ? '' : (meta.namespace ?? 'default')}/${meta.name}`;
  }

  private publish(event: WatchEvent): void {
    this.history.push(event);
    for (const watch of this.watches) if (watch.resource === event.resource) this.send(watch, event);
  }

  /** Sends an event as this watcher sees it through its selector (an object leaving the selection is a DELETED). */
  private send(watch: ActiveWatch, event: WatchEvent): void {
    if (watch.hung) return;
    const now = event.type !== 'DELETED' && watch.matches(event.object);
    const before = event.previous !== undefined && watch.matches(event.previous);
    let type: string | undefined;
    if (event.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else if (now) type = before ? 'MODIFIED' : 'ADDED';
    else if (before) type = 'DELETED';
    if (type) watch.res.write(JSON.stringify({ type, object: event.object }) + '\n');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const url = new URL(req.url ?? '/', 'http://double');
    const route = ROUTES[url.pathname];
    if (!route || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(status(404, 'NotFound', `the API double does not serve ${req.method} ${url.pathname}`)));
      return;
    }
    const matches = selectorMatcher(url.searchParams.get('labelSelector'), url.searchParams.get('fieldSelector'));
    if (url.searchParams.get('watch') === 'true') this.watch(route.resource, matches, url.searchParams, res);
    else this.list(route, matches, url.searchParams, res);
  }

  /**
   * A list, whole or in pages (`limit`, then `continue`). As kube-apiserver does, every page comes from the
   * snapshot of the first one and carries its resourceVersion, so the pages join into what one list would return.
   */
  private list(route: (typeof ROUTES)[string], matches: (obj: Json) => boolean, params: URLSearchParams, res: ServerResponse): void {
    this.requests.list++;
    if (this.failLists > 0) {
      this.failLists--;
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(status(500, 'InternalError', 'injected list failure')));
      return;
    }
    const token = params.get('continue');
    const rest = token ? this.continuations.get(token) : { rv: this.rv, items: [...this.objects[route.resource].values()].filter(matches) };
    if (token) this.continuations.delete(token);
    if (!rest) {
      res.writeHead(410, { 'content-type': 'application/json' }).end(JSON.stringify(status(410, 'Expired', 'the continue token is not one the API double issued, or was used already')));
      return;
    }
    const limit = Number(params.get('limit') || '0');
    const items = limit > 0 ? rest.items.slice(0, limit) : rest.items;
    const metadata: Json = { resourceVersion: String(rest.rv) };
    if (items.length < rest.items.length) {
      const next = `page-${++this.nextToken}`;
      this.continuations.set(next, { rv: rest.rv, items: rest.items.slice(items.length) });
      metadata['continue'] = next;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: route.listKind, apiVersion: route.apiVersion, metadata, items }));
  }

  private watch(resource: Resource, matches: (obj: Json) => boolean, params: URLSearchParams, res: ServerResponse): void {
    this.requests.watch++;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const from = Number(params.get('resourceVersion') || '0');
    const watch: ActiveWatch = { resource, matches, res, hung: false };
    if (from > 0 && from < this.oldestRV - 1) {
      // What kube-apiserver does for a compacted resourceVersion: a 200 stream with one ERROR event, then the end.
      res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.oldestRV - 1})`) }) + '\n');
      return;
    }
    if (from === 0) {
      for (const object of this.objects[resource].values()) if (matches(object)) res.write(JSON.stringify({ type: 'ADDED', object }) + '\n');
    } else {
      for (const event of this.history) if (event.resource === resource && event.rv > from) this.send(watch, event);
    }
    this.watches.add(watch);
    const timers: NodeJS.Timeout[] = [];
    if (params.get('allowWatchBookmarks') === 'true') {
      timers.push(setInterval(() => {
        if (!watch.hung) res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Bookmark', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } }) + '\n');
      }, this.options.bookmarkIntervalMs ?? 1000));
    }
    const timeout = Number(params.get('timeoutSeconds') || '0');
    if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
    res.on('close', () => {
      for (const t of timers) clearTimeout(t);
      this.watches.delete(watch);
    });
  }
}

function status(code: number, reason: string, message: string): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** Equality-based label selectors (`k=v`, `k!=v`, `k`, `!k`) and `metadata.name` / `metadata.namespace` field selectors. */
function selectorMatcher(labelSelector: string | null, fieldSelector: string | null): (obj: Json) => boolean {
  const labelTerms = (labelSelector ?? '').split(',').filter(Boolean);
  const fieldTerms = (fieldSelector ?? '').split(',').filter(Boolean);
  return (obj) => {
    const labels: Record<string, string> = obj?.metadata?.labels ?? {};
    for (const term of labelTerms) {
      if (term.startsWith('!')) {
        if (term.slice(1) in labels) return false;
      } else if (term.includes('!=')) {
        const [k, v] = term.split('!=');
        if (labels[k!] === v) return false;
      } else if (term.includes('=')) {
        const [k, v] = term.split('=');
        if (labels[k!] !== v) return false;
      } else if (!(term in labels)) return false;
    }
    for (const term of fieldTerms) {
      const [field, value] = term.split('=');
      const actual = field === 'metadata.name' ? obj?.metadata?.name : field === 'metadata.namespace' ? obj?.metadata?.namespace : undefined;
      if (actual !== value) return false;
    }
    return true;
  };
}
