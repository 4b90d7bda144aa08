/**
 * A synthetic cluster for scale tests and benchmarks: Service i (namespace `bench`, name `svc-i`) has ClusterIP
 * 198.19.(i>>8).(i&255), one TCP port 80 → 8080, and one EndpointSlice of `endpoints` ready addresses in
 * 198.18.0.0/16. `generation` shifts the addresses, so each generation of a slice is a real change.
 */
export function syntheticCluster(n: number, endpoints: number, generation = 0): { services: object[]; slices: object[] } {
  const services: object[] = [];
  const slices: object[] = [];
  for (let i = 0; i < n; i++) {
    services.push(syntheticService(i));
    slices.push(syntheticSlice(i, endpoints, generation));
  }
  return { services, slices };
}

export function syntheticService(i: number): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'bench' }, spec: { clusterIP: syntheticVip(i), ports: [{ name: 'http', port: 80, targetPort: 8080 }] } };
}

export const syntheticVip = (i: number): string => `198.19.${i >> 8}.${i & 255}`;

export function syntheticSlice(i: number, endpoints: number, generation = 0, triggerTime?: string): { endpoints: object[]; [field: string]: unknown } {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `svc-${i}-1`,
      namespace: 'bench',
      labels: { 'kubernetes.io/service-name': `svc-${i}` },
      ...(triggerTime ? { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': triggerTime } } : {}),
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: Array.from({ length: endpoints }, (_, e) => {
      const k = i * endpoints + e + generation * 7;
      return { addresses: [`198.18.${(k >> 8) & 255}.${k & 255}`], conditions: { ready: true } };
    }),
  };
}
