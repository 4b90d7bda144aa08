import { afterEach, describe, expect, it } from 'vitest';
import { createProxyMetrics, healthStatus, silentLogger, staleUdpFlows, SyncLoop, type ProxyBackend, type SyncOutcome } from '@hybrid-proxy/core';
import { buildSnapshot, type Snapshot } from '@hybrid-proxy/model';

class RecordingBackend implements ProxyBackend {
  readonly mode = 'iptables' as const;
  readonly syncs: { snapshot: Snapshot; full: boolean }[] = [];
  failNext = 0;
  async preflight() {}
  describe() {
    return '';
  }
  async cleanup() {}
  async sync(snapshot: Snapshot, options: { full: boolean }): Promise<SyncOutcome> {
    this.syncs.push({ snapshot, full: options.full });
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('iptables-restore: line 3 failed');
    }
    const kind = options.full ? 'full' : 'partial';
    return { kind, rulesPerTable: { nat: 7, filter: 2 }, families: [{ family: 4, kind, durationMs: 3, rulesPerTable: { nat: 7, filter: 2 } }] };
  }
}

const snap = (n: number) => buildSnapshot([{ kind: 'Service', metadata: { name: `s${n}` }, spec: { clusterIP: `198.19.0.${n}`, ports: [{ port: 80 }] } }], []);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let loop: SyncLoop | undefined;
afterEach(async () => loop?.stop());

function makeLoop(backend: ProxyBackend, overrides: Partial<ConstructorParameters<typeof SyncLoop>[0]> = {}) {
  const metrics = createProxyMetrics();
  loop = new SyncLoop({ backend, families: [4], metrics, logger: silentLogger, minSyncPeriodMs: 50, syncPeriodMs: 60_000, fullSyncPeriodMs: 3_600_000, retryBackoffMs: [20, 100], ...overrides });
  return { loop, metrics };
}

