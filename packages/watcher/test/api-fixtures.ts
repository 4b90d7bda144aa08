import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach } from 'vitest';
import { ApiServerDouble } from '@hybrid-proxy/lab';
import type { Snapshot } from '@hybrid-proxy/model';
import type { SnapshotMeta, TriggerTime } from '@hybrid-proxy/watcher';

/**
 * A fresh API double for each test of the file, handed to `started`. At the end the client under test stops first
 * (`stopClient`), so no watch outlives its server.
 */
export function apiDoubleForEachTest(hooks: { started(api: ApiServerDouble): void; stopClient(): Promise<void> | void }): void {
  let api: ApiServerDouble;
  beforeEach(async () => {
    api = new ApiServerDouble({ bookmarkIntervalMs: 100 });
    await api.start();
    hooks.started(api);
  });
  afterEach(async () => {
    await hooks.stopClient();
    await api.stop();
  });
}

export function kubeConfigFor(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'double', server, skipTLSVerify: true }],
    users: [{ name: 'proxy' }],
    contexts: [{ name: 'double', cluster: 'double', user: 'proxy' }],
    currentContext: 'double',
  });
  return config;
}

export const service = (name: string, ip: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'shop', ...extra },
  spec: { clusterIP: ip, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
});

export const slice = (service: string, ips: string[], annotations?: Record<string, string>) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `${service}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': service }, ...(annotations ? { annotations } : {}) },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});

/** Endpoint IPs per service port key: a compact view of a snapshot for assertions. */
export function view(snapshot: Snapshot): Record<string, string[]> {
  return Object.fromEntries([...snapshot.entries].map(([key, entry]) => [key, entry.endpoints.map((e) => e.ip)]));
}

/** Collects snapshots and waits for one that passes a test. */
export class SnapshotRecorder {
  readonly snapshots: Snapshot[] = [];
  readonly triggerTimes: TriggerTime[] = [];
  readonly listener = (snapshot: Snapshot, meta?: SnapshotMeta) => {
    this.snapshots.push(snapshot);
    this.triggerTimes.push(...(meta?.triggerTimes ?? []));
  };

  get latest(): Snapshot | undefined {
    return this.snapshots.at(-1);
  }

  async until(test: (s: Snapshot) => boolean, timeoutMs = 10_000): Promise<Snapshot> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const latest = this.latest;
      if (latest && test(latest)) return latest;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no matching snapshot within ${timeoutMs} ms; latest: ${JSON.stringify(this.latest && view(this.latest))}`);
  }
}
