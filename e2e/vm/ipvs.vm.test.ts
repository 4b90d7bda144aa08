import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runInVm } from '@hybrid-proxy/lab';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Report {
  numPassedTests: number;
  numFailedTests: number;
  testResults: { name: string; status: string; message: string; assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

/**
 * One VM boot runs the IPVS suite (vm-guest), external traffic in IPVS mode and, so that both modes are proven on a
 * kernel as a distribution ships it, the iptables traffic suite, on Debian's 6.1 kernel.
 */
const GUEST_COMMAND = ['npx', 'vitest', 'run', '--project', 'vm-guest', '--project', 'kernel', 'e2e/vm/guest', 'e2e/lab/test/iptables-traffic.kernel.test.ts', 'e2e/lab/test/dual-stack.kernel.test.ts', 'e2e/lab/test/external-traffic.kernel.test.ts', '--reporter=default', '--reporter=json', '--outputFile.json=/hp-results/report.json'];
const GUEST_ENV = { HP_IPTABLES_VARIANTS: 'nft', HP_IPTABLES_DISPATCH: 'tree', HP_DUAL_STACK_MODES: 'iptables,ipvs', HP_EXTERNAL_CASES: 'ipvs' };

/**
 * Boots the guest and reads its report. Once in a while under TCG the guest's node dies of a signal (SIGTRAP) in
 * its first minute, before any test has run; that boot is retried once, said in the log. A guest that reports,
 * or fails any other way, is taken as it is.
 */
async function bootAndReport() {
  for (let attempt = 1; ; attempt++) {
    const vm = await runInVm(GUEST_COMMAND, { cwd: ROOT, timeoutMs: 1_000_000, env: GUEST_ENV });
    const text = await readFile(join(vm.resultsDir, 'report.json'), 'utf8').catch(() => '');
    if (text || attempt === 2 || vm.exitCode <= 128) return { vm, text };
    console.warn(`the guest's node died of signal ${vm.exitCode - 128} before reporting (${vm.stderr.trim().slice(-200)}); booting once more`);
    await vm.cleanup();
  }
}

it('IPVS mode and the iptables traffic suite pass on Debian\'s own kernel (qemu, TCG)', async () => {
  const { vm, text } = await bootAndReport();
  try {
    expect(text, `the guest wrote no report (exit ${vm.exitCode}).\nstderr:\n${vm.stderr.slice(-3000)}\nconsole:\n${vm.console.slice(-3000)}`).not.toBe('');
    const report = JSON.parse(text) as Report;
    // A failed hook skips its tests: skipped counts as failed here, and so does a file that failed as a whole.
    const failures = [
      ...report.testResults.filter((file) => file.status !== 'passed').map((file) => `${file.name}: ${file.message.slice(0, 1500)}`),
      ...report.testResults.flatMap((file) => file.assertionResults.filter((a) => a.status !== 'passed').map((a) => `${a.fullName}: ${a.status} ${a.failureMessages.join('\n').slice(0, 800)}`)),
    ];
    expect(failures).toEqual([]);
    const names = report.testResults.flatMap((file) => file.assertionResults.map((a) => a.fullName));
    expect(names.filter((n) => n.includes('ipvs')).length).toBeGreaterThanOrEqual(6);
    expect(names.some((n) => n.includes('iptables mode with iptables-nft'))).toBe(true);
    expect(names.filter((n) => n.includes('dual-stack in ipvs mode')).length).toBe(2);
    // vitest quotes a string in a $name title: external traffic, 'ipvs' > ...
    expect(names.filter((n) => /^external traffic, '?ipvs'? /.test(n)).length).toBeGreaterThanOrEqual(10);
    expect(vm.exitCode, `the guest's vitest exited ${vm.exitCode}:\n${vm.stdout.slice(-4000)}\n${vm.stderr.slice(-2000)}`).toBe(0);
  } finally {
    await vm.cleanup();
  }
});
