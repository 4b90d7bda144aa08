import { describe, expect, it } from 'vitest';
import { buildSnapshot, convertEndpointSlice, convertService, diffSnapshots, isEmptyDiff, parseIP } from '@hybrid-proxy/model';
import { service, slice } from './fixtures.js';

describe('Service conversion', () => {
  it('turns each port into a service port with kube-proxy defaults', () => {
    const result = convertService(service());
    expect(result.ok && result.value?.ports).toEqual([
      {
        key: 'shop/web:http',
        namespace: 'shop',
        name: 'web',
        portName: 'http',
        protocol: 'TCP',
        clusterIPs: ['198.19.0.10'],
        port: 80,
        nodePort: 0,
        targetPort: 8080,
        externalIPs: [],
        loadBalancerIPs: [],
        loadBalancerSourceRanges: [],
        sessionAffinity: { type: 'None', timeoutSeconds: 10800 },
        externalTrafficPolicy: 'Cluster',
        internalTrafficPolicy: 'Cluster',
        healthCheckNodePort: 0,
      },
    ]);
  });

  it('reads loadBalancerSourceRanges as CIDRs (a bare address as its host range), and warns of what is not one', () => {
    const ranges = (value: unknown) => convertService(service({}, { type: 'LoadBalancer', loadBalancerSourceRanges: value }));
    const ok = ranges(['198.18.60.0/24', ' 198.18.61.7', 'FD00:18::/64']);
    expect(ok.ok && ok.value?.ports[0]?.loadBalancerSourceRanges).toEqual(['198.18.60.0/24', '198.18.61.7/32', 'fd00:18::/64']);
    expect(ranges(['198.18.60.0/33'])).toMatchObject({ ok: true, warnings: [{ reason: 'invalid-source-range' }] });
    expect(ranges('198.18.60.0/24')).toMatchObject({ ok: true, warnings: [{ reason: 'invalid-source-range' }] });
  });

  it('programs no VIP rule for a load-balancer ingress with ipMode Proxy, and skips hostname-only ingress', () => {
    const result = convertService(service({ status: { loadBalancer: { ingress: [{ ip: '198.18.6.1', ipMode: 'VIP' }, { ip: '198.18.6.2', ipMode: 'Proxy' }, { hostname: 'lb.example' }] } } }));
    expect(result.ok && result.value?.ports[0]?.loadBalancerIPs).toEqual(['198.18.6.1']);
  });

  it('reads healthCheckNodePort for externalTrafficPolicy Local only', () => {
    const local = convertService(service({}, { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 }));
    expect(local.ok && local.value?.ports[0]?.healthCheckNodePort).toBe(32000);
    const cluster = convertService(service({}, { type: 'LoadBalancer', healthCheckNodePort: 32000 }));
    expect(cluster.ok && cluster.value?.ports[0]?.healthCheckNodePort).toBe(0);
  });

  it('keys an unnamed port as ns/name and defaults the namespace and protocol', () => {
    const result = convertService({ kind: 'Service', metadata: { name: 'solo' }, spec: { clusterIP: '198.19.0.5', ports: [{ port: 53 }] } });
    expect(result.ok && result.value?.ports[0]).toMatchObject({ key: 'default/solo', protocol: 'TCP', targetPort: 53 });
  });

  it.each([
    ['headless', service({}, { clusterIP: 'None' })],
    ['ExternalName', service({}, { type: 'ExternalName', externalName: 'db.example' })],
    ['owned by another proxy', service({ metadata: { name: 'web', namespace: 'shop', labels: { 'service.kubernetes.io/service-proxy-name': 'other' } } })],
  ])('skips a %s Service as kube-proxy does, without calling it invalid', (_, obj) => {
    const result = convertService(obj);
    expect(result).toMatchObject({ ok: true, value: null });
  });

  it('reads dual-stack cluster IPs in canonical form', () => {
    const result = convertService(service({}, { clusterIP: '198.19.0.10', clusterIPs: ['198.19.0.10', 'FD00:19:0:0::A'] }));
    expect(result.ok && result.value?.ports[0]?.clusterIPs).toEqual(['198.19.0.10', 'fd00:19::a']);
  });

  it('reads ClientIP affinity with its timeout, and Global as the old name of Cluster', () => {
    const result = convertService(service({}, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, externalTrafficPolicy: 'Global' }));
    expect(result.ok && result.value?.ports[0]).toMatchObject({ sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 }, externalTrafficPolicy: 'Cluster' });
  });
});

