import { describe, expect, it } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ApiServerDouble } from '@hybrid-proxy/lab';
import { KubernetesApiSource, type SourceLogger } from '@hybrid-proxy/watcher';
import { apiDoubleForEachTest, kubeConfigFor, service, slice, SnapshotRecorder, view } from './api-fixtures.js';

let api: ApiServerDouble;
let source: KubernetesApiSource | undefined;
const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
const logger: SourceLogger = {
  info: (msg, fields) => logs.push({ level: 'info', msg, fields }),
  warn: (msg, fields) => logs.push({ level: 'warn', msg, fields }),
  error: (msg, fields) => logs.push({ level: 'error', msg, fields }),
};

apiDoubleForEachTest({
  started: (double) => {
    logs.length = 0;
    api = double;
  },
  stopClient: async () => {
    await source?.stop();
    source = undefined;
  },
});

function makeSource(extra: Partial<ConstructorParameters<typeof KubernetesApiSource>[0]> = {}) {
  source = new KubernetesApiSource({ kubeConfig: kubeConfigFor(api.url), nodeName: 'node-a', logger, emitDelayMs: 10, backoffMs: [50, 200], ...extra });
  return source;
}

describe('KubernetesApiSource against the API double, through client-node informers', () => {
  it('delivers the listed state first, then every add, update and delete', async () => {
    api.apply(service('web', '198.19.0.10'));
    api.apply(slice('web', ['198.18.1.1', '198.18.1.2']));
    const rec = new SnapshotRecorder();
    await makeSource().start(rec.listener);
    expect(view(rec.snapshots[0]!)).toEqual({ 'shop/web:http': ['198.18.1.1', '198.18.1.2'] });

    api.apply(service('api', '198.19.0.20'));
    api.apply(slice('api', ['198.18.1.5']));
    await rec.until((s) => s.entries.get('shop/api:http')?.endpoints.length === 1);
    api.apply(slice('web', ['198.18.1.2', '198.18.1.3']));
    await rec.until((s) => view(s)['shop/web:http']?.join() === '198.18.1.2,198.18.1.3');
    api.remove('Service', 'shop', 'api');
    const last = await rec.until((s) => !s.entries.has('shop/api:http'));
    expect(view(last)).toEqual({ 'shop/web:http': ['198.18.1.2', '198.18.1.3'] });
  });

  it('relists after 410 Gone, and converges: changes made while it was away, deletions included', async () => {
    api.apply(service('web', '198.19.0.10'));
    api.apply(service('old', '198.19.0.30'));
    api.apply(slice('web', ['198.18.1.1']));
    const rec = new SnapshotRecorder();
    await makeSource().start(rec.listener);
    const listsBefore = api.requests.list;
    await api.stop();
    api.remove('Service', 'shop', 'old');
    api.apply(slice('web', ['198.18.1.9']));
    api.compact();
    await api.start();
    const converged = await rec.until((s) => !s.entries.has('shop/old:http') && view(s)['shop/web:http']?.join() === '198.18.1.9');
    expect(view(converged)).toEqual({ 'shop/web:http': ['198.18.1.9'] });
    expect(api.requests.list).toBeGreaterThan(listsBefore);
  });

  it('resumes a dropped watch from its resourceVersion without losing an update', async () => {
    api.apply(service('web', '198.19.0.10'));
    api.apply(slice('web', ['198.18.1.1']));
    const rec = new SnapshotRecorder();
    await makeSource().start(rec.listener);
    for (let i = 2; i <= 6; i++) {
      api.dropWatches();
      api.apply(slice('web', Array.from({ length: i }, (_, j) => `198.18.1.${j + 1}`)));
    }
    const last = await rec.until((s) => s.entries.get('shop/web:http')?.endpoints.length === 6);
    expect(view(last)['shop/web:http']).toHaveLength(6);
  });

  it('starts before the API server is up: retries with backoff and a clear log, and emits nothing until both lists arrive', async () => {
    const url = api.url;
    await api.stop();
    api.apply(service('web', '198.19.0.10'));
    api.apply(slice('web', ['198.18.1.1']));
    const rec = new SnapshotRecorder();
    const started = makeSource().start(rec.listener);
    await new Promise((r) => setTimeout(r, 400));
    expect(rec.snapshots).toEqual([]);
    const retries = logs.filter((l) => l.msg.startsWith('cannot list or watch'));
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries[0]!.fields).toMatchObject({ server: url, retryInMs: expect.any(Number), attempt: 1 });
    await api.start();
    await started;
    expect(view(rec.snapshots[0]!)).toEqual({ 'shop/web:http': ['198.18.1.1'] });
  });

  it('does not emit Services without their EndpointSlices while the slice list fails', async () => {
    api.apply(service('web', '198.19.0.10'));
    api.apply(slice('web', ['198.18.1.1']));
    api.failLists = 2; // the first two lists fail, whichever resource asks
    const rec = new SnapshotRecorder();
    await makeSource().start(rec.listener);
    expect(view(rec.snapshots[0]!)).toEqual({ 'shop/web:http': ['198.18.1.1'] });
  });

  it('restarts a watch that hangs without a word (half-open connection)', async () => {
    api.apply(service('web', '198.19.0.10'));
    api.apply(slice('web', ['198.18.1.1']));
    const rec = new SnapshotRecorder();
    const restarts: string[] = [];
    await makeSource({ quietLimitMs: 600, hooks: { onRestart: (resource, reason) => restarts.push(`${resource}:${reason}`) } }).start(rec.listener);
    while (api.openWatches < 3) await new Promise((r) => setTimeout(r, 10));
    api.hangWatches();
    api.apply(slice('web', ['198.18.1.7']));
    await new Promise((r) => setTimeout(r, 300));
    expect(view(rec.latest!)['shop/web:http']).toEqual(['198.18.1.1']); // the hung watch delivers nothing
    await rec.until((s) => view(s)['shop/web:http']?.join() === '198.18.1.7');
    expect(restarts).toContain('endpointslices:quiet');
  });

  it('skips bad objects with reasons and keeps every other Service', async () => {
    api.apply(service('web', '198.19.0.10'));
    api.apply(slice('web', ['198.18.1.1']));
    api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'bad-port', namespace: 'shop' }, spec: { clusterIP: '198.19.0.11', ports: [{ name: 'x', port: 'eighty' }] } });
    api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'bad-proto', namespace: 'shop' }, spec: { clusterIP: '198.19.0.12', ports: [{ port: 80, protocol: 'QUIC' }] } });
    api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'no-spec', namespace: 'shop' } });
    api.apply({ ...slice('web', []), metadata: { name: 'web-bad', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } }, endpoints: [{ addresses: ['not-an-ip'] }, { addresses: ['198.18.1.4'] }] });
    const rec = new SnapshotRecorder();
    await makeSource().start(rec.listener);
    const snapshot = rec.snapshots[0]!;
    expect(view(snapshot)).toEqual({ 'shop/web:http': ['198.18.1.1', '198.18.1.4'] });
    expect(snapshot.invalid.map((i) => `${i.ref} ${i.reason}`).sort()).toEqual(['shop/bad-port invalid-port', 'shop/bad-proto invalid-protocol', 'shop/no-spec missing-spec', 'shop/web-bad invalid-address']);
  });

  it('follows kube-proxy\'s label selector: headless and other proxies\' Services are never received', async () => {
    api.apply(service('web', '198.19.0.10'));
    api.apply(service('other', '198.19.0.40', { labels: { 'service.kubernetes.io/service-proxy-name': 'cilium' } }));
    const rec = new SnapshotRecorder();
    await makeSource().start(rec.listener);
    expect([...rec.snapshots[0]!.entries.keys()]).toEqual(['shop/web:http']);
    // A label added later takes the Service away, as the selector says.
    api.apply(service('web', '198.19.0.10', { labels: { 'service.kubernetes.io/headless': '' } }));
    await rec.until((s) => s.entries.size === 0);
  });

  it('carries the change trigger times of EndpointSlice updates made after the start, and the node\'s zone', async () => {
    const trigger = (at: Date) => ({ 'endpoints.kubernetes.io/last-change-trigger-time': at.toISOString() });
    api.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-1' } }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.1' }] } });
    api.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b', labels: { 'topology.kubernetes.io/zone': 'zone-2' } } });
    api.apply(service('web', '198.19.0.10'));
    // History, not a change this proxy saw: the first list's trigger times are never measured.
    api.apply(slice('web', ['198.18.1.9'], trigger(new Date(Date.now() - 3_600_000))));
    const rec = new SnapshotRecorder();
    await makeSource().start(rec.listener);
    await rec.until((s) => s.node?.zone === 'zone-1');
    expect(rec.latest!.node).toEqual({ name: 'node-a', zone: 'zone-1', addresses: ['198.18.0.1'], podCIDRs: [], goingAway: false });
    const changedAt = new Date(Date.now() + 1);
    api.apply(slice('web', ['198.18.1.1'], trigger(changedAt)));
    await rec.until((s) => s.entries.get('shop/web:http')!.endpoints[0]?.ip === '198.18.1.1');
    // The same trigger time again (a relist, or an update that did not touch the annotation) is not a new change.
    api.apply(slice('web', ['198.18.1.1', '198.18.1.2'], trigger(changedAt)));
    await rec.until((s) => s.entries.get('shop/web:http')!.endpoints.length === 2);
    expect(rec.triggerTimes).toEqual([{ at: changedAt.getTime(), family: 4 }]);
  });
});

