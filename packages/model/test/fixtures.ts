/** Builders for API objects as they arrive from YAML or the API server. */

export function service(overrides: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { clusterIP: '198.19.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ...spec },
    ...overrides,
  };
}

export function slice(overrides: Record<string, unknown> = {}, endpoints?: unknown[]): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: endpoints ?? [
      { addresses: ['198.18.1.11'], conditions: { ready: true }, nodeName: 'node-a' },
      { addresses: ['198.18.1.12'], conditions: { ready: true }, nodeName: 'node-b' },
    ],
    ...overrides,
  };
}
