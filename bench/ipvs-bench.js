// IPVS sync time inside the VM lane (Debian's kernel under qemu, TCG-emulated: absolute times are slow; compare
// within the table). Run by bench/run.js on the host; with --guest it is the part that runs inside the VM.
import { fileURLToPath } from 'node:url';
import { createIpvsPlanMemo, IpvsExecutor, planIpvs, defaultIpvsPlannerOptions, realServerLine, virtualServerLine } from '@hybrid-proxy/ipvs';
import { createPlanMemo, defaultPlannerOptions, IptablesExecutor, planIptables } from '@hybrid-proxy/iptables';
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { addNamespace, deleteNamespace, namespacePrefix, runInVm, ScaleNode, syntheticCluster as clusterObjects, syntheticVip } from '@hybrid-proxy/lab';
import { clusterEvents } from './cluster-events.js';
import { connectLab, MOVED_PREFIX } from './connect-latency.js';
import { median, ms, count, time } from './measure.js';

const ENDPOINTS = 10;
/** Changes measured per scale. */
const runsAt = (n) => (n >= 10_000 ? 3 : 5);

/**
 * The floor: one acknowledged destination add and one set member add on the same kernel (an ipvsadm and an ipset
 * call, each a process of its own as the executor's are), then removed again; median of FLOOR_RUNS.
 */
const FLOOR_RUNS = 5;
const FLOOR_REAL = '198.19.253.1';
async function floor(runner) {
  const samples = [];
  for (let i = 0; i < FLOOR_RUNS; i++) {
    samples.push(
      await time(async () => {
        await runChecked(runner, 'ipvsadm', ['-a', '-t', '198.19.0.0:80', '-r', `${FLOOR_REAL}:8080`, '-m', '-w', '1']);
        await runChecked(runner, 'ipset', ['add', 'KUBE-LOOP-BACK', `${FLOOR_REAL},tcp:8080,${FLOOR_REAL}`]);
      }),
    );
    await runChecked(runner, 'ipvsadm', ['-d', '-t', '198.19.0.0:80', '-r', `${FLOOR_REAL}:8080`]);
    await runChecked(runner, 'ipset', ['del', 'KUBE-LOOP-BACK', `${FLOOR_REAL},tcp:8080,${FLOOR_REAL}`]);
  }
  return median(samples);
}

/** How long a change waits after the last sync: the sync loop's minimum period leaves at least this. */
const SYNC_GAP_MS = 250;
const pause = (msec) => new Promise((resolve) => setTimeout(resolve, msec));
/** Connects per target for the new-connection latency (TCG: each is slow). */
const CONNECTS = Number(process.env.BENCH_VM_CONNECTS ?? 1000);

const cluster = (n) => clusterEvents(clusterObjects(n, ENDPOINTS), n, ENDPOINTS);

/** First, middle and last Service's VIP, in Service order. */
const vipTargets = (n) => [0, n >> 1, n - 1].map((i) => ({ host: syntheticVip(i), port: 80 }));

/**
 * A node namespace wired as the latency lab wires it (client → node → a pods namespace that owns every endpoint
 * address), with the floor's real server routed through a dummy device.
 */
async function benchNode(ns) {
  await addNamespace(ns);
  const lab = await connectLab(ns, ns, 'nft');
  // Under TCG, restoring 100k set members or 110k IPVS lines takes minutes, not the default two.
  const runner = createRunner({ netns: ns, timeoutMs: 1_800_000 });
  await runChecked(runner, 'ip', ['link', 'add', 'floor', 'type', 'dummy']);
  await runChecked(runner, 'ip', ['link', 'set', 'dev', 'floor', 'up']);
  await runChecked(runner, 'ip', ['route', 'add', `${FLOOR_REAL}/32`, 'dev', 'floor']);
  return { runner, lab };
}

/** Median time from a change to the kernel serving it, planning included; and planning's median share. */
async function changes(n, events, apply) {
  const served = [];
  const planned = [];
  for (let run = 1; run <= runsAt(n); run++) {
    await pause(SYNC_GAP_MS);
    const start = performance.now();
    const snapshot = events.change(run);
    const planStart = performance.now();
    const plan = await apply.plan(snapshot);
    planned.push(performance.now() - planStart);
    served.push((await apply.apply(plan)).servedAt - start);
  }
  return { changeMs: median(served), planMs: median(planned) };
}