describe('supervision', () => {
  it('backs off on a persistent failure instead of hammering the API server, and recovers', async () => {
    api.apply(service('web', '198.19.0.10'));
    api.failLists = 1_000;
    const rec = new SnapshotRecorder();
    const started = makeSource().start(rec.listener);
    await new Promise((r) => setTimeout(r, 1000));
    // Three informers at 50 → 100 → 200 ms (capped) with jitter: about 6 attempts each in a second, never dozens.
    expect(api.requests.list).toBeGreaterThanOrEqual(6);
    expect(api.requests.list).toBeLessThanOrEqual(30);
    api.failLists = 0;
    await started;
    expect(view(rec.latest!)).toEqual({ 'shop/web:http': [] });
  });

  it('lists in pages of 500, joined into the whole list, and watches on from it', async () => {
    for (let i = 0; i < 1201; i++) {
      api.apply(service(`s${i}`, `198.19.${i >> 8}.${i & 255}`));
      api.apply(slice(`s${i}`, [`198.18.${i >> 8}.${i & 255}`]));
    }
    const rec = new SnapshotRecorder();
    await makeSource().start(rec.listener);
    expect(rec.snapshots[0]!.entries.size).toBe(1201);
    expect(Object.values(view(rec.snapshots[0]!)).every((ips) => ips.length === 1)).toBe(true);
    // Three pages each for Services and slices, one list for the node.
    expect(api.requests.list).toBe(7);
    api.apply(slice('s1200', ['198.18.9.9']));
    await rec.until((s) => view(s)['shop/s1200:http']?.join() === '198.18.9.9');
  });

  it("keeps only each object's identity in client-node's cache once converted; a relist over it still finds deletions", async () => {
    api.apply(service('web', '198.19.0.10'));
    api.apply(service('old', '198.19.0.30'));
    api.apply(slice('web', ['198.18.1.1', '198.18.1.2']));
    const rec = new SnapshotRecorder();
    const restarts: string[] = [];
    const s = makeSource({ watchTimeoutSeconds: 1, hooks: { onRestart: (resource) => restarts.push(resource) } });
    await s.start(rec.listener);
    api.apply(slice('web', ['198.18.1.3']));
    await rec.until((snap) => view(snap)['shop/web:http']?.join() === '198.18.1.3');
    const informers = (s as unknown as { informers: { current: { list(): KubernetesObject[] } }[] }).informers.slice(0, 2);
    const listWatches = informers.map((i) => i.current);
    const cached = () => informers.flatMap((i) => i.current.list());
    // Fields other than these are left undefined (deleting them would turn each object into a dictionary).
    const kept = (obj: object) => Object.entries(obj).filter(([k, v]) => v !== undefined && k !== 'apiVersion' && k !== 'kind').map(([k]) => k);
    const identities = () => cached().map((obj) => [kept(obj), kept(obj.metadata!).sort()]);
    // Services and slices, listed and updated through the watch: nothing but what ListWatch compares is left.
    expect(cached()).toHaveLength(3);
    for (const identity of identities()) expect(identity).toEqual([['metadata'], ['name', 'namespace', 'resourceVersion']]);
    // The deletion never reaches the (hung) watch, and the history is compacted: when the server ends the watch,
    // its resume gets 410 Gone and the same ListWatch relists, comparing the list with its trimmed cache.
    api.hangWatches();
    api.remove('Service', 'shop', 'old');
    api.compact();
    const lists = api.requests.list;
    const converged = await rec.until((snap) => !snap.entries.has('shop/old:http'));
    expect(view(converged)).toEqual({ 'shop/web:http': ['198.18.1.3'] });
    expect(api.requests.list).toBeGreaterThan(lists);
    expect(restarts).toEqual([]);
    expect(informers.every((i, n) => i.current === listWatches[n])).toBe(true);
    expect(cached()).toHaveLength(2);
    for (const identity of identities()) expect(identity).toEqual([['metadata'], ['name', 'namespace', 'resourceVersion']]);
  });

  it('ignores a second start()', async () => {
    const rec = new SnapshotRecorder();
    const s = makeSource();
    await s.start(rec.listener);
    while (api.openWatches < 3) await new Promise((r) => setTimeout(r, 10));
    (s as unknown as { informers: { start(): void }[] }).informers.forEach((i) => i.start());
    await new Promise((r) => setTimeout(r, 200));
    expect(api.openWatches).toBe(3);
    expect(api.requests.watch).toBe(3);
  });
});
