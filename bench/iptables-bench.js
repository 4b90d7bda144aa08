// The iptables mode at scale: hybrid-proxy's layout (gated tree dispatch, inline endpoints) against kube-proxy's
// (linear KUBE-SERVICES, a KUBE-SEP chain per endpoint), on iptables-nft and iptables-legacy, in namespaces.
import { createRunner, runChecked, StandbyCommand } from '@hybrid-proxy/exec';
import { createPlanMemo, defaultPlannerOptions, iptablesTools, IptablesExecutor, planIptables } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, namespacePrefix, ScaleNode, syntheticCluster, syntheticVip } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { clusterEvents } from './cluster-events.js';
import { connectLab, EMPTY_RULESET_TARGET, NODE_ADDRESS, NON_SERVICE_TARGET, TRACKED_EMPTY_TARGET } from './connect-latency.js';
import { count, median, ms, msSpread, spread, time } from './measure.js';

const ENDPOINTS = 10;
const PLAN_RUNS = 5;
const CHANGE_RUNS = 15;
const FLOOR_RUNS = 9;
const CONNECTS = Number(process.env.BENCH_CONNECTS ?? 5000);
/** Of every 10 Services, this many are NodePort Services: 3,000 node ports at 10,000 Services. */
const NODE_PORTS_PER_10 = 3;