describe('SyncLoop', () => {
  it('asks once per sync period whether the applied state is still there, and restores it with a full sync', async () => {
    const backend = new (class extends RecordingBackend {
      lost: string[] = [];
      checks = 0;
      async lostState() {
        this.checks++;
        return this.lost.splice(0);
      }
    })();
    const { loop, metrics } = makeLoop(backend, { syncPeriodMs: 100 });
    loop.start();
    loop.update(snap(1));
    await loop.idle();
    expect(backend.checks).toBe(0); // a full sync needs no check
    await sleep(130);
    await loop.idle();
    expect(backend.checks).toBe(1);
    expect(backend.syncs.map((s) => s.full)).toEqual([true, false]);
    backend.lost = ['IPv4: jump nat/PREROUTING -j KUBE-SERVICES is gone'];
    await sleep(100);
    await loop.idle();
    expect(backend.syncs.map((s) => s.full)).toEqual([true, false, true]);
    expect((await metrics.registry.getSingleMetricAsString('hybrid_proxy_lost_state_repairs_total')).trim().split('\n').pop()).toBe('hybrid_proxy_lost_state_repairs_total 1');
    // Changes in between are not checked: they pay only for what they change.
    loop.update(snap(2));
    await loop.idle();
    expect(backend.checks).toBe(2);
  });

  it('applies nothing before the first snapshot', async () => {
    const backend = new RecordingBackend();
    makeLoop(backend).loop.start();
    await sleep(80);
    expect(backend.syncs).toEqual([]);
  });

  it('first sync is full, then coalesces a burst into one partial sync of the latest snapshot', async () => {
    const backend = new RecordingBackend();
    const { loop } = makeLoop(backend);
    loop.update(snap(1));
    await loop.idle();
    for (let i = 2; i <= 20; i++) loop.update(snap(i));
    await loop.idle();
    expect(backend.syncs.map((s) => s.full)).toEqual([true, false]);
    expect(backend.syncs[1]!.snapshot).toBe(loop && backend.syncs[1]!.snapshot);
    expect([...backend.syncs[1]!.snapshot.entries.keys()]).toEqual(['default/s20']);
  });

  it('retries a failed sync with backoff, as a full sync, and records the metrics', async () => {
    const backend = new RecordingBackend();
    const { loop, metrics } = makeLoop(backend);
    loop.update(snap(1));
    await loop.idle();
    backend.failNext = 2;
    loop.update(snap(2));
    await sleep(400);
    expect(backend.syncs.map((s) => s.full)).toEqual([true, false, true, true]);
    expect((await metrics.syncFailures.get()).values[0]!.value).toBe(2);
    expect((await metrics.iptablesRules.get()).values.find((v) => v.labels.table === 'nat')).toMatchObject({ value: 7, labels: { ip_family: 'IPv4' } });
    expect((await metrics.fullSyncDuration.get()).values.find((v) => v.metricName?.endsWith('_count'))).toMatchObject({ value: 2, labels: { ip_family: 'IPv4' } });
    expect((await metrics.lastQueuedTimestamp.get()).values).toMatchObject([{ labels: { ip_family: 'IPv4' } }]);
  });

  it('is unhealthy while an update waits past the timeout, healthy once applied', async () => {
    const backend = new RecordingBackend();
    backend.failNext = 1_000;
    const { loop } = makeLoop(backend, { retryBackoffMs: [1000, 1000] });
    loop.update(snap(1));
    await sleep(100);
    const queued = loop.oldestPendingAt!;
    expect(queued).toBeDefined();
    expect(healthStatus(loop, 60_000, queued + 59_000).healthy).toBe(true);
    expect(healthStatus(loop, 60_000, queued + 61_000).healthy).toBe(false);
    backend.failNext = 0;
    loop.requestFullSync();
    await sleep(50);
    expect(loop.oldestPendingAt).toBeUndefined();
    expect(healthStatus(loop, 60_000, Date.now() + 120_000).healthy).toBe(true);
    expect(JSON.parse(healthStatus(loop, 60_000).body).lastUpdated).not.toBe('');
  });

  it('/healthz turns 503 on a Node going away, /livez does not; only /healthz reports nodeEligible', () => {
    const source = (goingAway: boolean, oldestPendingAt?: number) => ({ oldestPendingAt, lastSuccessAt: 1_000, nodeEligible: !goingAway });
    expect(healthStatus(source(false), 60_000, 5_000)).toMatchObject({ healthy: true });
    expect(JSON.parse(healthStatus(source(false), 60_000, 5_000).body)).toMatchObject({ nodeEligible: true, lastUpdated: new Date(5_000).toISOString() });
    expect(healthStatus(source(true), 60_000, 5_000)).toMatchObject({ healthy: false });
    expect(JSON.parse(healthStatus(source(true), 60_000, 5_000).body)).toMatchObject({ nodeEligible: false, lastUpdated: new Date(1_000).toISOString() });
    expect(healthStatus(source(true), 60_000, 5_000, '/livez').healthy).toBe(true);
    expect(JSON.parse(healthStatus(source(true), 60_000, 5_000, '/livez').body)).not.toHaveProperty('nodeEligible');
    expect(healthStatus(source(true, 0), 60_000, 61_000, '/livez').healthy).toBe(false);
  });

  it('takes node eligibility from the latest snapshot\'s Node', () => {
    const backend = new RecordingBackend();
    const { loop } = makeLoop(backend);
    expect(loop.nodeEligible).toBe(true);
    const withNode = (goingAway: boolean): Snapshot => ({ ...snap(1), node: { name: 'node-a', zone: '', addresses: [], podCIDRs: [], goingAway } });
    loop.update(withNode(true));
    expect(loop.nodeEligible).toBe(false);
    loop.update(withNode(false));
    expect(loop.nodeEligible).toBe(true);
  });

  it('resyncs periodically without changes', async () => {
    const backend = new RecordingBackend();
    const { loop } = makeLoop(backend, { syncPeriodMs: 40 });
    loop.start();
    loop.update(snap(1));
    await sleep(200);
    expect(backend.syncs.length).toBeGreaterThanOrEqual(3);
  });
});

describe('staleUdpFlows', () => {
  const udp = (endpoints: string[], ip = '198.19.0.53') =>
    buildSnapshot(
      [{ kind: 'Service', metadata: { name: 'dns', namespace: 'k' }, spec: { clusterIP: ip, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'tcp', port: 53, protocol: 'TCP' }] } }],
      [{ kind: 'EndpointSlice', metadata: { name: 'dns-1', namespace: 'k', labels: { 'kubernetes.io/service-name': 'dns' } }, addressType: 'IPv4', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'tcp', port: 53, protocol: 'TCP' }], endpoints: endpoints.map((a) => ({ addresses: [a] })) }],
    );

  it('names removed UDP endpoints, and whole VIPs of removed UDP ports, never TCP', () => {
    expect(staleUdpFlows(udp(['198.18.1.1', '198.18.1.2']), udp(['198.18.1.2']))).toEqual([{ vip: '198.19.0.53', port: 53, endpoint: '198.18.1.1' }]);
    expect(staleUdpFlows(udp(['198.18.1.1']), buildSnapshot([], []))).toEqual([{ vip: '198.19.0.53', port: 53 }]);
    expect(staleUdpFlows(udp(['198.18.1.1']), udp(['198.18.1.1'], '198.19.0.54'))).toEqual([{ vip: '198.19.0.53', port: 53 }]);
    expect(staleUdpFlows(udp(['198.18.1.1']), udp(['198.18.1.1']))).toEqual([]);
  });
});
