// The watcher at scale: the API double in a process of its own, the real client-node informers in this one.
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServerProcess } from '@hybrid-proxy/lab';
import { KubernetesApiSource } from '@hybrid-proxy/watcher';
import { syntheticCluster as clusterObjects, syntheticSlice as sliceObject } from '@hybrid-proxy/lab';
import { count, mib, ms, msSpread, spread } from './measure.js';

const quiet = { info() {}, warn() {}, error() {} };
const PORT = 16443;
/** The first snapshot is one list of 20k objects: single runs here spread over 0.8–1.4 s. */
const FIRST_SNAPSHOT_RUNS = 3;

function kubeConfig(url) {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'bench', server: url, skipTLSVerify: true }],
    users: [{ name: 'bench' }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'bench' }],
    currentContext: 'bench',
  });
  return config;
}

function heap() {
  globalThis.gc?.();
  return process.memoryUsage();
}

export async function watcherSection(services, endpoints, updates) {
  const api = await ApiServerProcess.start(undefined, '127.0.0.1', PORT);
  try {
    const { services: svcObjects, slices } = clusterObjects(services, endpoints);
    for (let i = 0; i < services; i += 1000) await api.applyAll([...svcObjects.slice(i, i + 1000), ...slices.slice(i, i + 1000)]);

    const before = heap();
    const newSource = () => new KubernetesApiSource({ kubeConfig: kubeConfig(api.url), nodeName: 'bench-node', logger: quiet, emitDelayMs: 50 });
    const source = newSource();
    let latest;
    let snapshots = 0;
    const started = performance.now();
    await source.start((snapshot) => {
      latest = snapshot;
      snapshots++;
    });
    const firstMs = [performance.now() - started];
    const endpointCount = [...latest.entries.values()].reduce((a, e) => a + e.endpoints.length, 0);
    const after = heap();

    // A burst of EndpointSlice updates, each a real watch event: how fast do they become a snapshot?
    const burst = Array.from({ length: updates }, (_, u) => sliceObject(u % services, endpoints, 1 + Math.floor(u / services)));
    const lastIndex = (updates - 1) % services;
    // The last update carries an address its Service never had: seeing it means every event before it was absorbed.
    const lastFirstIP = '198.18.254.254';
    if (latest.entries.get(`bench/svc-${lastIndex}:http`).endpoints.some((e) => e.ip === lastFirstIP)) throw new Error('marker address already in use');
    burst.at(-1).endpoints[0] = { addresses: [lastFirstIP], conditions: { ready: true } };
    const snapshotsBefore = snapshots;
    const burstStart = performance.now();
    await api.applyAll(burst);
    while (latest.entries.get(`bench/svc-${lastIndex}:http`).endpoints.every((e) => e.ip !== lastFirstIP)) await new Promise((r) => setTimeout(r, 5));
    const burstMs = performance.now() - burstStart;
    const built = snapshots - snapshotsBefore;
    console.log(`watcher absorbed ${updates} updates in ${ms(burstMs)} (${built} snapshots)`);
    await source.stop();
    // More first snapshots, each by a fresh source, after the measures above so that none of them runs amid garbage.
    while (firstMs.length < FIRST_SNAPSHOT_RUNS) {
      const again = newSource();
      const start = performance.now();
      await again.start(() => undefined);
      firstMs.push(performance.now() - start);
      await again.stop();
    }
    console.log(`watcher first snapshot: ${services} services, ${endpointCount} endpoints in ${firstMs.map(ms).join(', ')}`);
    return [
      '## Watcher: the API double → client-node informers → model snapshots',
      '',
      'The API double runs in a process of its own on loopback; the watcher and model run in the benchmark process.',
      '',
      '| measure | value |',
      '|---|---|',
      `| time to the first snapshot, ${count(services)} Services and ${count(endpointCount)} endpoints (median of ${FIRST_SNAPSHOT_RUNS} fresh sources, range) | ${msSpread(spread(firstMs))} |`,
      `| ${count(updates)} EndpointSlice updates (watch events) absorbed into snapshots | ${ms(burstMs)}: ${count(Math.round((updates / burstMs) * 1000))} events/s, ${built} snapshots built |`,
      `| heap used by the watcher's state at that size | ${mib(after.heapUsed - before.heapUsed)} |`,
      `| resident memory of the process after the first snapshot | ${mib(after.rss)} |`,
      '',
    ];
  } finally {
    await api.stop();
  }
}
