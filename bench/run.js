// npm run bench: every benchmark section, written to BENCHMARKS.md. Figures are medians or totals, each with
// its scale (Services × endpoints) and, where there is a baseline, as a ratio.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { iptablesSection } from './iptables-bench.js';
import { watcherSection } from './watcher-bench.js';
import { countersSection } from './counters-bench.js';
import { ipvsSection } from './ipvs-bench.js';

const scales = (process.env.BENCH_SCALES ?? '1000,10000').split(',').map(Number);
/** A section that fails is reported in BENCHMARKS.md with its reason, and the others are still written. */
async function section(title, run) {
  try {
    return await run();
  } catch (err) {
    console.error(`${title}: ${err.message}`);
    return [`## ${title}`, '', `Not measured in this run: ${err.message.split('\n')[0].slice(0, 400)}`, ''];
  }
}

const sections = [
  await section('Watcher', () => watcherSection(Number(process.env.BENCH_WATCH_SERVICES ?? 10_000), 10, Number(process.env.BENCH_WATCH_UPDATES ?? 5000))),
  await section('iptables mode', () => iptablesSection(scales)),
  await section('eBPF counters', () => countersSection()),
  await section('IPVS mode (in the VM lane)', () =>
    process.env.BENCH_IPVS === '0' ? Promise.reject(new Error('skipped (BENCH_IPVS=0)')) : ipvsSection((process.env.BENCH_IPVS_SCALES ?? '1000,10000').split(',').map(Number)),
  ),
];
const header = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench\` (bench/run.js); do not edit by hand. Machine: ${cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
  '',
];
writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), [...header, ...sections.flat()].join('\n'));
console.log('wrote BENCHMARKS.md');
