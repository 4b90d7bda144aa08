// New-connection latency through a node namespace: client → node (the rules under test) → a "pods" namespace
// that owns all of 198.18.0.0/16 locally, so every endpoint address of a synthetic cluster answers.
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { addNamespace, deleteNamespace, spawnInNamespace } from '@hybrid-proxy/lab';

// Links in 198.19.250.0/24 and 198.19.251.0/24: outside the synthetic VIPs (198.19.0.0 - 198.19.39.15).
const CLIENT = { node: '198.19.250.1', client: '198.19.250.2' };
const PODS = { node: '198.19.251.1', pods: '198.19.251.2' };
export const NON_SERVICE_TARGET = { host: '198.18.200.1', port: 8080 };
/** Endpoints moved by the change benchmark land in 198.19.252.0/24, which the pods namespace also owns. */
export const MOVED_PREFIX = '198.19.252';

/** Medians of `count` interleaved connects per target, in µs, measured by a client inside `namespace`. */
const CLIENT_SCRIPT = `
const net = require('net');
const { targets, count, warmup } = JSON.parse(process.argv[1]);
const connect = ({ host, port }) => new Promise((resolve, reject) => {
  const start = process.hrtime.bigint();
  const socket = net.connect({ host, port });
  socket.once('connect', () => { const us = Number(process.hrtime.bigint() - start) / 1000; socket.destroy(); resolve(us); });
  socket.once('error', reject);
});
(async () => {
  const samples = targets.map(() => []);
  for (let round = 0; round < warmup + count; round++) {
    for (let t = 0; t < targets.length; t++) {
      const us = await connect(targets[t]);
      if (round >= warmup) samples[t].push(us);
    }
  }
  console.log(JSON.stringify(samples.map((s) => s.sort((a, b) => a - b)[s.length >> 1])));
})().catch((err) => { console.error(err.message); process.exit(1); });
`;

/** Client and pods namespaces wired to an existing node namespace (which keeps its rules). */
export async function connectLab(prefix, nodeNamespace) {
  const node = createRunner({ netns: nodeNamespace });
  const clientNs = `${prefix}-lat-client`;
  const podsNs = `${prefix}-lat-pods`;
  const client = await addNamespace(clientNs);
  const pods = await addNamespace(podsNs);
  let server;
  const destroy = async () => {
    await server?.stop('SIGKILL').catch(() => undefined);
    await deleteNamespace(clientNs);
    await deleteNamespace(podsNs);
  };
  try {
    for (const [name, peer, ns, run, local, remote] of [
      ['hplc0', 'hplc1', clientNs, client, CLIENT.client, CLIENT.node],
      ['hplp0', 'hplp1', podsNs, pods, PODS.pods, PODS.node],
    ]) {
      await runChecked(node, 'ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', peer, 'netns', ns]);
      await runChecked(node, 'ip', ['addr', 'add', `${remote}/24`, 'dev', name]);
      await runChecked(node, 'ip', ['link', 'set', name, 'up']);
      await runChecked(run, 'ip', ['addr', 'add', `${local}/24`, 'dev', peer]);
      await runChecked(run, 'ip', ['link', 'set', peer, 'up']);
      await runChecked(run, 'ip', ['route', 'add', 'default', 'via', remote]);
    }
    await runChecked(node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await runChecked(node, 'ip', ['route', 'add', '198.18.0.0/16', 'via', PODS.pods]);
    // The pods namespace accepts every endpoint address of the synthetic cluster as its own.
    await runChecked(pods, 'ip', ['route', 'add', 'local', '198.18.0.0/16', 'dev', 'lo']);
    await runChecked(node, 'ip', ['route', 'add', `${MOVED_PREFIX}.0/24`, 'via', PODS.pods]);
    await runChecked(pods, 'ip', ['route', 'add', 'local', `${MOVED_PREFIX}.0/24`, 'dev', 'lo']);
    server = spawnInNamespace(podsNs, process.execPath, ['-e', "require('net').createServer((s) => s.on('error', () => {}).end()).listen(8080, () => console.log('ready'))"], 'latency server');
    await server.waitForLine((l) => l === 'ready', 30_000);
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    /** Median connect time per target, in µs. */
    async measure(targets, count = 1000, warmup = 50) {
      const { stdout } = await runChecked(client, process.execPath, ['-e', CLIENT_SCRIPT, JSON.stringify({ targets, count, warmup })], { timeoutMs: 600_000 });
      return JSON.parse(stdout);
    },
    destroy,
  };
}
