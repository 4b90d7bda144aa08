/**
 * Runs inside the lab's client namespace: reads burst requests (JSON lines) on stdin, sends real TCP (HTTP)
 * and UDP requests to Service VIPs, and writes per-backend results (JSON lines) on stdout.
 */
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { assertLabAddress } from './addresses.js';
import type { BurstRequest, BurstResult, TargetResult, TrafficTarget } from './traffic-protocol.js';

function httpOnce(target: TrafficTarget, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: target.ip, port: target.port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

function udpOnce(target: TrafficTarget, timeoutMs: number, sourcePort?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // A new socket per request: a new source port, so conntrack balances each request anew.
    const socket = createSocket(target.ip.includes(':') ? 'udp6' : 'udp4');
    const finish = (err: Error | undefined, answer?: string) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(() => finish(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.on('message', (msg) => finish(undefined, msg.toString('utf8')));
    // A connected socket receives ICMP port-unreachable as ECONNREFUSED (a Service without endpoints).
    socket.on('error', (err) => finish(err));
    const connect = () => socket.connect(target.port, target.ip, () => socket.send('ping'));
    const port = sourcePort ?? target.sourcePort;
    if (port) socket.bind(port, connect);
    else connect();
  });
}

async function runTarget(target: TrafficTarget, burst: BurstRequest): Promise<TargetResult> {
  assertLabAddress(target.ip);
  const result = { key: target.key, ok: 0, failed: 0, backends: {} as Record<string, number>, errors: {} as Record<string, number> };
  let next = 0;
  const worker = async () => {
    while (next < burst.count) {
      const index = next++;
      const sourcePort = burst.sourcePortBase === undefined ? undefined : burst.sourcePortBase + index;
      try {
        const name = await (target.protocol === 'TCP' ? httpOnce(target, burst.timeoutMs) : udpOnce(target, burst.timeoutMs, sourcePort));
        result.ok++;
        result.backends[name] = (result.backends[name] ?? 0) + 1;
      } catch (err) {
        result.failed++;
        const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
        result.errors[code] = (result.errors[code] ?? 0) + 1;
      }
      if (burst.intervalMs > 0) await new Promise((r) => setTimeout(r, burst.intervalMs));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, burst.concurrency) }, worker));
  return result;
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const burst = JSON.parse(line) as BurstRequest;
  Promise.all(burst.targets.map((t) => runTarget(t, burst))).then((results) => {
    const reply: BurstResult = { id: burst.id, results };
    process.stdout.write(JSON.stringify(reply) + '\n');
  });
});
lines.on('close', () => process.exit(0));
process.stdout.write('ready\n');
