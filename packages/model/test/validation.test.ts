import { describe, expect, it } from 'vitest';
import { buildSnapshot, convertEndpointSlice, convertService } from '@hybrid-proxy/model';
import { service, slice } from './fixtures.js';

const svcSpec = (spec: Record<string, unknown>) => service({}, spec);
const svcPort = (port: Record<string, unknown>) => service({}, { ports: [{ name: 'http', port: 80, ...port }] });
const meta = (metadata: unknown) => service({ metadata });

/** [description, object, reason]: every one must be rejected with exactly this reason, never thrown. */
const BAD_SERVICES: [string, unknown, string][] = [
  ['null', null, 'not-an-object'],
  ['a string', 'Service', 'not-an-object'],
  ['an array', [], 'not-an-object'],
  ['a number', 42, 'not-an-object'],
  ['no metadata', { kind: 'Service', spec: {} }, 'missing-metadata'],
  ['metadata not an object', meta('web'), 'missing-metadata'],
  ['no name', meta({ namespace: 'shop' }), 'missing-name'],
  ['empty name', meta({ name: '' }), 'missing-name'],
  ['name with capitals', meta({ name: 'Web' }), 'invalid-name'],
  ['name starting with a digit', meta({ name: '1web' }), 'invalid-name'],
  ['name with a quote', meta({ name: 'we"b' }), 'invalid-name'],
  ['name with a newline', meta({ name: 'web\n-A INPUT -j DROP' }), 'invalid-name'],
  ['name too long', meta({ name: 'a'.repeat(64) }), 'invalid-name'],
  ['name a number', meta({ name: 7 }), 'invalid-name'],
  ['namespace with a slash', meta({ name: 'web', namespace: 'a/b' }), 'invalid-namespace'],
  ['namespace a number', meta({ name: 'web', namespace: 3 }), 'invalid-namespace'],
  ['labels a list', meta({ name: 'web', labels: ['a'] }), 'invalid-labels'],
  ['no spec', service({ spec: undefined }), 'missing-spec'],
  ['spec a string', service({ spec: 'x' }), 'missing-spec'],
  ['unknown type', svcSpec({ type: 'Magic' }), 'invalid-type'],
  ['clusterIP not an IP', svcSpec({ clusterIP: 'ten.zero' }), 'invalid-cluster-ip'],
  ['clusterIP a number', svcSpec({ clusterIP: 10 }), 'invalid-cluster-ip'],
  ['clusterIP with a zone', svcSpec({ clusterIP: 'fd00::1%eth0' }), 'invalid-cluster-ip'],
  ['clusterIP out of range octet', svcSpec({ clusterIP: '198.19.0.256' }), 'invalid-cluster-ip'],
  ['clusterIP missing', svcSpec({ clusterIP: undefined }), 'missing-cluster-ip'],
  ['clusterIPs not a list', svcSpec({ clusterIPs: '198.19.0.10' }), 'invalid-cluster-ips'],
  ['clusterIPs disagree with clusterIP', svcSpec({ clusterIPs: ['198.19.0.11'] }), 'cluster-ips-mismatch'],
  ['three clusterIPs', svcSpec({ clusterIPs: ['198.19.0.10', 'fd00:19::1', 'fd00:19::2'] }), 'too-many-cluster-ips'],
  ['two IPv4 clusterIPs', svcSpec({ clusterIPs: ['198.19.0.10', '198.19.0.11'] }), 'duplicate-ip-family'],
  ['ports missing', svcSpec({ ports: undefined }), 'missing-ports'],
  ['ports empty', svcSpec({ ports: [] }), 'missing-ports'],
  ['ports an object', svcSpec({ ports: { http: 80 } }), 'missing-ports'],
  ['port entry a number', svcSpec({ ports: [80] }), 'port-not-object'],
  ['port 0', svcPort({ port: 0 }), 'invalid-port'],
  ['port 65536', svcPort({ port: 65536 }), 'invalid-port'],
  ['port negative', svcPort({ port: -1 }), 'invalid-port'],
  ['port a string', svcPort({ port: '80' }), 'invalid-port'],
  ['port fractional', svcPort({ port: 80.5 }), 'invalid-port'],
  ['port missing', svcSpec({ ports: [{ name: 'http' }] }), 'invalid-port'],
  ['protocol lower case', svcPort({ protocol: 'tcp' }), 'invalid-protocol'],
  ['protocol ICMP', svcPort({ protocol: 'ICMP' }), 'invalid-protocol'],
  ['port name with capitals', svcPort({ name: 'HTTP' }), 'invalid-port-name'],
  ['port name a number', svcPort({ name: 80 }), 'invalid-port-name'],
  ['two unnamed ports', svcSpec({ ports: [{ port: 80 }, { port: 81 }] }), 'missing-port-name'],
  ['duplicate port names', svcSpec({ ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }), 'duplicate-port-name'],
  ['duplicate port and protocol', svcSpec({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }), 'duplicate-port'],
  ['targetPort 0 string', svcPort({ targetPort: '0' }), 'invalid-target-port'],
  ['targetPort too large', svcPort({ targetPort: 70000 }), 'invalid-target-port'],
  ['targetPort name too long', svcPort({ targetPort: 'a-very-long-port-name' }), 'invalid-target-port'],
  ['targetPort name with a double dash', svcPort({ targetPort: 'we--b' }), 'invalid-target-port'],
  ['targetPort a boolean', svcPort({ targetPort: true }), 'invalid-target-port'],
  ['sessionAffinity unknown', svcSpec({ sessionAffinity: 'Cookie' }), 'invalid-session-affinity'],
  ['sessionAffinityConfig a string', svcSpec({ sessionAffinity: 'ClientIP', sessionAffinityConfig: 'x' }), 'invalid-session-affinity'],
  ['affinity timeout 0', svcSpec({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } }), 'invalid-affinity-timeout'],
  ['affinity timeout over a day', svcSpec({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } } }), 'invalid-affinity-timeout'],
  ['externalTrafficPolicy unknown', svcSpec({ externalTrafficPolicy: 'Nearest' }), 'invalid-external-traffic-policy'],
  ['internalTrafficPolicy unknown', svcSpec({ internalTrafficPolicy: 'Zone' }), 'invalid-internal-traffic-policy'],
];