/**
 * The same state fed raw to the tools in a fresh namespace: `ipset restore` of every set, `ip -batch` of every
 * kube-ipvs0 address, and `ipvsadm -R` of every virtual and real server (each of these alone, too).
 */
async function rawIpvs(ns, plan) {
  await addNamespace(ns);
  const runner = createRunner({ netns: ns, timeoutMs: 1_800_000 });
  try {
    await runChecked(runner, 'ip', ['link', 'add', 'pods', 'type', 'dummy']);
    await runChecked(runner, 'ip', ['link', 'set', 'dev', 'pods', 'up']);
    await runChecked(runner, 'ip', ['route', 'add', '198.18.0.0/16', 'dev', 'pods']);
    await runChecked(runner, 'ip', ['route', 'add', `${MOVED_PREFIX}.0/24`, 'dev', 'pods']);
    await runChecked(runner, 'ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
    const sets = plan.ipsets.flatMap((set) => [`create ${set.name} ${set.type} comment`, ...set.entries.map((entry) => `add ${set.name} ${entry}`)]);
    const addresses = plan.addresses.map((ip) => `addr add ${ip}/32 dev kube-ipvs0`);
    const servers = plan.virtualServers.flatMap((vs) => [virtualServerLine(vs), ...vs.reals.map((real) => realServerLine(vs, real))]);
    const setsMs = await time(() => runChecked(runner, 'ipset', ['restore'], { input: sets.join('\n') + '\n' }));
    const addressesMs = await time(() => runChecked(runner, 'ip', ['-batch', '-'], { input: addresses.join('\n') + '\n' }));
    const ipvsadmMs = await time(() => runChecked(runner, 'ipvsadm', ['-R'], { input: servers.join('\n') + '\n' }));
    return { rawMs: setsMs + addressesMs + ipvsadmMs, ipvsadmMs };
  } finally {
    await deleteNamespace(ns);
  }
}

async function ipvsScale(n, latency) {
  const events = cluster(n);
  const ns = `${namespacePrefix()}-ipvs-bench`;
  const { runner, lab } = await benchNode(ns);
  try {
    // As the proxy runs it: the tools of the next partial sync are started ahead (standby).
    const executor = new IpvsExecutor({ runner, family: 4, iptablesVariant: 'nft', standby: true });
    await executor.preflight();
    await executor.setSysctls();
    const memo = createIpvsPlanMemo();
    const options = { ...defaultIpvsPlannerOptions, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16'] } };
    const plan = planIpvs(events.initial, options, memo);
    const fullMs = await time(() => executor.apply(plan, { full: true }));
    process.stderr.write(`ipvs ${n}: full sync ${ms(fullMs)}\n`);
    const { changeMs, planMs } = await changes(n, events, { plan: (snapshot) => planIpvs(snapshot, options, memo), apply: (next) => executor.apply(next) });
    await executor.close();
    const floorMs = await floor(runner);
    const latencies = latency ? await lab.measure(vipTargets(n), CONNECTS) : undefined;
    await lab.destroy();
    const raw = await rawIpvs(`${ns}-raw`, plan);
    process.stderr.write(`ipvs ${n}: raw ${ms(raw.rawMs)}\n`);
    return { n, mode: 'ipvs', fullMs, changeMs, planMs, floorMs, ...raw, latencies };
  } finally {
    await lab.destroy().catch(() => undefined);
    await deleteNamespace(ns);
  }
}

/** The iptables mode (nft, hybrid-proxy's layout) in the same kernel, at the same scale, the way its own bench runs it. */
async function iptablesScale(n, latency) {
  const events = cluster(n);
  const ns = `${namespacePrefix()}-ipt-bench`;
  const { runner, lab } = await benchNode(ns);
  try {
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'nft', lockWaitSeconds: 60, standby: true, serveFirst: true });
    const memo = createPlanMemo();
    const options = { ...defaultPlannerOptions, family: 4, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16'] } };
    const fullMs = await time(() => executor.apply(planIptables(events.initial, options, memo)));
    const { changeMs, planMs } = await changes(n, events, { plan: (snapshot) => planIptables(snapshot, options, memo), apply: (next) => executor.apply(next) });
    await executor.close();
    const latencies = latency ? await lab.measure(vipTargets(n), CONNECTS) : undefined;
    return { n, mode: 'iptables', fullMs, changeMs, planMs, latencies };
  } finally {
    await lab.destroy().catch(() => undefined);
    await deleteNamespace(ns);
  }
}

/**
 * The real `hybrid-proxy run` in each mode, following the API double with the cluster: resident memory once
 * settled after its first sync (the least of MEMORY_SAMPLES samples, 5 s apart). One run per mode (TCG is slow).
 */
const MEMORY_SAMPLES = 6;
async function proxyMemory(n, mode) {
  const { services, slices } = clusterObjects(n, ENDPOINTS);
  const node = await ScaleNode.start({ objects: [...services, ...slices], proxyArgs: ['--mode', mode, '--iptables-variant', 'nft', '--cluster-cidr', '198.18.0.0/16'] });
  try {
    // IPVS takes no real server it has no unicast route to.
    await runChecked(node.run, 'ip', ['link', 'add', 'pods', 'type', 'dummy']);
    await runChecked(node.run, 'ip', ['link', 'set', 'dev', 'pods', 'up']);
    await runChecked(node.run, 'ip', ['route', 'add', '198.18.0.0/16', 'dev', 'pods']);
    const { firstSyncMs } = await node.startProxy(1_500_000);
    let settledMiB = Number.POSITIVE_INFINITY;
    for (let i = 0; i < MEMORY_SAMPLES; i++) {
      await pause(5000);
      settledMiB = Math.min(settledMiB, (await node.memory()).rssMiB);
    }
    return { mode, n, firstSyncMs, settledMiB };
  } finally {
    await node.destroy();
  }
}

async function guest(scales) {
  const rows = [];
  const largest = Math.max(...scales);
  for (const n of scales) {
    rows.push(await ipvsScale(n, n === largest));
    rows.push(await iptablesScale(n, n === largest));
  }
  const memory = process.env.BENCH_VM_MEMORY === '0' ? [] : [await proxyMemory(largest, 'ipvs'), await proxyMemory(largest, 'iptables')];
  process.stdout.write(`IPVS-BENCH ${JSON.stringify({ rows, memory })}\n`);
}

export async function ipvsSection(scales) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const started = performance.now();
  const vm = await runInVm([process.execPath, 'bench/ipvs-bench.js', '--guest', scales.join(',')], { cwd: root, timeoutMs: 3_000_000, onOutput: (text) => process.stdout.write(text) });
  try {
    const line = vm.stdout.split('\n').find((l) => l.startsWith('IPVS-BENCH '));
    const failure = vm.stdout.split('\n').find((l) => l.startsWith('IPVS-BENCH-ERROR '));
    if (!line) throw new Error(`the IPVS benchmark failed in the VM: ${failure?.slice('IPVS-BENCH-ERROR '.length) ?? `exit ${vm.exitCode}, ${vm.stderr.trim().split('\n').at(-1)}`}`);
    const { rows, memory } = JSON.parse(line.slice('IPVS-BENCH '.length));
    console.log('ipvs', line);
    const ipvs = rows.filter((r) => r.mode === 'ipvs');
    const ratio = (x) => `${x.toFixed(2)}×`;
    const us = (x) => `${x.toFixed(0)} µs`;
    const withLatency = rows.filter((r) => r.latencies);
    return [
      '## IPVS mode (in the VM lane: Debian 6.1 kernel under qemu, TCG-emulated)',
      '',
      `This section took ${((performance.now() - started) / 60_000).toFixed(0)} min, the VM's boot included (\`BENCH_ONLY=ipvs npm run bench\` runs it alone).`,
      '',
      'Software emulation runs several times slower than hardware: compare rows and columns, not with the tables above.',
      `Each Service has one TCP port and ${ENDPOINTS} endpoints. A full sync creates kube-ipvs0's addresses, the ipsets, the`,
      'fixed rules and every virtual and real server, reading the kernel state first (ipvsadm-save, ipset save, ip addr)',
      '(and the virtual servers back only if ipvsadm refused a line). Raw: the same sets, addresses and servers fed straight to `ipset restore`,',
      '`ip -batch` and `ipvsadm -R` in a fresh namespace (and `ipvsadm -R` alone). A one-endpoint change, from the',
      'snapshot to the kernel serving it: planning (with the memo, only the changed Service port), the diff against',
      'the ledger of what the last sync applied, and the differences through `ipset restore` and `ipvsadm -R` started',
      `ahead of it, as the proxy runs them (median of the runs shown, ${SYNC_GAP_MS} ms apart); the removed real drains at`,
      'weight 0. Nothing is read back on that path (the kernel is compared with the ledger once per sync period). The',
      `floor: one destination add and one set member add, each its own ipvsadm or ipset call (median of ${FLOOR_RUNS}).`,
      '',
      '| Services × endpoints | full sync | raw (ipset, ip, ipvsadm) | full / raw | raw ipvsadm -R alone | one-endpoint change | of which planning | runs | change / full | floor | change / floor |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...ipvs.map((r) => `| ${count(r.n)} × ${ENDPOINTS} | ${ms(r.fullMs)} | ${ms(r.rawMs)} | ${ratio(r.fullMs / r.rawMs)} | ${ms(r.ipvsadmMs)} | ${ms(r.changeMs)} | ${ms(r.planMs)} | ${runsAt(r.n)} | ${(r.changeMs / r.fullMs).toFixed(3)}× | ${ms(r.floorMs)} | ${ratio(r.changeMs / r.floorMs)} |`),
      ...(ipvs.length > 1 ? ['', `The one-endpoint change at ${count(ipvs.at(-1).n)} takes ${ratio(ipvs.at(-1).changeMs / ipvs[0].changeMs)} as long as at ${count(ipvs[0].n)}.`] : []),
      '',
      '### Side by side with the iptables mode, in the same VM',
      '',
      "The iptables mode (iptables-nft, hybrid-proxy's layout) at the same scales and in the same kernel: full apply and a",
      'one-endpoint change measured the same way (its executor as the proxy runs it: restores started ahead, serve-first).',
      `New-connection latency: medians of ${count(CONNECTS)} interleaved TCP connects from a client namespace through the node to the`,
      `first, middle and last Service's VIP, at ${count(Math.max(...rows.map((r) => r.n)))} × ${ENDPOINTS}.`,
      '',
      '| mode | Services × endpoints | full sync | one-endpoint change | of which planning |',
      '|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.mode} | ${count(r.n)} × ${ENDPOINTS} | ${ms(r.fullMs)} | ${ms(r.changeMs)} | ${ms(r.planMs)} |`),
      '',
      '| mode | first VIP | middle VIP | last VIP | slowest / fastest |',
      '|---|---|---|---|---|',
      ...withLatency.map((r) => `| ${r.mode} | ${r.latencies.map(us).join(' | ')} | ${ratio(Math.max(...r.latencies) / Math.min(...r.latencies))} |`),
      '',
      ...(memory.length === 2
        ? [
            `Memory: the real \`hybrid-proxy run\` following the API double with ${count(memory[0].n)} Services × ${ENDPOINTS} endpoints, resident`,
            `memory once settled (the least of ${MEMORY_SAMPLES} samples 5 s apart after its first sync; one run per mode).`,
            '',
            '| mode | first sync after start | resident memory once settled |',
            '|---|---|---|',
            ...memory.map((m) => `| ${m.mode} | ${ms(m.firstSyncMs)} | ${m.settledMiB.toFixed(0)} MiB |`),
            '',
            `IPVS mode's resident memory is ${ratio(memory[0].settledMiB / memory[1].settledMiB)} the iptables mode's.`,
            '',
          ]
        : []),
    ];
  } finally {
    await vm.cleanup();
  }
}

if (process.argv[2] === '--guest') {
  try {
    await guest(process.argv[3].split(',').map(Number));
  } catch (err) {
    // One line the host can quote, not a dump of the error's properties.
    process.stdout.write(`IPVS-BENCH-ERROR ${err.message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
