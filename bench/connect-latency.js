// New-connection latency through a node namespace: client → node (the rules under test) → a "pods" namespace
// that owns all of 198.18.0.0/16 locally, so every endpoint address of a synthetic cluster answers.
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { iptablesTools } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, spawnInNamespace } from '@hybrid-proxy/lab';

// Links outside the synthetic VIPs (198.19.0.0 - 198.19.39.15): client-node 198.19.250/24, node-pods 198.19.251/24,
// and for each baseline node one /24 towards the client and one towards the pods.
const LINKS = {
  client: { node: '198.19.250.1', peer: '198.19.250.2' },
  pods: { node: '198.19.251.1', peer: '198.19.251.2' },
};
export const NON_SERVICE_TARGET = { host: '198.18.200.1', port: 8080 };
/** The node's address towards the client: where the client reaches node ports. */
export const NODE_ADDRESS = LINKS.client.node;
const NAT_HOOKS = '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n';
/**
 * Nodes the same kind of connection is routed through instead, for comparison. A nat table with no rule does not
 * turn on connection tracking (its hooks return at once for an untracked packet), while any NAT rule does, for every
 * packet of the namespace, as on every node that runs a service proxy. So there are two: the empty ruleset, and the
 * empty ruleset that tracks connections, with one MASQUERADE rule for a source no packet has.
 */
const BASELINES = [
  { name: 'empty', target: { host: '198.18.201.1', port: 8080 }, client: '198.19.249', pods: '198.19.248', nat: NAT_HOOKS + 'COMMIT\n' },
  { name: 'tracked', target: { host: '198.18.202.1', port: 8080 }, client: '198.19.247', pods: '198.19.246', nat: NAT_HOOKS + '-A POSTROUTING -s 198.19.245.0/24 -j MASQUERADE\nCOMMIT\n' },
];
/** Through the node whose nat table has its hooks and no rule. */
export const EMPTY_RULESET_TARGET = BASELINES[0].target;
/** Through the node whose nat table has its hooks and tracks connections. */
export const TRACKED_EMPTY_TARGET = BASELINES[1].target;
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
 * Client and pods namespaces wired to the node under test, and to the baseline nodes: the client reaches each
 * baseline's target through its node, so one client run interleaves connections through every ruleset and their
 * ratios are free of drift over time.
 */
export async function connectLab(prefix, nodeNamespace, variant) {
  const node = createRunner({ netns: nodeNamespace });
  const clientNs = `${prefix}-lat-client`;
  const podsNs = `${prefix}-lat-pods`;
  const created = [];
  let client;
  let server;
  const destroy = async () => {
    await server?.stop('SIGKILL').catch(() => undefined);
    for (const ns of created) await deleteNamespace(ns);
  };
  const add = async (ns) => {
    const run = await addNamespace(ns);
    created.push(ns);
    return run;
  };
  const link = async (name, from, to, toNs, addresses) => {
    await runChecked(from, 'ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`, 'netns', toNs]);
    await runChecked(from, 'ip', ['addr', 'add', `${addresses.node}/24`, 'dev', name]);
    await runChecked(from, 'ip', ['link', 'set', name, 'up']);
    await runChecked(to, 'ip', ['addr', 'add', `${addresses.peer}/24`, 'dev', `${name}p`]);
    await runChecked(to, 'ip', ['link', 'set', `${name}p`, 'up']);
  };
  const forward = async (run, pod) => {
    await runChecked(run, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await runChecked(run, 'ip', ['route', 'add', '198.18.0.0/16', 'via', pod]);
  };
  try {
    client = await add(clientNs);
    const pods = await add(podsNs);
    await link('hplc', node, client, clientNs, LINKS.client);
    await link('hplp', node, pods, podsNs, LINKS.pods);
    await forward(node, LINKS.pods.peer);
    await runChecked(node, 'ip', ['route', 'add', `${MOVED_PREFIX}.0/24`, 'via', LINKS.pods.peer]);
    // Thousands of connects a second leave their ports in TIME_WAIT; once the default range runs short, connect()
    // searches for a free port and takes milliseconds, which would hide any difference between the paths.
    await runChecked(client, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65535', 'net.ipv4.tcp_tw_reuse=1']);
    await runChecked(client, 'ip', ['route', 'add', 'default', 'via', LINKS.client.node]);
    // The pods namespace accepts every endpoint address of the synthetic cluster as its own, and answers each
    // client address through the node it came through.
    await runChecked(pods, 'ip', ['route', 'add', 'local', '198.18.0.0/16', 'dev', 'lo']);
    await runChecked(pods, 'ip', ['route', 'add', 'local', `${MOVED_PREFIX}.0/24`, 'dev', 'lo']);
    await runChecked(pods, 'ip', ['route', 'add', '198.19.250.0/24', 'via', LINKS.pods.node]);
    for (const [i, baseline] of BASELINES.entries()) {
      const run = await add(`${prefix}-lat-${baseline.name}`);
      const toClient = { node: `${baseline.client}.1`, peer: `${baseline.client}.2` };
      const toPods = { node: `${baseline.pods}.1`, peer: `${baseline.pods}.2` };
      await link(`hplb${i}c`, run, client, clientNs, toClient);
      await link(`hplb${i}p`, run, pods, podsNs, toPods);
      await runChecked(run, iptablesTools(4, variant).restore, ['--noflush'], { input: baseline.nat });
      await forward(run, toPods.peer);
      await runChecked(client, 'ip', ['route', 'add', `${baseline.target.host}/32`, 'via', toClient.node]);
      await runChecked(pods, 'ip', ['route', 'add', `${baseline.client}.0/24`, 'via', toPods.node]);
    }
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
