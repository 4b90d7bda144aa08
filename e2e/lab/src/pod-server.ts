/**
 * The workload of a lab Pod: answers every TCP connection with an HTTP response carrying the Pod's name (and, at
 * `/source`, the address the connection came from), and
 * every UDP datagram with the name. Counts what it served, for `GET /stats` on any of its TCP ports and on
 * STATS_PORT, which every Pod has (a lab-only port, in no Service).
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import type { PodSpec } from './topology.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as PodSpec;
/** Mirrored in topology.ts (POD_STATS_PORT). */
const STATS_PORT = 9999;
const served = { tcp: 0, udp: 0 };
const listening: Promise<void>[] = [];

for (const port of [...spec.tcpPorts.filter((p) => p !== STATS_PORT), STATS_PORT]) {
  const server = createServer((req, res) => {
    if (req.url === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ name: spec.name, ...served }));
      return;
    }
    if (req.url === '/source') {
      // The address the connection came from, as this Pod sees it: the client's (source kept) or a node's (masqueraded).
      served.tcp++;
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ name: spec.name, source: req.socket.remoteAddress?.replace(/^::ffff:/, '') }));
      return;
    }
    if (port === STATS_PORT) {
      res.writeHead(404, { connection: 'close' }).end();
      return;
    }
    served.tcp++;
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end(spec.name);
  });
  server.keepAliveTimeout = 0;
  listening.push(new Promise((resolve) => server.listen(port, spec.ip, resolve)));
}

for (const port of spec.udpPorts) {
  const socket = createSocket(spec.ip.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (_msg, peer) => {
    served.udp++;
    socket.send(spec.name, peer.port, peer.address);
  });
  listening.push(new Promise((resolve) => socket.bind(port, spec.ip, resolve)));
}

await Promise.all(listening);
process.stdout.write('ready\n');
