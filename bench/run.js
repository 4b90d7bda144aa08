// npm run bench: every benchmark section, written to BENCHMARKS.md. Figures are medians or totals, each with
// its scale (Services × endpoints) and, where there is a baseline, as a ratio.
// BENCH_ONLY=iptables,ipvs runs those sections and keeps the others as the file has them (the IPVS section runs
// for half an hour under TCG, its time written in its section; the others need a quiet machine, so they are often run apart).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { iptablesSection } from './iptables-bench.js';
import { watcherSection } from './watcher-bench.js';
import { countersSection } from './counters-bench.js';
import { ipvsSection } from './ipvs-bench.js';
import { packagesSection } from './packages-bench.js';

const FILE = new URL('../BENCHMARKS.md', import.meta.url);
const scales = (process.env.BENCH_SCALES ?? '1000,10000').split(',').map(Number);
const only = process.env.BENCH_ONLY?.split(',');

/** A section that fails is reported in BENCHMARKS.md with its reason, and the others are still written. */
async function section(title, run) {
  try {
    return await run();
  } catch (err) {
    console.error(`${title}: ${err.message}`);
    return [`## ${title}`, '', `Not measured in this run: ${err.message.split('\n')[0].slice(0, 400)}`, ''];
  }
}

const SECTIONS = {
  watcher: () => section('Watcher', () => watcherSection(Number(process.env.BENCH_WATCH_SERVICES ?? 10_000), 10, Number(process.env.BENCH_WATCH_UPDATES ?? 5000))),
  iptables: () => section('iptables mode', () => iptablesSection(scales)),
  counters: () => section('eBPF counters', () => countersSection()),
  packages: () => section('Packages', () => packagesSection()),
  ipvs: () =>
    section('IPVS mode (in the VM lane)', () =>
      process.env.BENCH_IPVS === '0' ? Promise.reject(new Error('skipped (BENCH_IPVS=0)')) : ipvsSection((process.env.BENCH_IPVS_SCALES ?? '1000,10000').split(',').map(Number)),
    ),
};

/** The sections of the current file, by key, so a partial run keeps the ones it did not measure. */
function previousSections() {
  if (!existsSync(FILE)) return {};
  const text = readFileSync(FILE, 'utf8');
  const chunks = text.split(/^(?=## )/m).slice(1);
  const byKey = {};
  for (const chunk of chunks) {
    const heading = chunk.split('\n')[0].toLowerCase();
    const key = Object.keys(SECTIONS).find((k) => heading.includes(k === 'counters' ? 'ebpf' : k));
    if (key && !byKey[key]) byKey[key] = chunk.trimEnd().split('\n').concat('');
  }
  return byKey;
}

const previous = only ? previousSections() : {};
const sections = [];
for (const key of Object.keys(SECTIONS)) {
  if (only && !only.includes(key)) sections.push(previous[key] ?? [`## ${key}`, '', 'Not measured yet.', '']);
  else sections.push(await SECTIONS[key]());
}
const header = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench\` (bench/run.js); do not edit by hand. Machine: ${cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
  '',
];
writeFileSync(FILE, [...header, ...sections.flat()].join('\n'));
console.log('wrote BENCHMARKS.md');