describe('EndpointSlice conversion', () => {
  it('applies the API defaults to unset conditions', () => {
    const result = convertEndpointSlice(slice({}, [{ addresses: ['198.18.1.11'] }, { addresses: ['198.18.1.12'], conditions: { ready: false, serving: true, terminating: true } }]));
    expect(result.ok && result.value?.endpoints.map((e) => [e.ready, e.serving, e.terminating])).toEqual([
      [true, true, false],
      [false, true, true],
    ]);
  });

  it('ignores FQDN slices and reads the change trigger time', () => {
    expect(convertEndpointSlice(slice({ addressType: 'FQDN' }))).toMatchObject({ ok: true, value: null });
    const stamped = slice({ metadata: { name: 's', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' }, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-11-26T10:00:00Z' } } });
    const result = convertEndpointSlice(stamped);
    expect(result.ok && result.value?.triggerTime).toBe(Date.parse('2026-11-26T10:00:00Z'));
  });
});

describe('snapshots', () => {
  it('merges several slices of one Service and de-duplicates endpoints seen in both, keeping the first slice\'s by name', () => {
    const a = slice({ metadata: { name: 'web-a', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } } }, [{ addresses: ['198.18.1.12'] }, { addresses: ['198.18.1.11'], nodeName: 'node-a' }]);
    const b = slice({ metadata: { name: 'web-b', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } } }, [{ addresses: ['198.18.1.13'] }, { addresses: ['198.18.1.11'], nodeName: 'node-b' }]);
    for (const order of [[b, a], [a, b]]) {
      const endpoints = buildSnapshot([service()], order).entries.get('shop/web:http')!.endpoints;
      expect(endpoints.map((e) => `${e.ip}:${e.port}`)).toEqual(['198.18.1.11:8080', '198.18.1.12:8080', '198.18.1.13:8080']);
      expect(endpoints[0]!.nodeName).toBe('node-a');
    }
  });

  it('resolves a named targetPort through the slice port of the same name and protocol', () => {
    const svc = service({}, { ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'metrics', port: 9090, targetPort: 'metrics' }] });
    const s = slice({ ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9100, protocol: 'TCP' }] }, [{ addresses: ['198.18.1.11'] }]);
    const snapshot = buildSnapshot([svc], [s]);
    expect(snapshot.entries.get('shop/web:http')!.endpoints[0]!.port).toBe(8080);
    expect(snapshot.entries.get('shop/web:metrics')!.endpoints[0]!.port).toBe(9100);
  });

  it('does not attach slices of another namespace or of a UDP port to a TCP port', () => {
    const other = slice({ metadata: { name: 'web-x', namespace: 'other', labels: { 'kubernetes.io/service-name': 'web' } } });
    const udp = slice({ metadata: { name: 'web-u', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } }, ports: [{ name: 'http', port: 8080, protocol: 'UDP' }] });
    expect(buildSnapshot([service()], [other, udp]).entries.get('shop/web:http')!.endpoints).toEqual([]);
  });

  it('orders entries by key so plans are deterministic', () => {
    const names = ['zeta', 'alpha', 'mid'];
    const snapshot = buildSnapshot(names.map((name, i) => service({ metadata: { name, namespace: 'shop' } }, { clusterIP: `198.19.0.${i + 1}` })), []);
    expect([...snapshot.entries.keys()]).toEqual(['shop/alpha:http', 'shop/mid:http', 'shop/zeta:http']);
  });
});

describe('snapshot diff', () => {
  const base = buildSnapshot([service(), service({ metadata: { name: 'api', namespace: 'shop' } }, { clusterIP: '198.19.0.20' })], [slice()]);

  it('is empty for an equal rebuild (a relist that changed nothing)', () => {
    expect(isEmptyDiff(diffSnapshots(base, buildSnapshot([service(), service({ metadata: { name: 'api', namespace: 'shop' } }, { clusterIP: '198.19.0.20' })], [slice()])))).toBe(true);
  });

  it('tells added, removed, service and endpoint changes apart', () => {
    const next = buildSnapshot(
      [service({}, { sessionAffinity: 'ClientIP' }), service({ metadata: { name: 'db', namespace: 'shop' } }, { clusterIP: '198.19.0.30' })],
      [slice()],
    );
    expect(diffSnapshots(base, next)).toEqual({ added: ['shop/db:http'], removed: ['shop/api:http'], serviceChanged: ['shop/web:http'], endpointsChanged: [] });
    const fewer = buildSnapshot([service(), service({ metadata: { name: 'api', namespace: 'shop' } }, { clusterIP: '198.19.0.20' })], [slice({}, [{ addresses: ['198.18.1.11'] }])]);
    expect(diffSnapshots(base, fewer).endpointsChanged).toEqual(['shop/web:http']);
  });
});

describe('IP parsing', () => {
  it.each([
    ['198.18.0.1', '198.18.0.1', 4],
    ['FD00:0:0::1', 'fd00::1', 6],
    ['fd00:0000:0000:0000:0000:0000:0000:0001', 'fd00::1', 6],
  ])('canonicalises %s', (text, ip, family) => expect(parseIP(text)).toEqual({ ip, family }));

  it.each(['', '1.2.3', '01.2.3.4', '1.2.3.4/32', 'fd00::1%lo', 'host', 7])('rejects %s', (text) => expect(parseIP(text)).toBeUndefined());
});