/** Bad fields for external traffic: that field (or entry) is skipped with a warning, the Service and its ClusterIP stay. */
const BAD_FIELDS: [string, unknown, string, Record<string, unknown>][] = [
  ['nodePort out of range', service({}, { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 70000 }] }), 'invalid-node-port', { nodePort: 0 }],
  ['nodePort on a ClusterIP Service', svcPort({ nodePort: 30080 }), 'invalid-node-port', { nodePort: 0 }],
  ['externalIPs not a list', svcSpec({ externalIPs: '198.18.5.5' }), 'invalid-external-ip', { externalIPs: [] }],
  ['externalIP not an IP', svcSpec({ externalIPs: ['example.com', '198.18.5.5'] }), 'invalid-external-ip', { externalIPs: ['198.18.5.5'] }],
  ['load balancer ingress not a list', service({ status: { loadBalancer: { ingress: 'x' } } }), 'invalid-load-balancer-ingress', { loadBalancerIPs: [] }],
  ['load balancer IP not an IP', service({ status: { loadBalancer: { ingress: [{ ip: 'x' }, { ip: '198.18.6.6' }] } } }), 'invalid-load-balancer-ip', { loadBalancerIPs: ['198.18.6.6'] }],
  ['source range not a CIDR: the LB IPs fail closed', service({ spec: { ...service().spec as object, type: 'LoadBalancer', loadBalancerSourceRanges: ['198.18.60.0/33'] }, status: { loadBalancer: { ingress: [{ ip: '198.18.6.6' }] } } }), 'invalid-source-range', { loadBalancerIPs: [], loadBalancerSourceRanges: [] }],
  ['health check node port out of range', svcSpec({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 0.5 }), 'invalid-health-check-node-port', { healthCheckNodePort: 0 }],
];

const sliceWith = (fields: Record<string, unknown>) => slice(fields);
const endpoint = (fields: Record<string, unknown>) => slice({}, [{ addresses: ['198.18.1.11'], ...fields }]);

const BAD_SLICES: [string, unknown, string][] = [
  ['null', null, 'not-an-object'],
  ['no metadata', { kind: 'EndpointSlice' }, 'missing-metadata'],
  ['name with spaces', sliceWith({ metadata: { name: 'web abc', labels: { 'kubernetes.io/service-name': 'web' } } }), 'invalid-name'],
  ['no service-name label', sliceWith({ metadata: { name: 'web-abc', namespace: 'shop' } }), 'missing-service-name'],
  ['service-name label invalid', sliceWith({ metadata: { name: 'web-abc', labels: { 'kubernetes.io/service-name': 'Web!' } } }), 'invalid-service-name'],
  ['addressType unknown', sliceWith({ addressType: 'IPv5' }), 'invalid-address-type'],
  ['addressType missing', sliceWith({ addressType: undefined }), 'invalid-address-type'],
  ['ports not a list', sliceWith({ ports: { name: 'http' } }), 'ports-not-a-list'],
  ['port entry a string', sliceWith({ ports: ['http'] }), 'port-not-object'],
  ['port number 0', sliceWith({ ports: [{ name: 'http', port: 0 }] }), 'invalid-port'],
  ['port number a string', sliceWith({ ports: [{ name: 'http', port: '8080' }] }), 'invalid-port'],
  ['port protocol unknown', sliceWith({ ports: [{ name: 'http', port: 8080, protocol: 'QUIC' }] }), 'invalid-protocol'],
  ['port name invalid', sliceWith({ ports: [{ name: 'HTTP', port: 8080 }] }), 'invalid-port-name'],
  ['duplicate port names', sliceWith({ ports: [{ name: 'http', port: 8080 }, { name: 'http', port: 8081 }] }), 'duplicate-port-name'],
  ['endpoints not a list', sliceWith({ endpoints: { a: 1 } }), 'endpoints-not-a-list'],
];

