import { fileURLToPath } from 'node:url';
import { parseChoice, parseFlags, UsageError } from '@hybrid-proxy/core';
import { runInVm } from './vm-runner.js';
import { addCounters, addResults, emptyReport, renderTable, type LabReport } from './lab-report.js';
import { LabNode } from './lab-node.js';

const DEFAULT_MANIFESTS = fileURLToPath(new URL('../../../examples/lab', import.meta.url));

const LAB_FLAGS = {
  'duration': { type: 'string' },
  'json': { type: 'boolean' },
  'manifests': { type: 'string' },
  'mode': { type: 'string' },
  'rate': { type: 'string' },
  'api': { type: 'boolean' },
  'counters': { type: 'string' },
  'vm': { type: 'boolean' },
} as const;

/**
 * `hybrid-proxy lab`: builds the sandboxed node, drives traffic to every Service VIP, shows where it goes,
 * and tears everything down on Ctrl-C, SIGTERM or when --duration ends.
 */
export async function runLabCli(args: readonly string[]): Promise<number> {
  const flags = parseFlags(args, LAB_FLAGS);
  const durationS = flags.duration === undefined ? Number.POSITIVE_INFINITY : Number(flags.duration);
  if (!(durationS > 0)) throw new UsageError(`--duration ${JSON.stringify(flags.duration)} is not a positive number of seconds`);
  const rate = Number(flags.rate ?? '40');
  if (!(rate > 0 && rate <= 2000)) throw new UsageError(`--rate ${JSON.stringify(flags.rate)} is not a request rate in 1-2000 per second per Service`);
  const mode = parseChoice(flags.mode ?? 'iptables', '--mode', ['iptables', 'ipvs'] as const);
  if (process.getuid?.() !== 0) throw new UsageError('the lab creates network namespaces and needs root: run it with sudo');
  if (flags.vm) return runLabInVm(args);

  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  // Persistent listeners (see run-proxy.ts): a once() listener is gone when execa's signal-exit looks for others.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const say = (text: string) => flags.json || process.stderr.write(text + '\n');
  say(`building the lab node (network namespaces, Pods, hybrid-proxy${flags.api ? ' following the API server double' : ''})...`);
  const counters = parseChoice(flags.counters ?? 'auto', '--counters', ['auto', 'native', 'generic', 'tc', 'off'] as const);
  let node: LabNode;
  try {
    node = await LabNode.start({ manifests: flags.manifests ?? DEFAULT_MANIFESTS, api: flags.api ?? false, counters, mode });
  } catch (err) {
    if (mode === 'ipvs' && /no IPVS|dummy/.test((err as Error).message)) {
      throw new UsageError("this kernel has no IPVS (or no dummy interfaces): add --vm to run the lab in a VM with Debian's kernel");
    }
    throw err;
  }
  const readCounters = async (into: LabReport) => {
    if (counters === 'off') return;
    try {
      addCounters(into, await node.counterView());
    } catch {
      // The counters are optional: the proxy may have logged why they are off; the table shows '-'.
    }
  };
  let report: LabReport | undefined;
  try {
    const targets = await node.targets();
    report = emptyReport(mode, targets);
    say(`proxy synced; sending traffic to ${targets.length} service ports${Number.isFinite(durationS) ? ` for ${durationS} s` : ' (Ctrl-C to stop)'}`);
    const started = Date.now();
    const live = process.stdout.isTTY && !flags.json;
    let lastPrint = 0;
    const tickMs = 250;
    while (!stopping && Date.now() - started < durationS * 1000) {
      const tick = Date.now();
      const results = await node.traffic.burst(targets, { count: Math.max(1, Math.round((rate * tickMs) / 1000)), concurrency: 2, timeoutMs: 500 });
      addResults(report, results);
      report.durationSeconds = (Date.now() - started) / 1000;
      if (!flags.json && Date.now() - lastPrint >= (live ? 1000 : 5000)) {
        await readCounters(report);
        process.stdout.write((live ? '\x1b[H\x1b[2J' : '') + renderTable(report));
        lastPrint = Date.now();
      }
      await new Promise((r) => setTimeout(r, Math.max(0, tickMs - (Date.now() - tick))));
    }
    // The datapath's final word, after the last replies have arrived and been sampled.
    await new Promise((r) => setTimeout(r, 1200));
    await readCounters(report);
  } finally {
    say('tearing down the lab...');
    await node.destroy();
  }
  process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : renderTable(report));
  return 0;
}

/**
 * `--vm`: the same lab, run inside the VM lane (Debian's kernel under qemu), for kernels without IPVS. The guest's
 * output streams here as it is written; without --duration the lab runs for a minute.
 */
async function runLabInVm(args: readonly string[]): Promise<number> {
  const rest = args.filter((a) => a !== '--vm');
  const withDuration = rest.includes('--duration') ? rest : [...rest, '--duration', '60'];
  process.stderr.write("booting Debian's kernel under qemu (software emulation: about a minute before the lab starts)...\n");
  const vm = await runInVm([process.execPath, fileURLToPath(import.meta.resolve('@hybrid-proxy/core/cli')), 'lab', ...withDuration], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    onOutput: (chunk) => process.stdout.write(chunk),
  });
  try {
    if (vm.exitCode !== 0) process.stderr.write(vm.stderr.slice(-4000) || vm.console.slice(-4000));
    return vm.exitCode === 0 ? 0 : 1;
  } finally {
    await vm.cleanup();
  }
}
