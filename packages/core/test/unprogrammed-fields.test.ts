import { describe, expect, it } from 'vitest';
import { createProxyMetrics, UnprogrammedFieldReporter, type Logger } from '@hybrid-proxy/core';
import { buildSnapshot } from '@hybrid-proxy/model';

const lb = {
  kind: 'Service',
  metadata: { name: 'shop', namespace: 'web' },
  spec: { type: 'LoadBalancer', clusterIP: '198.19.0.10', externalIPs: ['198.18.50.1'], loadBalancerSourceRanges: ['198.18.60.0/24'], ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'https', port: 443, nodePort: 30443 }] },
  status: { loadBalancer: { ingress: [{ ip: '198.18.70.1' }] } },
};
const plain = { kind: 'Service', metadata: { name: 'db', namespace: 'web' }, spec: { clusterIP: '198.19.0.11', ports: [{ port: 5432 }] } };

describe('UnprogrammedFieldReporter', () => {
  it('logs each external-traffic field once per Service, with its value, and counts it', async () => {
    const warnings: Record<string, unknown>[] = [];
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (msg, fields) => warnings.push({ msg, ...fields }) };
    const metrics = createProxyMetrics();
    const reporter = new UnprogrammedFieldReporter(logger, metrics);
    reporter.report(buildSnapshot([lb, plain], []));
    reporter.report(buildSnapshot([lb, plain], []));
    expect(warnings.map((w) => [w['service'], w['field'], w['value']])).toEqual([
      ['web/shop', 'nodePort', 30080],
      ['web/shop', 'externalIPs', ['198.18.50.1']],
      ['web/shop', 'loadBalancerIngress', ['198.18.70.1']],
      ['web/shop', 'loadBalancerSourceRanges', ['198.18.60.0/24']],
    ]);
    const text = await metrics.registry.getSingleMetricAsString('hybrid_proxy_unprogrammed_service_fields_total');
    expect(text).toContain('hybrid_proxy_unprogrammed_service_fields_total{field="nodePort"} 1');
    expect(text).toContain('hybrid_proxy_unprogrammed_service_fields_total{field="loadBalancerSourceRanges"} 1');
  });
});
