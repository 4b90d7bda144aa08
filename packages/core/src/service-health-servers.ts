import { createServer, type Server } from 'node:http';
import { localEndpointsOf, type Snapshot } from '@hybrid-proxy/model';
import { listen } from './health-server.js';
import type { Logger } from './logger.js';

/** What one health check node port reports: kube-proxy's answer for a Service with externalTrafficPolicy Local. */
export interface ServiceHealth {
  readonly namespace: string;
  readonly name: string;
  /** This node's usable endpoints of the Service, all its ports and families together. */
  readonly localEndpoints: number;
}

/** Pure: the health check node ports a snapshot asks for, and what each reports. */
export function serviceHealthChecks(snapshot: Snapshot, nodeName: string): Map<number, ServiceHealth> {
  const checks = new Map<number, { namespace: string; name: string; endpoints: Set<string> }>();
  for (const entry of snapshot.entries.values()) {
    const { service } = entry;
    if (service.healthCheckNodePort === 0) continue;
    let check = checks.get(service.healthCheckNodePort);
    // Two Services claiming one port: the first (in key order) keeps it, as the API server never allows both.
    if (check && (check.namespace !== service.namespace || check.name !== service.name)) continue;
    if (!check) checks.set(service.healthCheckNodePort, (check = { namespace: service.namespace, name: service.name, endpoints: new Set() }));
    for (const endpoint of localEndpointsOf(entry, undefined, nodeName)) check.endpoints.add(endpoint.ip);
  }
  return new Map([...checks].map(([port, { namespace, name, endpoints }]) => [port, { namespace, name, localEndpoints: endpoints.size }]));
}

/** kube-proxy's body and code: 200 while the node has a local endpoint and the proxy is healthy, else 503. */
export function healthCheckAnswer(health: ServiceHealth, proxyHealthy: boolean): { code: number; body: string } {
  const body = JSON.stringify({ service: { namespace: health.namespace, name: health.name }, localEndpoints: health.localEndpoints, serviceProxyHealthy: proxyHealthy });
  return { code: health.localEndpoints > 0 && proxyHealthy ? 200 : 503, body };
}

/**
 * An HTTP server per health check node port, as kube-proxy runs them for load balancers: any path answers.
 * Servers start and stop as Services come and go; a port that cannot be bound is logged and retried on the next
 * update, and the other servers go on.
 */
export class ServiceHealthServers {
  private readonly servers = new Map<number, { server: Server; health: ServiceHealth }>();
  private readonly pending = new Set<number>();

  constructor(
    private readonly logger: Logger,
    private readonly proxyHealthy: () => boolean,
    /** Where the ports listen: `::` (both families) by default. */
    private readonly host = '::',
  ) {}

  /** The ports served now. */
  get ports(): number[] {
    return [...this.servers.keys()].sort((a, b) => a - b);
  }

  async update(snapshot: Snapshot, nodeName: string): Promise<void> {
    const wanted = serviceHealthChecks(snapshot, nodeName);
    for (const [port, running] of this.servers) {
      if (wanted.has(port)) continue;
      this.servers.delete(port);
      await new Promise((resolve) => running.server.close(resolve));
      this.logger.info('stopped a health check node port', { port, service: `${running.health.namespace}/${running.health.name}` });
    }
    for (const [port, health] of wanted) {
      const running = this.servers.get(port);
      if (running) {
        running.health = health;
        continue;
      }
      if (this.pending.has(port)) continue;
      this.pending.add(port);
      try {
        const entry = { server: this.serve(port), health };
        this.servers.set(port, entry);
        await listen(entry.server, { host: this.host, port });
        this.logger.info('serving a health check node port', { port, service: `${health.namespace}/${health.name}` });
      } catch (err) {
        this.servers.delete(port);
        this.logger.error('cannot serve a health check node port; retried on the next sync', { port, service: `${health.namespace}/${health.name}`, error: (err as Error).message });
      } finally {
        this.pending.delete(port);
      }
    }
  }

  async close(): Promise<void> {
    const running = [...this.servers.values()];
    this.servers.clear();
    await Promise.all(running.map(({ server }) => new Promise((resolve) => server.close(resolve))));
  }

  private serve(port: number): Server {
    return createServer((_req, res) => {
      const health = this.servers.get(port)?.health;
      if (!health) {
        res.writeHead(503).end();
        return;
      }
      const { code, body } = healthCheckAnswer(health, this.proxyHealthy());
      res.writeHead(code, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff', 'x-load-balancing-endpoint-weight': String(health.localEndpoints) }).end(body);
    });
  }
}
