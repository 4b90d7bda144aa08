import { afterEach, describe, expect, it } from 'vitest';
import { healthCheckAnswer, serviceHealthChecks, ServiceHealthServers, type Logger } from '@hybrid-proxy/core';
import { buildSnapshot } from '@hybrid-proxy/model';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function localService(name: string, healthCheckNodePort: number, clusterIP: string) {
  return {
    kind: 'Service',
    metadata: { name, namespace: 'web' },
    spec: { type: 'LoadBalancer', clusterIP, externalTrafficPolicy: 'Local', healthCheckNodePort, ports: [{ name: 'http', port: 80, nodePort: healthCheckNodePort - 1 }] },
  };
}

function slice(service: string, endpoints: { ip: string; node: string; ready?: boolean }[]) {
  return {
    kind: 'EndpointSlice',
    metadata: { name: `${service}-1`, namespace: 'web', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: endpoints.map(({ ip, node, ready = true }) => ({ addresses: [ip], nodeName: node, conditions: { ready } })),
  };
}

describe('serviceHealthChecks', () => {
  it("counts this node's ready endpoints per Local Service, and ignores Cluster Services", () => {
    const cluster = { kind: 'Service', metadata: { name: 'api', namespace: 'web' }, spec: { type: 'NodePort', clusterIP: '198.19.0.12', ports: [{ port: 80, nodePort: 30012 }] } };
    const snapshot = buildSnapshot(
      [localService('shop', 32001, '198.19.0.10'), localService('cart', 32003, '198.19.0.11'), cluster],
      [
        slice('shop', [{ ip: '198.18.1.1', node: 'n1' }, { ip: '198.18.1.2', node: 'n1' }, { ip: '198.18.1.3', node: 'n2' }, { ip: '198.18.1.4', node: 'n1', ready: false }]),
        slice('cart', [{ ip: '198.18.2.1', node: 'n2' }]),
      ],
    );
    expect(Object.fromEntries(serviceHealthChecks(snapshot, 'n1'))).toEqual({
      32001: { namespace: 'web', name: 'shop', localEndpoints: 2 },
      32003: { namespace: 'web', name: 'cart', localEndpoints: 0 },
    });
  });

  it("answers as kube-proxy: 200 with local endpoints, 503 without, and 503 when the proxy's syncs are stale", () => {
    const health = { namespace: 'web', name: 'shop', localEndpoints: 2 };
    expect(healthCheckAnswer(health, true)).toEqual({ code: 200, body: '{"service":{"namespace":"web","name":"shop"},"localEndpoints":2,"serviceProxyHealthy":true}' });
    expect(healthCheckAnswer({ ...health, localEndpoints: 0 }, true).code).toBe(503);
    expect(healthCheckAnswer(health, false).code).toBe(503);
  });
});

describe('ServiceHealthServers on loopback', () => {
  let servers: ServiceHealthServers | undefined;
  afterEach(async () => servers?.close());

  const get = async (port: number, path = '/healthz') => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { code: res.status, weight: res.headers.get('x-load-balancing-endpoint-weight'), body: await res.json() };
  };

  it('starts a server per health check node port, follows endpoint moves, and stops it with its Service', async () => {
    // Ports from the ephemeral range's top, unlikely to be taken on a test machine.
    const [shopPort, cartPort] = [61_001, 61_003];
    servers = new ServiceHealthServers(silent, () => true, '127.0.0.1');
    const shop = localService('shop', shopPort, '198.19.0.10');
    const cart = localService('cart', cartPort, '198.19.0.11');
    await servers.update(buildSnapshot([shop, cart], [slice('shop', [{ ip: '198.18.1.1', node: 'n1' }]), slice('cart', [{ ip: '198.18.2.1', node: 'n2' }])]), 'n1');
    expect(servers.ports).toEqual([shopPort, cartPort]);
    expect(await get(shopPort, '/any/path')).toEqual({ code: 200, weight: '1', body: { service: { namespace: 'web', name: 'shop' }, localEndpoints: 1, serviceProxyHealthy: true } });
    expect((await get(cartPort)).code).toBe(503);

    // The cart endpoint moves to this node; the shop Service goes away.
    await servers.update(buildSnapshot([cart], [slice('cart', [{ ip: '198.18.2.1', node: 'n1' }, { ip: '198.18.2.2', node: 'n1' }])]), 'n1');
    expect(servers.ports).toEqual([cartPort]);
    expect(await get(cartPort)).toMatchObject({ code: 200, weight: '2' });
    await expect(fetch(`http://127.0.0.1:${shopPort}/healthz`)).rejects.toThrow();
  });

  it('logs a port it cannot bind, serves the others, and binds it on a later update once it is free', async () => {
    const errors: Record<string, unknown>[] = [];
    const logger: Logger = { ...silent, error: (msg, fields) => errors.push({ msg, ...fields }) };
    const blocker = new ServiceHealthServers(silent, () => true, '127.0.0.1');
    const snapshot = buildSnapshot([localService('shop', 61_011, '198.19.0.10'), localService('cart', 61_013, '198.19.0.11')], []);
    await blocker.update(buildSnapshot([localService('shop', 61_011, '198.19.0.10')], []), 'n1');
    servers = new ServiceHealthServers(logger, () => true, '127.0.0.1');
    await servers.update(snapshot, 'n1');
    expect(servers.ports).toEqual([61_013]);
    expect(errors).toMatchObject([{ port: 61_011, service: 'web/shop' }]);
    await blocker.close();
    await servers.update(snapshot, 'n1');
    expect(servers.ports).toEqual([61_011, 61_013]);
    expect((await get(61_011)).code).toBe(503);
  });
});
