// New-connection latency through a node namespace: client → node (the rules under test) → a "pods" namespace
// that owns all of 198.18.0.0/16 locally, so every endpoint address of a synthetic cluster answers.
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { iptablesTools } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, spawnInNamespace } from '@hybrid-proxy/lab';

// Links outside the synthetic VIPs (198.19.0.0 - 198.19.39.15): client-node 198.19.250/24, node-pods 198.19.251/24,
// and for the node with an empty ruleset client-empty 198.19.249/24, empty-pods 198.19.248/24.
const LINKS = {
  client: { node: '198.19.250.1', peer: '198.19.250.2' },
  pods: { node: '198.19.251.1', peer: '198.19.251.2' },
  emptyClient: { node: '198.19.249.1', peer: '198.19.249.2' },
  emptyPods: { node: '198.19.248.1', peer: '198.19.248.2' },
};
export const NON_SERVICE_TARGET = { host: '198.18.200.1', port: 8080 };
/** The same kind of connection, routed by the client through the node whose nat table is empty. */
export const EMPTY_RULESET_TARGET = { host: '198.18.201.1', port: 8080 };
/** Endpoints moved by the change benchmark land in 198.19.252.0/24, which the pods namespace also owns. */
export const MOVED_PREFIX = '198.19.252';

/** Medians of `count` interleaved connects per target (in rotating order), in µs, measured by a client inside `namespace`. */
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
    // The order rotates each round, so that every target takes every place in it equally often.
    for (let i = 0; i < targets.length; i++) {
      const t = (i + round) % targets.length;
      const us = await connect(targets[t]);
      if (round >= warmup) samples[t].push(us);
    }
  }
  console.log(JSON.stringify(samples.map((s) => s.sort((a, b) => a - b)[s.length >> 1])));
})().catch((err) => { console.error(err.message); process.exit(1); });
`;

/**
 * Client and pods namespaces wired to the node under test, and to a second node whose nat table has its hooks and
 * no rule: the client reaches EMPTY_RULESET_TARGET through that one, so one client run interleaves connections
 * through both rulesets and their ratio is free of drift over time.
 */
export async function connectLab(prefix, nodeNamespace, variant) {
  const node = createRunner({ netns: nodeNamespace });
  const clientNs = `${prefix}-lat-client`;
  const podsNs = `${prefix}-lat-pods`;
  const emptyNs = `${prefix}-lat-empty`;
  const client = await addNamespace(clientNs);
  const pods = await addNamespace(podsNs);
  const empty = await addNamespace(emptyNs);
  let server;
  const destroy = async () => {
    await server?.stop('SIGKILL').catch(() => undefined);
    for (const ns of [clientNs, podsNs, emptyNs]) await deleteNamespace(ns);
  };
  const link = async (name, from, to, toNs, addresses) => {
    await runChecked(from, 'ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`, 'netns', toNs]);
    await runChecked(from, 'ip', ['addr', 'add', `${addresses.node}/24`, 'dev', name]);
    await runChecked(from, 'ip', ['link', 'set', name, 'up']);
    await runChecked(to, 'ip', ['addr', 'add', `${addresses.peer}/24`, 'dev', `${name}p`]);
    await runChecked(to, 'ip', ['link', 'set', `${name}p`, 'up']);
  };
  try {
    await link('hplc', node, client, clientNs, LINKS.client);
    await link('hplp', node, pods, podsNs, LINKS.pods);
    await link('hplec', empty, client, clientNs, LINKS.emptyClient);
    await link('hplep', empty, pods, podsNs, LINKS.emptyPods);
    await runChecked(empty, iptablesTools(4, variant).restore, ['--noflush'], { input: '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n' });
    for (const [run, pod] of [[node, LINKS.pods.peer], [empty, LINKS.emptyPods.peer]]) {
      await runChecked(run, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      await runChecked(run, 'ip', ['route', 'add', '198.18.0.0/16', 'via', pod]);
    }
    await runChecked(node, 'ip', ['route', 'add', `${MOVED_PREFIX}.0/24`, 'via', LINKS.pods.peer]);
    await runChecked(client, 'ip', ['route', 'add', 'default', 'via', LINKS.client.node]);
    await runChecked(client, 'ip', ['route', 'add', `${EMPTY_RULESET_TARGET.host}/32`, 'via', LINKS.emptyClient.node]);
    // The pods namespace accepts every endpoint address of the synthetic cluster as its own, and answers each
    // client address through the node it came through.
    await runChecked(pods, 'ip', ['route', 'add', 'local', '198.18.0.0/16', 'dev', 'lo']);
    await runChecked(pods, 'ip', ['route', 'add', 'local', `${MOVED_PREFIX}.0/24`, 'dev', 'lo']);
    await runChecked(pods, 'ip', ['route', 'add', '198.19.250.0/24', 'via', LINKS.pods.node]);
    await runChecked(pods, 'ip', ['route', 'add', '198.19.249.0/24', 'via', LINKS.emptyPods.node]);
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
    /**
     * Waits until the two paths measure the same while the node has no rule (an A/A check), so that a ratio
     * measured later is the rules' and not the lab's. Returns the A/A ratio it settled at and the seconds it took.
     */
    async settle(tolerance = 1.02, maxMs = 150_000) {
      const start = Date.now();
      let agreed = 0;
      for (;;) {
        const [through, empty] = await this.measure([NON_SERVICE_TARGET, EMPTY_RULESET_TARGET], 500);
        const ratio = through / empty;
        agreed = ratio <= tolerance ? agreed + 1 : 0;
        if (agreed === 2 || Date.now() - start > maxMs) return { ratio, seconds: (Date.now() - start) / 1000 };
        await new Promise((resolve) => setTimeout(resolve, 5000));
      }
    },
    destroy,
  };
}