export const LAYOUTS = {
  'hybrid-proxy': { dispatch: 'tree', endpointChains: 'inline' },
  'tree + KUBE-SEP chains': { dispatch: 'tree', endpointChains: 'per-endpoint' },
  'kube-proxy': { dispatch: 'linear', endpointChains: 'per-endpoint' },
};
const BASE = { ...defaultPlannerOptions, family: 4, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16'] } };
const options = (layout) => ({ ...BASE, ...LAYOUTS[layout] });

const cluster = (n) => clusterEvents(syntheticObjects(n), n, ENDPOINTS);

/**
 * The synthetic cluster, with NODE_PORTS_PER_10 of every 10 Services of type NodePort, their node ports counted up
 * from 30000 in Service order (past the API server's default range, which holds 2,768: clusters this size widen it).
 */
function syntheticObjects(n) {
  const { services, slices } = syntheticCluster(n, ENDPOINTS);
  let next = 30_000;
  for (const [i, service] of services.entries()) {
    if (i % 10 >= NODE_PORTS_PER_10) continue;
    service.spec.type = 'NodePort';
    service.spec.ports[0].nodePort = next++;
  }
  return { services, slices };
}

const rulesOf = (plan) => [...plan.tables.nat.values(), ...plan.tables.filter.values()].reduce((a, r) => a + r.length, 0);
const chainsOf = (plan) => plan.tables.nat.size + plan.tables.filter.size;

/** How long a partial sync waits after the last one: the sync loop's minimum period leaves at least this. */
const SYNC_GAP_MS = 250;
const pause = (msec) => new Promise((resolve) => setTimeout(resolve, msec));

/**
 * The cost of one commit that adds a rule to the table as it stands: what every partial sync pays at least.
 * Cold: the tool started for it (the floor). Waiting: fed to a tool started ahead, as the proxy's
 * executor does (options.standby), so that the change is also compared without the start-up it skips.
 */
async function floor(run, tools) {
  const add = '*nat\n:KUBE-BENCH-FLOOR - [0:0]\n-A KUBE-BENCH-FLOOR -j RETURN\nCOMMIT\n';
  const args = ['-w', '60', '--noflush'];
  const cold = [];
  const waiting = [];
  for (let i = 0; i < FLOOR_RUNS; i++) {
    cold.push(await time(() => runChecked(run, tools.restore, args, { input: add })));
    await runChecked(run, tools.restore, args, { input: '*nat\n:KUBE-BENCH-FLOOR - [0:0]\n-X KUBE-BENCH-FLOOR\nCOMMIT\n' });
    const standby = new StandbyCommand(run, tools.restore, args);
    await pause(SYNC_GAP_MS);
    waiting.push(await time(async () => (await standby.feed(add)).exitCode));
    await runChecked(run, tools.restore, args, { input: '*nat\n:KUBE-BENCH-FLOOR - [0:0]\n-X KUBE-BENCH-FLOOR\nCOMMIT\n' });
  }
  return { cold: median(cold), waiting: median(waiting) };
}

/** The same sets and restore input, fed straight to the tools in a fresh namespace: the raw cost of the ruleset. */
async function rawRestore(prefix, plan, input, tools) {
  const ns = `${prefix}-raw`;
  const run = await addNamespace(ns);
  try {
    const sets = plan.ipsets.flatMap((s) => [`create ${s.name} ${s.type} comment`, ...s.entries.map((e) => `add ${s.name} ${e}`)]);
    return await time(async () => {
      if (sets.length > 0) await runChecked(run, 'ipset', ['restore'], { input: sets.join('\n') + '\n' });
      await runChecked(run, tools.restore, ['-w', '60', '--noflush'], { input, timeoutMs: 600_000 });
    });
  } finally {
    await deleteNamespace(ns);
  }
}

const firstMiddleLast = (list) => [list[0], list[list.length >> 1], list.at(-1)];

/** First, middle and last Service in KUBE-SERVICES order (kube-proxy's walk), as connect targets. */
function vipTargets(snapshot) {
  return firstMiddleLast([...snapshot.entries.keys()]).map((key) => ({ host: syntheticVip(Number(/svc-(\d+):/.exec(key)[1])), port: 80 }));
}

/** First, middle and last node port in KUBE-NODEPORTS order (kube-proxy's walk), on the node's address. */
function nodePortTargets(snapshot) {
  const nodePorts = [...snapshot.entries.values()].filter((entry) => entry.service.nodePort !== 0);
  return firstMiddleLast(nodePorts).map((entry) => ({ host: NODE_ADDRESS, port: entry.service.nodePort }));
}

async function measureLayout(prefix, n, variant, layout, dataPlane) {
  const events = cluster(n);
  const snapshot = events.initial;
  const ns = `${prefix}-${variant}-${layout.replace(/\W+/g, '')}`;
  const run = await addNamespace(ns);
  // The latency lab comes up first, and settles (an A/A check with no rule) before any rule is loaded.
  const lab = dataPlane ? await connectLab(ns, ns, variant) : undefined;
  let executor;
  try {
    const settled = await lab?.settle();
    const tools = iptablesTools(4, variant);
    const memo = createPlanMemo();
    const plan = planIptables(snapshot, options(layout), memo);
    // As the proxy runs it: the next restore commands are started ahead and wait for the sync (standby), and a
    // partial sync on nft serves its change with additions only before it writes the chains in place (serveFirst).
    executor = new IptablesExecutor({ runner: run, family: 4, variant, lockWaitSeconds: 60, standby: true, serveFirst: true });
    let input = '';
    const fullMs = await time(async () => (input = (await executor.apply(plan)).input));
    const rawMs = await rawRestore(ns, plan, input, tools);
    const { cold: floorMs, waiting: waitingFloorMs } = await floor(run, tools);
    const changes = [];
    for (let i = 1; i <= CHANGE_RUNS; i++) {
      // From the watch event to the rules in the kernel: conversion, snapshot, planning (memo), the partial sync.
      await pause(SYNC_GAP_MS);
      // Until the new rules serve: on nft the executor's first commit, before it writes the chains in place.
      const start = performance.now();
      changes.push((await executor.apply(planIptables(events.change(i), options(layout), memo))).servedAt - start);
    }
    let latency;
    let unhooked;
    if (lab) {
      latency = await lab.measure([...vipTargets(snapshot), ...nodePortTargets(snapshot), NON_SERVICE_TARGET, EMPTY_RULESET_TARGET, TRACKED_EMPTY_TARGET], CONNECTS);
      // The control: the same tables left in the kernel, with no jump into them from a hook. What a
      // non-service connection still pays then is the tables' presence (and the connection tracking their NAT
      // rules turn on), not the rules it walks.
      for (const [table, chain] of [['nat', 'PREROUTING'], ['nat', 'OUTPUT'], ['nat', 'POSTROUTING'], ['filter', 'INPUT'], ['filter', 'FORWARD'], ['filter', 'OUTPUT']]) {
        await runChecked(run, tools.iptables, ['-w', '60', '-t', table, '-F', chain]);
      }
      unhooked = await lab.measure([NON_SERVICE_TARGET, EMPTY_RULESET_TARGET, TRACKED_EMPTY_TARGET], CONNECTS);
    }
    const row = { n, variant, layout, rules: rulesOf(plan), chains: chainsOf(plan), fullMs, rawMs, floorMs, waitingFloorMs, changeMs: median(changes), latency, unhooked, settled };
    console.log('iptables', JSON.stringify(row));
    return row;
  } finally {
    await executor?.close();
    await lab?.destroy();
    await deleteNamespace(ns);
  }
}

function planning(n) {
  const snapshot = buildSnapshot(...Object.values(syntheticObjects(n)));
  const rows = [];
  for (const layout of Object.keys(LAYOUTS)) {
    const cold = [];
    for (let i = 0; i < PLAN_RUNS; i++) {
      const start = performance.now();
      planIptables(snapshot, options(layout));
      cold.push(performance.now() - start);
    }
    const events = cluster(n);
    const memo = createPlanMemo();
    planIptables(events.initial, options(layout), memo);
    const warm = [];
    for (let i = 1; i <= CHANGE_RUNS; i++) {
      const next = events.change(i);
      const start = performance.now();
      planIptables(next, options(layout), memo);
      warm.push(performance.now() - start);
    }
    rows.push({ layout, coldMs: median(cold), warmMs: median(warm) });
  }
  return rows;
}

/** Runs of the real proxy for memory: its peak depends on when V8 collects, and one run can land either way. */
const MEMORY_RUNS = 3;

/**
 * The real proxy at 10k × 10 behind the API double: first sync, peak resident memory, and resident memory once
 * settled (V8's memory reducer shrinks the heap some 20 s after the burst of the first sync; sampled for 60 s).
 * Each figure is the median of MEMORY_RUNS runs, with the range.
 */
async function proxyMemory(n) {
  const { services, slices } = syntheticObjects(n);
  const runs = [];
  for (let run = 0; run < MEMORY_RUNS; run++) {
    const node = await ScaleNode.start({ objects: [...services, ...slices], proxyArgs: ['--iptables-variant', 'nft', '--cluster-cidr', '198.18.0.0/16'] });
    try {
      const { firstSyncMs } = await node.startProxy();
      let settledMiB = Number.POSITIVE_INFINITY;
      let peakMiB = 0;
      for (let i = 0; i < 12; i++) {
        await new Promise((r) => setTimeout(r, 5000));
        const memory = await node.memory();
        settledMiB = Math.min(settledMiB, memory.rssMiB);
        peakMiB = memory.peakMiB;
      }
      runs.push({ firstSyncMs, settledMiB, peakMiB });
    } finally {
      await node.destroy();
    }
  }
  const summary = (key) => spread(runs.map((r) => r[key]));
  return { firstSyncMs: summary('firstSyncMs'), settledMiB: summary('settledMiB'), peakMiB: summary('peakMiB') };
}

const ratio = (x) => `${x.toFixed(2)}×`;
const mib = ({ median: m, min, max }) => `${m.toFixed(0)} MiB (${min.toFixed(0)}–${max.toFixed(0)})`;

export async function iptablesSection(scales) {
  const prefix = `${namespacePrefix()}-bench`;
  const largest = Math.max(...scales);
  const plans = scales.map((n) => ({ n, rows: planning(n) }));
  const rows = [];
  for (const variant of ['nft', 'legacy']) {
    for (const n of scales) {
      for (const layout of Object.keys(LAYOUTS)) {
        if (variant === 'legacy' && layout === 'tree + KUBE-SEP chains') continue;
        rows.push(await measureLayout(prefix, n, variant, layout, n === largest));
      }
    }
  }
  const memory = await proxyMemory(largest);
  const find = (n, variant, layout) => rows.find((r) => r.n === n && r.variant === variant && r.layout === layout);
  const lines = [
    '## iptables mode at scale: hybrid-proxy\'s layout against kube-proxy\'s',
    '',
    `Each Service has one TCP port and ${ENDPOINTS} ready endpoints; ${NODE_PORTS_PER_10} of every 10 are NodePort Services (${count(Math.round(largest * NODE_PORTS_PER_10 / 10))} node ports at ${count(largest)}).`,
    '**hybrid-proxy**: KUBE-SERVICES holds an ipset gate into a 16×16 goto tree of 256 leaves, node ports sit in a',
    '16-way tree keyed on the port, and endpoints are DNAT rules inline in the service chain (hairpin by a set).',
    '**kube-proxy**: one KUBE-SERVICES rule per Service, one KUBE-NODEPORTS rule per node port and a KUBE-SEP chain per',
    'endpoint (`--dispatch linear`). The middle layout keeps the trees but has KUBE-SEP chains, to show what the chains',
    'alone cost.',
    '',
    '### Control plane',
    '',
    'Full apply: the first sync (jumps, reading the kernel, sets, `iptables-restore --noflush` in commits of about 2000 rules on nft);',
    'raw: the same sets and restore input fed straight to `ipset restore` and `iptables-restore` in a fresh namespace.',
    `Floor: one commit that adds one rule to the table as it stands (median of ${FLOOR_RUNS}); every partial sync pays it at least.`,
    `One-endpoint change: from the snapshot with the change to the new rules serving in the kernel, planning included (median of`,
    `${CHANGE_RUNS}, ${SYNC_GAP_MS} ms after the last sync). The executor runs as the proxy runs it: the next \`iptables-restore\` and`,
    '`ipset restore` are started after each sync and wait for their input, so a change skips their start-up; on nft a partial',
    'sync serves its change in a commit of additions only (each rewritten chain shadowed by a filled stand-in that its new',
    'first rule goes to), since a commit that deletes a rule waits for an RCU grace period, and then writes the chains in',
    'place in a second commit, off the serving path. The floor is taken both ways: with the tool started for it (cold) and',
    'fed to a tool started ahead (waiting).',
    '',
    '| iptables | Services × endpoints | layout | rules | chains | full apply | raw restore | apply / raw | floor (cold) | floor (waiting) | one-endpoint change | change / floor (cold) | change / floor (waiting) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.variant} | ${count(r.n)} × ${ENDPOINTS} | ${r.layout} | ${count(r.rules)} | ${count(r.chains)} | ${ms(r.fullMs)} | ${ms(r.rawMs)} | ${ratio(r.fullMs / r.rawMs)} | ${ms(r.floorMs)} | ${ms(r.waitingFloorMs)} | ${ms(r.changeMs)} | ${ratio(r.changeMs / r.floorMs)} | ${ratio(r.changeMs / r.waitingFloorMs)} |`),
    '',
  ];
  for (const variant of ['nft', 'legacy']) {
    const ours = find(largest, variant, 'hybrid-proxy');
    const theirs = find(largest, variant, 'kube-proxy');
    lines.push(`At ${count(largest)} × ${ENDPOINTS} on ${variant}: kube-proxy's layout takes ${ratio(theirs.changeMs / ours.changeMs)} as long as hybrid-proxy's for a one-endpoint change, and hybrid-proxy's floor is ${ratio(ours.floorMs / theirs.floorMs)} of kube-proxy's.`);
  }
  lines.push(
    '',
    '### Planning',
    '',
    `The pure planner alone. Cold: a first plan (median of ${PLAN_RUNS}). Warm: the snapshot of a one-endpoint change (assembled as the`,
    `watcher does) re-planned with the memo of unchanged Service ports, as the sync loop does (median of ${CHANGE_RUNS}).`,
    '',
    '| Services × endpoints | layout | cold | warm |',
    '|---|---|---|---|',
    ...plans.flatMap(({ n, rows: r }) => r.map((p) => `| ${count(n)} × ${ENDPOINTS} | ${p.layout} | ${ms(p.coldMs)} | ${ms(p.warmMs)} |`)),
    '',
    '### Data plane',
    '',
    `New-connection latency at ${count(largest)} × ${ENDPOINTS}: medians of ${count(CONNECTS)} interleaved TCP connects from a client namespace through the`,
    'node namespace to a Pod namespace. VIPs are the first, middle and last Service in kube-proxy\'s KUBE-SERVICES order;',
    'node ports the first, middle and last in its KUBE-NODEPORTS order, on the node\'s address (masqueraded, as the',
    'VIPs are for this client outside the cluster CIDR); the non-service connection goes to a Pod address directly. The same client also connects to a Pod address through',
    'two baseline nodes, interleaved with the others; the order of the targets rotates each round, so none is always',
    'first. The empty ruleset: a nat table with its hooks and no rule. On this kernel such a table does not turn on',
    'connection tracking (the namespace\'s conntrack count stays 0), so its hooks return at once; any NAT rule turns it',
    'on for every packet of the namespace, as on every Kubernetes node even before a proxy runs (kubelet\'s',
    'KUBE-FIREWALL rule matches on conntrack state) and on every node that runs a NAT-based proxy. So the second baseline, the',
    'tracking empty ruleset, is the same table with one MASQUERADE rule for a source no packet has. Ratios: the slowest',
    'VIP to the fastest, the slowest of VIPs and node ports to the fastest, and the non-service connection to each baseline. Before any rule is loaded, the lab settles:',
    'the node and the empty ruleset are compared with no rule on either until they agree within 2% twice (A/A).',
    'Control: the same tables still loaded in the node, with every jump from the built-in chains flushed, so no packet',
    'reaches a rule of ours but connections are still tracked: against the tracking baseline, what is left is what the',
    'tables cost by being there.',
    '',
    '| iptables | layout | A/A before rules | first VIP | middle VIP | last VIP | slowest / fastest VIP | first node port | middle node port | last node port | slowest / fastest of VIPs and node ports | non-service | empty ruleset | tracking empty ruleset | non-service / empty ruleset | non-service / tracking empty ruleset | control: tables loaded, unhooked, / tracking empty ruleset |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of rows.filter((row) => row.latency)) {
    const [first, middle, last, firstPort, middlePort, lastPort, nonService, emptyRuleset, tracked] = r.latency;
    const vips = [first, middle, last];
    const all = [...vips, firstPort, middlePort, lastPort];
    const us = (x) => `${x.toFixed(0)} µs`;
    lines.push(`| ${r.variant} | ${r.layout} | ${ratio(r.settled.ratio)} after ${r.settled.seconds.toFixed(0)} s | ${us(first)} | ${us(middle)} | ${us(last)} | ${ratio(Math.max(...vips) / Math.min(...vips))} | ${us(firstPort)} | ${us(middlePort)} | ${us(lastPort)} | ${ratio(Math.max(...all) / Math.min(...all))} | ${nonService.toFixed(0)} µs | ${emptyRuleset.toFixed(0)} µs | ${tracked.toFixed(0)} µs | ${ratio(nonService / emptyRuleset)} | ${ratio(nonService / tracked)} | ${ratio(r.unhooked[0] / r.unhooked[2])} |`);
  }
  lines.push(
    '',
    '### Memory',
    '',
    `The real \`hybrid-proxy run\` (the shipped one-file executable) following the API double with ${count(largest)} Services × ${ENDPOINTS} endpoints (iptables-nft, default layout):`,
    `medians of ${MEMORY_RUNS} runs, with their range.`,
    '',
    '| first sync after start | resident memory once settled (sampled every 5 s for a minute) | resident memory at its peak, during the first sync |',
    '|---|---|---|',
    `| ${msSpread(memory.firstSyncMs)} | ${mib(memory.settledMiB)} | ${mib(memory.peakMiB)} |`,
    '',
  );
  return lines;
}
