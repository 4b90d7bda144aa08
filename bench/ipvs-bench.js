// IPVS sync time inside the VM lane (Debian's kernel under qemu, TCG-emulated: absolute times are slow; compare
// within the table). Run by bench/run.js on the host; with --guest it is the part that runs inside the VM.
import { fileURLToPath } from 'node:url';
import { createIpvsPlanMemo, IpvsExecutor, planIpvs, defaultIpvsPlannerOptions } from '@hybrid-proxy/ipvs';
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { addNamespace, deleteNamespace, namespacePrefix, runInVm } from '@hybrid-proxy/lab';
import { convertEndpointSlice, convertService, SnapshotAssembler } from '@hybrid-proxy/model';
import { syntheticCluster as clusterObjects, syntheticSlice } from '@hybrid-proxy/lab';
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

async function guest(scales) {
  const rows = [];
  for (const n of scales) {
    const { services, slices } = clusterObjects(n, ENDPOINTS);
    const ns = `${namespacePrefix()}-ipvs-bench`;
    await addNamespace(ns);
    // Under TCG, restoring 100k set members or 110k IPVS lines takes minutes, not the default two.
    const runner = createRunner({ netns: ns, timeoutMs: 1_800_000 });
    try {
      // IPVS refuses a real server it has no unicast route to: route the endpoint range through a dummy device.
      await runChecked(runner, 'ip', ['link', 'add', 'pods', 'type', 'dummy']);
      await runChecked(runner, 'ip', ['link', 'set', 'dev', 'pods', 'up']);
      await runChecked(runner, 'ip', ['route', 'add', '198.18.0.0/16', 'dev', 'pods']);
      // The floor's real server: outside the endpoints, which fill all of 198.18.0.0/16 at 10k × 10.
      await runChecked(runner, 'ip', ['route', 'add', `${FLOOR_REAL}/32`, 'dev', 'pods']);
      await runChecked(runner, 'ip', ['route', 'add', '198.19.254.0/24', 'dev', 'pods']);
      const executor = new IpvsExecutor({ runner, family: 4, iptablesVariant: 'nft' });
      await executor.preflight();
      await executor.setSysctls();
      // As the proxy holds the cluster: an assembler that re-joins only the Service a change touches, and a plan
      // memo that keeps every other Service port's virtual servers and set members.
      const assembler = new SnapshotAssembler();
      const memo = createIpvsPlanMemo();
      const options = { ...defaultIpvsPlannerOptions, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16'] } };
      const plan = planIpvs(assembler.assemble(services.map((s) => convertService(s).value), slices.map((s) => convertEndpointSlice(s).value)), options, memo);
      const fullMs = await time(() => executor.apply(plan, { full: true }));
      process.stderr.write(`ipvs ${n}: full sync ${ms(fullMs)}\n`);
      const partials = [];
      const plans = [];
      for (let run = 1; run <= runsAt(n); run++) {
        // Event `run`: an endpoint of Service 0.4 n moves to an address no other endpoint has (outside 198.18.0.0/16).
        const moved = syntheticSlice(Math.floor(n * 0.4), ENDPOINTS);
        moved.endpoints[0] = { addresses: [`198.19.254.${run}`], conditions: { ready: true } };
        const slice = convertEndpointSlice(moved).value;
        // From the watch event to the kernel serving it: the snapshot, planning, the diff against the ledger, the tools.
        partials.push(
          await time(async () => {
            assembler.setSlice(`${slice.namespace}/${slice.name}`, slice);
            const snapshot = assembler.snapshot();
            let next;
            plans.push(await time(() => (next = planIpvs(snapshot, options, memo))));
            await executor.apply(next);
          }),
        );
      }
      const floorMs = await floor(runner);
      rows.push({ n, fullMs, partialMs: median(partials), planMs: median(plans), floorMs, runs: partials.length });
    } finally {
      await deleteNamespace(ns);
    }
  }
  process.stdout.write(`IPVS-BENCH ${JSON.stringify(rows)}\n`);
}

export async function ipvsSection(scales) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const vm = await runInVm([process.execPath, 'bench/ipvs-bench.js', '--guest', scales.join(',')], { cwd: root, timeoutMs: 1_800_000, onOutput: (text) => process.stdout.write(text) });
  try {
    const line = vm.stdout.split('\n').find((l) => l.startsWith('IPVS-BENCH '));
    const failure = vm.stdout.split('\n').find((l) => l.startsWith('IPVS-BENCH-ERROR '));
    if (!line) throw new Error(`the IPVS benchmark failed in the VM: ${failure?.slice('IPVS-BENCH-ERROR '.length) ?? `exit ${vm.exitCode}, ${vm.stderr.trim().split('\n').at(-1)}`}`);
    const rows = JSON.parse(line.slice('IPVS-BENCH '.length));
    console.log('ipvs', line);
    return [
      '## IPVS mode (in the VM lane: Debian 6.1 kernel under qemu, TCG-emulated)',
      '',
      'Software emulation runs several times slower than hardware: compare rows and columns, not with the tables above.',
      `Each Service has one TCP port and ${ENDPOINTS} endpoints. A full sync creates kube-ipvs0's addresses, the ipsets, the`,
      'fixed rules and every virtual and real server, reading the kernel state first (ipvsadm-save, ipset save, ip addr)',
      'and the virtual servers back after. A one-endpoint change, from the snapshot to the kernel serving it, plans',
      'the whole snapshot (planning, its share), diffs the plan against the ledger of what the last sync applied and',
      'runs only the differences through `ipset restore` and `ipvsadm -R`, reading nothing back (the kernel is compared',
      'with the ledger once per sync period, off the change path). The floor: one destination add and one set member',
      `add, each its own ipvsadm or ipset call (median of ${FLOOR_RUNS}). Medians of the runs shown.`,
      '',
      '| Services × endpoints | full sync | one-endpoint change | of which planning | runs | change / full | floor | change / floor |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${count(r.n)} × ${ENDPOINTS} | ${ms(r.fullMs)} | ${ms(r.partialMs)} | ${ms(r.planMs)} | ${r.runs} | ${(r.partialMs / r.fullMs).toFixed(3)}× | ${ms(r.floorMs)} | ${(r.partialMs / r.floorMs).toFixed(2)}× |`),
      ...(rows.length > 1 ? ['', `The one-endpoint change at ${count(rows.at(-1).n)} takes ${(rows.at(-1).partialMs / rows[0].partialMs).toFixed(2)}× as long as at ${count(rows[0].n)}.`] : []),
      '',
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