/** Bad single endpoints: skipped with a warning while the rest of the slice stands. */
const BAD_ENDPOINTS: [string, unknown, string][] = [
  ['endpoint a string', slice({}, ['198.18.1.11']), 'endpoint-not-object'],
  ['no addresses', endpoint({ addresses: undefined }), 'missing-addresses'],
  ['empty addresses', endpoint({ addresses: [] }), 'missing-addresses'],
  ['address not an IP', endpoint({ addresses: ['pod.local'] }), 'invalid-address'],
  ['IPv6 in an IPv4 slice', endpoint({ addresses: ['fd00::1'] }), 'address-family-mismatch'],
  ['loopback address', endpoint({ addresses: ['127.0.0.1'] }), 'forbidden-address'],
  ['link-local address', endpoint({ addresses: ['169.254.169.254'] }), 'forbidden-address'],
  ['multicast address', endpoint({ addresses: ['224.0.0.1'] }), 'forbidden-address'],
  ['unspecified address', endpoint({ addresses: ['0.0.0.0'] }), 'forbidden-address'],
  ['conditions a list', endpoint({ conditions: [] }), 'invalid-conditions'],
  ['ready a string', endpoint({ conditions: { ready: 'yes' } }), 'invalid-condition'],
  ['terminating a number', endpoint({ conditions: { terminating: 1 } }), 'invalid-condition'],
  ['nodeName invalid', endpoint({ nodeName: 'Node_A' }), 'invalid-node-name'],
  ['zone invalid', endpoint({ zone: 'zone a' }), 'invalid-zone'],
  ['hints not an object', endpoint({ hints: 'a' }), 'invalid-hints'],
  ['hint without a name', endpoint({ hints: { forZones: [{}] } }), 'invalid-hints'],
];

describe('validation of bad input', () => {
  it('covers at least 50 kinds of bad input', () => {
    expect(BAD_SERVICES.length + BAD_FIELDS.length + BAD_SLICES.length + BAD_ENDPOINTS.length).toBeGreaterThanOrEqual(50);
  });

  it.each(BAD_SERVICES)('rejects a Service with %s', (_, obj, reason) => {
    const result = convertService(obj);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.reason).toBe(reason);
      expect(result.error.kind).toBe('Service');
      expect(result.error.message.length).toBeGreaterThan(5);
    }
  });

  it.each(BAD_FIELDS)('skips a Service\'s %s and keeps the Service', (_, obj, reason, fields) => {
    const result = convertService(obj);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.value?.ports[0]).toMatchObject({ clusterIPs: ['198.19.0.10'], ...fields });
      expect(result.warnings.map((w) => w.reason)).toContain(reason);
    }
  });

  it.each(BAD_SLICES)('rejects an EndpointSlice with %s', (_, obj, reason) => {
    const result = convertEndpointSlice(obj);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.reason).toBe(reason);
  });

  it.each(BAD_ENDPOINTS)('skips an endpoint with %s and keeps the slice', (_, obj, reason) => {
    const result = convertEndpointSlice(obj);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.value?.endpoints).toEqual([]);
      expect(result.warnings.map((w) => w.reason)).toEqual([reason]);
    }
  });

  it('keeps every valid Service when others are invalid, listing each skipped one', () => {
    const good = service({ metadata: { name: 'good', namespace: 'shop' } });
    const snapshot = buildSnapshot([...BAD_SERVICES.map(([, obj]) => obj), good], [slice({ metadata: { name: 'good-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'good' } } })]);
    expect([...snapshot.entries.keys()]).toEqual(['shop/good:http']);
    expect(snapshot.entries.get('shop/good:http')!.endpoints).toHaveLength(2);
    expect(snapshot.invalid).toHaveLength(BAD_SERVICES.length);
  });

  it('names the object and its position in the report', () => {
    const snapshot = buildSnapshot([null, meta({ name: 'Bad', namespace: 'shop' })], []);
    expect(snapshot.invalid.map((i) => i.ref)).toEqual(['#0', 'shop/Bad']);
  });
});
