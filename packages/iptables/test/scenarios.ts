import { buildSnapshot, type Snapshot } from '@hybrid-proxy/model';

type Obj = Record<string, unknown>;

export function svc(name: string, ip: string | string[], ports: Obj[], spec: Obj = {}): Obj {
  const ips = Array.isArray(ip) ? ip : [ip];
  return { kind: 'Service', metadata: { name, namespace: 'ns1' }, spec: { clusterIP: ips[0], clusterIPs: ips, ports, ...spec } };
}

export function eps(service: string, ips: (string | Obj)[], ports: Obj[] = [{ name: 'p80', port: 8080, protocol: 'TCP' }], extra: Obj = {}): Obj {
  const first = typeof ips[0] === 'string' ? ips[0] : ((ips[0] as { addresses?: string[] } | undefined)?.addresses?.[0] ?? '');
  const family = first.includes(':') ? 'IPv6' : 'IPv4';
  return {
    kind: 'EndpointSlice',
    metadata: { name: `${service}-${family.toLowerCase()}`, namespace: 'ns1', labels: { 'kubernetes.io/service-name': service } },
    addressType: family,
    ports,
    endpoints: ips.map((e) => (typeof e === 'string' ? { addresses: [e] } : e)),
    ...extra,
  };
}

const p80 = [{ name: 'p80', port: 80 }];

/** Named scenarios shared by the golden files and the packet-trace tables. */
export const SCENARIOS: Record<string, Snapshot> = {
  basic: buildSnapshot([svc('svc1', '198.19.0.41', p80)], [eps('svc1', ['198.18.1.1', '198.18.1.2', '198.18.1.3'])]),
  'no-endpoints': buildSnapshot([svc('svc1', '198.19.0.41', p80), svc('svc2', '198.19.0.42', [{ name: 'dns', port: 53, protocol: 'UDP' }])], []),
  'session-affinity': buildSnapshot(
    [svc('svc1', '198.19.0.41', p80, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } })],
    [eps('svc1', ['198.18.1.1', '198.18.1.2'])],
  ),
  'terminating-fallback': buildSnapshot(
    [svc('svc1', '198.19.0.41', p80)],
    [eps('svc1', [
      { addresses: ['198.18.1.1'], conditions: { ready: false, serving: true, terminating: true } },
      { addresses: ['198.18.1.2'], conditions: { ready: false, serving: false, terminating: true } },
    ])],
  ),
  'internal-local': buildSnapshot(
    [svc('local', '198.19.0.43', p80, { internalTrafficPolicy: 'Local' }), svc('remote', '198.19.0.44', p80, { internalTrafficPolicy: 'Local' })],
    [
      eps('local', [{ addresses: ['198.18.1.1'], nodeName: 'node-a' }, { addresses: ['198.18.1.2'], nodeName: 'node-b' }]),
      eps('remote', [{ addresses: ['198.18.1.3'], nodeName: 'node-b' }]),
    ],
  ),
  /** A rolling update on this node: its one endpoint terminates (still serving) while another node's is ready. */
  'internal-local-terminating': buildSnapshot(
    [svc('rolling', '198.19.0.46', p80, { internalTrafficPolicy: 'Local' })],
    [eps('rolling', [
      { addresses: ['198.18.1.7'], nodeName: 'node-a', conditions: { ready: false, serving: true, terminating: true } },
      { addresses: ['198.18.1.8'], nodeName: 'node-a', conditions: { ready: false, serving: false, terminating: true } },
      { addresses: ['198.18.1.9'], nodeName: 'node-b' },
    ])],
  ),
  /** A NodePort Service, Cluster policy, endpoints on this node (node-a) and another. */
  'node-port': buildSnapshot(
    [svc('np', '198.19.0.50', [{ name: 'p80', port: 80, nodePort: 30080 }], { type: 'NodePort' })],
    [eps('np', [{ addresses: ['198.18.1.1'], nodeName: 'node-a' }, { addresses: ['198.18.1.2'], nodeName: 'node-b' }])],
  ),
  /** LoadBalancer with an external IP, Local policy, a health check node port; one endpoint here, one elsewhere. */
  'external-local': buildSnapshot(
    [{
      ...svc('lb', '198.19.0.51', [{ name: 'p80', port: 80, nodePort: 30081 }], { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32001, externalIPs: ['198.18.50.1'] }),
      status: { loadBalancer: { ingress: [{ ip: '198.18.70.1' }] } },
    }],
    [eps('lb', [{ addresses: ['198.18.1.1'], nodeName: 'node-a' }, { addresses: ['198.18.1.2'], nodeName: 'node-b' }])],
  ),
  /** Local policy with endpoints on other nodes only: external traffic drops here, ClusterIP traffic still flows. */
  'external-local-none': buildSnapshot(
    [{
      ...svc('far', '198.19.0.52', [{ name: 'p80', port: 80, nodePort: 30082 }], { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32002 }),
      status: { loadBalancer: { ingress: [{ ip: '198.18.70.2' }] } },
    }],
    [eps('far', [{ addresses: ['198.18.1.2'], nodeName: 'node-b' }])],
  ),
  /** A LoadBalancer whose IP admits only 198.18.60.0/24. */
  'source-ranges': buildSnapshot(
    [{
      ...svc('fw', '198.19.0.53', [{ name: 'p80', port: 80, nodePort: 30083 }], { type: 'LoadBalancer', loadBalancerSourceRanges: ['198.18.60.0/24'] }),
      status: { loadBalancer: { ingress: [{ ip: '198.18.70.3' }] } },
    }],
    [eps('fw', [{ addresses: ['198.18.1.1'], nodeName: 'node-a' }, { addresses: ['198.18.1.2'], nodeName: 'node-b' }])],
  ),
  /** External addresses of a Service without endpoints: rejected, as its ClusterIP is. */
  'external-no-endpoints': buildSnapshot(
    [{
      ...svc('none', '198.19.0.54', [{ name: 'p80', port: 80, nodePort: 30084 }], { type: 'LoadBalancer', externalIPs: ['198.18.50.4'] }),
      status: { loadBalancer: { ingress: [{ ip: '198.18.70.4' }] } },
    }],
    [],
  ),
  /** A dual-stack NodePort Service with a Local policy and an IPv6 LB IP. */
  'node-port-dual-stack': buildSnapshot(
    [{
      ...svc('np6', ['198.19.0.55', 'fd00:19::55'], [{ name: 'p80', port: 80, nodePort: 30085 }], { type: 'LoadBalancer', ipFamilyPolicy: 'PreferDualStack', externalTrafficPolicy: 'Local', healthCheckNodePort: 32005 }),
      status: { loadBalancer: { ingress: [{ ip: '198.18.70.5' }, { ip: 'fd00:18:70::5' }] } },
    }],
    [eps('np6', [{ addresses: ['198.18.1.5'], nodeName: 'node-a' }]), eps('np6', [{ addresses: ['fd00:18:1::5'], nodeName: 'node-a' }, { addresses: ['fd00:18:1::6'], nodeName: 'node-b' }])],
  ),
  'dual-stack': buildSnapshot(
    [svc('svc6', ['198.19.0.45', 'fd00:19::45'], p80, { ipFamilyPolicy: 'PreferDualStack' })],
    [eps('svc6', ['198.18.1.5']), eps('svc6', ['fd00:18:1::5', 'fd00:18:1::6'])],
  ),
};
