import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, runChecked, type CommandResult, type CommandRunner, type RunOptions } from '@hybrid-proxy/exec';
import { defaultPlannerOptions, hairpinSetName, IptablesExecutor, planDrift, planIptables } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, namespacePrefix } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { eps, svc } from './scenarios.js';

/** Counts the commands started through it and those still running. */
class CountingRunner implements CommandRunner {
  readonly where: string;
  started: string[] = [];
  running = 0;
  constructor(private readonly inner: CommandRunner) {
    this.where = inner.where;
  }
  async run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    this.started.push(file);
    this.running++;
    try {
      return await this.inner.run(file, args, options);
    } finally {
      this.running--;
    }
  }
}

const snapshot = (backend: string) =>
  buildSnapshot(
    Array.from({ length: 20 }, (_, i) => svc(`s${i}`, `198.19.0.${i + 1}`, [{ name: 'p80', port: 80 }])),
    Array.from({ length: 20 }, (_, i) => eps(`s${i}`, [`198.18.1.${i + 1}`, i === 7 ? backend : `198.18.2.${i + 1}`])),
  );
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe.each(['nft', 'legacy'] as const)('restore commands started ahead of the sync (iptables-%s)', (variant) => {
  let ns: string;
  let run: CommandRunner;
  beforeAll(async () => {
    ns = `${namespacePrefix()}-standby-${variant}`;
    run = await addNamespace(ns);
  });
  afterAll(async () => deleteNamespace(ns));

  it('feeds a partial sync to the waiting iptables-restore and ipset, which leave the kernel exactly as planned', async () => {
    const runner = new CountingRunner(run);
    const executor = new IptablesExecutor({ runner, family: 4, variant, standby: true });
    const options = { ...defaultPlannerOptions, family: 4 as const };
    await executor.apply(planIptables(snapshot('198.18.3.8'), options));
    await settle();
    // Both wait for the next sync: the rule restore and the set restore.
    expect(runner.running).toBe(2);
    const before = runner.started.length;

    const moved = planIptables(snapshot('198.18.3.99'), options);
    expect((await executor.apply(moved)).kind).toBe('partial');
    // Nothing was started for the sync itself: it went to the two waiting commands.
    expect(runner.started.slice(before)).toEqual([]);
    expect(planDrift(moved, (await runChecked(run, `iptables-${variant}-save`, [])).stdout)).toEqual([]);
    const members = (await runChecked(run, 'ipset', ['save', hairpinSetName(4)])).stdout;
    expect(members).toContain('198.18.3.99,tcp:8080,198.18.3.99');
    expect(members).not.toContain('198.18.3.8,');

    await settle();
    expect(runner.started.slice(before).sort()).toEqual(['ipset', `iptables-${variant}-restore`]);
    await executor.close();
    expect(runner.running).toBe(0);
    // Released empty, the waiting tools exit and leave nothing running in the namespace.
    expect((await runChecked(createRunner(), 'ip', ['netns', 'pids', ns])).stdout.trim()).toBe('');
  });
});
