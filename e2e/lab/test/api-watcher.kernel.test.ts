import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_ADDRESSES, LAB_NODE_NAME, LabNode, type TrafficTarget } from '@hybrid-proxy/lab';
import { fetchIn, metricValue } from './fetch-in.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/traffic', import.meta.url));
const WEB: TrafficTarget = { key: 'test/web:http', protocol: 'TCP', ip: '198.19.1.10', port: 80 };

const webSlice = (ips: [string, string][], triggerTime?: string) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: {
    name: 'web-1',
    namespace: 'test',
    labels: { 'kubernetes.io/service-name': 'web' },
    ...(triggerTime ? { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': triggerTime } } : {}),
  },
  addressType: 'IPv4',
  ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  endpoints: ips.map(([ip, name]) => ({ addresses: [ip], targetRef: { name } })),
});

const backends = async (node: LabNode) => {
  const [result] = await node.traffic.burst([WEB], { count: 120, concurrency: 6 });
  expect(result!.failed, JSON.stringify(result!.errors)).toBe(0);
  return Object.keys(result!.backends).sort();
};

/** API double → client-node informers → watcher → core → iptables in the node namespace → real packets. */
describe('hybrid-proxy run --kubeconfig, following the API server double', () => {
  let node: LabNode;
  beforeAll(async () => {
    node = await LabNode.start({ manifests: FIXTURES, api: true });
  });
  afterAll(async () => node?.destroy());

  it('programs the Services the API serves', async () => {
    expect(await backends(node)).toEqual(['web-a', 'web-b', 'web-c']);
  });

  it('moves traffic when an EndpointSlice changes, and measures the network programming latency', async () => {
    const mark = node.logMark;
    await node.api!.apply(webSlice([['198.18.1.11', 'web-a']], new Date().toISOString()));
    await node.waitForSync(mark);
    expect(await backends(node)).toEqual(['web-a']);
    const { body } = await fetchIn(node, 'node', 'http://127.0.0.1:10249/metrics');
    expect(metricValue(body, 'kubeproxy_network_programming_duration_seconds_count{ip_family="IPv4"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(body, 'kubeproxy_network_programming_duration_seconds_bucket{le="5",ip_family="IPv4"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(body, 'kubeproxy_sync_proxy_rules_endpoint_changes_total')).toBeGreaterThanOrEqual(1);
    expect(metricValue(body, 'kubeproxy_sync_proxy_rules_endpoint_changes_pending')).toBe(0);
    expect(metricValue(body, 'hybrid_proxy_watch_last_event_timestamp_seconds{resource="endpointslices"}') * 1000).toBeGreaterThan(Date.now() - 60_000);
  });

  it('keeps serving through an API outage, then converges to what changed meanwhile (a 410 relist)', async () => {
    await node.api!.goDown();
    const during = node.traffic.burst([WEB], { count: 100, concurrency: 2, intervalMs: 10 });
    await node.api!.apply(webSlice([['198.18.1.12', 'web-b'], ['198.18.1.13', 'web-c']]));
    await node.api!.compact();
    const [served] = await during;
    // Nothing was wiped while the API was away: the last known rules kept serving.
    expect(served!.failed).toBe(0);
    expect(Object.keys(served!.backends)).toEqual(['web-a']);
    const mark = node.logMark;
    await node.api!.comeBack();
    await node.waitForSync(mark, 60_000);
    expect(await backends(node)).toEqual(['web-b', 'web-c']);
    const { body } = await fetchIn(node, 'node', 'http://127.0.0.1:10249/metrics');
    expect(metricValue(body, 'hybrid_proxy_watch_restarts_total{resource="endpointslices",reason="error"}')).toBeGreaterThanOrEqual(1);
  });

  it('skips a bad Service from the API with a reason and a metric, and keeps the others', async () => {
    const mark = node.logMark;
    await node.api!.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'broken', namespace: 'test' }, spec: { clusterIP: '198.19.1.99', ports: [{ port: 99999 }] } });
    await node.proxy!.waitForLine((line) => line.includes('skipped invalid object') && line.includes('test/broken'), 20_000, mark);
    const { body } = await fetchIn(node, 'node', 'http://127.0.0.1:10249/metrics');
    expect(metricValue(body, 'hybrid_proxy_invalid_objects_total{kind="Service",reason="invalid-port"}')).toBe(1);
    expect(await backends(node)).toEqual(['web-b', 'web-c']);
  });

  it('reports the Node ineligible on /healthz (503) while the autoscaler deletes it, and stays live on /livez', async () => {
    const labNode = (taints: object[]) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: LAB_NODE_NAME }, spec: { taints }, status: { addresses: [{ type: 'InternalIP', address: LAB_ADDRESSES.nodeIPv4 }] } });
    const health = async (path: string) => {
      const { status, body } = await fetchIn(node, 'client', `http://${LAB_ADDRESSES.nodeIPv4}:10256${path}`);
      return { status, body: JSON.parse(body) as { nodeEligible?: boolean } };
    };
    const until = async (path: string, status: number) => {
      for (let i = 0; i < 100 && (await health(path)).status !== status; i++) await new Promise((r) => setTimeout(r, 100));
      return health(path);
    };
    await node.api!.apply(labNode([{ key: 'ToBeDeletedByClusterAutoscaler', value: '1733', effect: 'NoSchedule' }]));
    expect(await until('/healthz', 503)).toMatchObject({ status: 503, body: { nodeEligible: false } });
    expect(await health('/livez')).toMatchObject({ status: 200 });
    // Traffic keeps flowing: a draining Node still proxies what reaches it.
    expect(await backends(node)).toEqual(['web-b', 'web-c']);
    await node.api!.apply(labNode([]));
    expect(await until('/healthz', 200)).toMatchObject({ status: 200, body: { nodeEligible: true } });
    const { body } = await fetchIn(node, 'node', 'http://127.0.0.1:10249/metrics');
    expect(metricValue(body, 'kubeproxy_proxy_healthz_total{code="503"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(body, 'kubeproxy_proxy_healthz_total{code="200"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(body, 'kubeproxy_proxy_livez_total{code="200"}')).toBeGreaterThanOrEqual(1);
  });
});
