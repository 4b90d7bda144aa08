/** n Services with one TCP port and `endpoints` endpoints each, as API objects; `generation` varies the addresses. */
export function clusterObjects(n, endpoints, generation = 0) {
  const services = [];
  const slices = [];
  for (let i = 0; i < n; i++) {
    services.push(serviceObject(i));
    slices.push(sliceObject(i, endpoints, generation));
  }
  return { services, slices };
}

export function serviceObject(i) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'bench' }, spec: { clusterIP: `198.19.${i >> 8}.${i & 255}`, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } };
}

export function sliceObject(i, endpoints, generation = 0, triggerTime) {
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
