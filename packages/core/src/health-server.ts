import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { UsageError } from './flag-values.js';

export interface HealthSource {
  /** When an update was queued and not yet applied; undefined when nothing waits. */
  readonly oldestPendingAt: number | undefined;
  readonly lastSuccessAt: number | undefined;
  /** False while the Node is being deleted or tainted for deletion by the cluster autoscaler. */
  readonly nodeEligible: boolean;
}

export type HealthPath = '/healthz' | '/livez';

/**
 * kube-proxy's rule: unhealthy when an update has waited longer than the timeout without being applied.
 * `/healthz` is also unhealthy on a Node that is going away, so that load balancers drain it first;
 * `/livez` ignores the Node, so that the kubelet does not restart a proxy on a draining Node.
 */
export function healthStatus(source: HealthSource, timeoutMs: number, now = Date.now(), path: HealthPath = '/healthz'): { healthy: boolean; body: string } {
  const pending = source.oldestPendingAt;
  const synced = pending === undefined || now - pending <= timeoutMs;
  const healthy = path === '/livez' ? synced : synced && source.nodeEligible;
  const body = JSON.stringify({
    // As kube-proxy: a healthy proxy reports now, so that old probes reading lastUpdated keep working.
    lastUpdated: healthy ? new Date(now).toISOString() : source.lastSuccessAt ? new Date(source.lastSuccessAt).toISOString() : '',
    currentTime: new Date(now).toISOString(),
    ...(path === '/healthz' ? { nodeEligible: source.nodeEligible } : {}),
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

export function listen(server: Server, address: ListenAddress): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** `/healthz` and `/livez`, as kube-proxy serves them on :10256; each answer is counted by path and code. */
export function startHealthServer(address: ListenAddress, source: HealthSource, timeoutMs: number, answered?: (path: HealthPath, code: number) => void): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404).end('not found\n');
      return;
    }
    const { healthy, body } = healthStatus(source, timeoutMs, Date.now(), path);
    const code = healthy ? 200 : 503;
    answered?.(path, code);
    res.writeHead(code, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' }).end(body);
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
