// IPVS sync time inside the VM lane (Debian's kernel under qemu, TCG-emulated: absolute times are slow; compare
// within the table). Run by bench/run.js on the host; with --guest it is the part that runs inside the VM.
import { fileURLToPath } from 'node:url';
import { IpvsExecutor, planIpvs, defaultIpvsPlannerOptions } from '@hybrid-proxy/ipvs';
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { addNamespace, deleteNamespace, namespacePrefix, runInVm } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { syntheticCluster as clusterObjects } from '@hybrid-proxy/lab';
import { median, ms, count, time } from './measure.js';

const ENDPOINTS = 10;
/** Changes measured per scale: under TCG one change at 10k × 10 takes minutes. */
const runsAt = (n) => (n >= 10_000 ? 1 : 3);

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
      const executor = new IpvsExecutor({ runner, family: 4, iptablesVariant: 'nft' });
      await executor.preflight();
      await executor.setSysctls();
      const plan = planIpvs(buildSnapshot(services, slices), { ...defaultIpvsPlannerOptions, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16'] } });
      const fullMs = await time(() => executor.apply(plan, { full: true }));
      process.stderr.write(`ipvs ${n}: full sync ${ms(fullMs)}\n`);
      const partials = [];
      for (let run = 1; run <= runsAt(n); run++) {
        const moved = clusterObjects(n, ENDPOINTS);
        moved.slices[0].endpoints[0] = { addresses: [`198.18.255.${run}`], conditions: { ready: true } };
        const next = planIpvs(buildSnapshot(moved.services, moved.slices), { ...defaultIpvsPlannerOptions, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.0.0/16'] } });
        partials.push(await time(() => executor.apply(next)));
      }
      rows.push({ n, fullMs, partialMs: median(partials), runs: partials.length });
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
      'fixed rules and every virtual and real server; the one-endpoint change reads the kernel state back (ipvsadm-save,',
      'ipset save, ip addr) and applies only the differences (median of the runs shown).',
      '',
      '| Services × endpoints | full sync | one-endpoint change | runs | change / full |',
      '|---|---|---|---|---|',
      ...rows.map((r) => `| ${count(r.n)} × ${ENDPOINTS} | ${ms(r.fullMs)} | ${ms(r.partialMs)} | ${r.runs} | ${(r.partialMs / r.fullMs).toFixed(3)}× |`),
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
