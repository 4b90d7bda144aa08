import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { UsageError } from './flag-values.js';

export interface HealthSource {
  /** When an update was queued and not yet applied; undefined when nothing waits. */
  readonly oldestPendingAt: number | undefined;
  readonly lastSuccessAt: number | undefined;
}

/** kube-proxy's rule: unhealthy when an update has waited longer than the timeout without being applied. */
export function healthStatus(source: HealthSource, timeoutMs: number, now = Date.now()): { healthy: boolean; body: string } {
  const pending = source.oldestPendingAt;
  const healthy = pending === undefined || now - pending <= timeoutMs;
  const body = JSON.stringify({
    lastUpdated: source.lastSuccessAt ? new Date(source.lastSuccessAt).toISOString() : '',
    currentTime: new Date(now).toISOString(),
    nodeEligible: true,
  });
  return { healthy, body };
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export function parseListenAddress(text: string, flag: string): ListenAddress {
  const match = /^(\[[^\]]+\]|[^:]*):(\d+)$/.exec(text);
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag} ${JSON.stringify(text)} is not HOST:PORT (for example 0.0.0.0:10256)`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

function listen(server: Server, address: ListenAddress): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** `/healthz` and `/livez`, as kube-proxy serves them on :10256. */
export function startHealthServer(address: ListenAddress, source: HealthSource, timeoutMs: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404).end('not found\n');
      return;
    }
    const { healthy, body } = healthStatus(source, timeoutMs);
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' }).end(body);
  });
  return listen(server, address);
}

/** prom-client `/metrics` (kube-proxy serves it on 127.0.0.1:10249). */
export function startMetricsServer(address: ListenAddress, registry: Registry): Promise<Server> {
  const server = createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  return listen(server, address);
}
