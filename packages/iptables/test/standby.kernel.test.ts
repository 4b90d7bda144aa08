import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, runChecked, type CommandResult, type CommandRunner, type RunOptions } from '@hybrid-proxy/exec';
import { createPlanMemo, defaultPlannerOptions, hairpinSetName, IptablesExecutor, planDrift, planIptables, shadowChainName } from '@hybrid-proxy/iptables';
import { addNamespace, deleteNamespace, namespacePrefix } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { RuleTracer } from './packet-tracer.js';
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

/** Holds every restore started while `hold` is set, until `release()`: a sync's second commit waits there. */
class HoldingRunner implements CommandRunner {
  readonly where: string;
  hold = false;
  private released: () => void = () => {};
  private gate = Promise.resolve();
  private onHeld: () => void = () => {};
  /** Resolves once a restore is being held. */
  held = new Promise<void>((resolve) => (this.onHeld = resolve));
  constructor(private readonly inner: CommandRunner) {
    this.where = inner.where;
  }
  holdNext(): void {
    this.hold = true;
    this.gate = new Promise((resolve) => (this.released = resolve));
  }
  release(): void {
    this.hold = false;
    this.released();
  }
  async run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    if (this.hold && file.endsWith('-restore')) {
      this.onHeld();
      await this.gate;
    }
    return this.inner.run(file, args, options);
  }
}

describe('a serve-first partial sync on nf_tables', () => {
  let ns: string;
  let run: CommandRunner;
  beforeAll(async () => {
    ns = `${namespacePrefix()}-serve-first`;
    run = await addNamespace(ns);
  });
  afterAll(async () => deleteNamespace(ns));

  it('serves the moved endpoint after its first commit, and leaves the kernel exactly as planned after its second', async () => {
    const runner = new HoldingRunner(run);
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'nft', standby: true, serveFirst: true });
    const options = { ...defaultPlannerOptions, family: 4 as const };
    const memo = createPlanMemo();
    await executor.apply(planIptables(snapshot('198.18.3.8'), options, memo));
    await settle();

    const moved = planIptables(snapshot('198.18.3.99'), options, memo);
    runner.holdNext();
    const applying = executor.apply(moved);
    await runner.held;
    // Between the two commits: the service chain is shadowed, and the kernel already sends the VIP to the new endpoint.
    const saved = (await runChecked(run, 'iptables-nft-save', [])).stdout;
    const chain = [...moved.tables.nat.keys()].find((name) => moved.tables.nat.get(name)!.some((rule) => rule.endsWith('198.18.3.99:8080')))!;
    expect(saved).toContain(`-A ${chain} -g ${shadowChainName(chain)}\n`);
    const members = (await runChecked(run, 'ipset', ['save'])).stdout.split('\n').filter((line) => line.startsWith('add ')).map((line) => `# ipset ${line}`);
    const tracer = new RuleTracer([...members, saved].join('\n'));
    const trace = tracer.trace({ source: '198.18.0.2', destination: '198.19.0.8', protocol: 'tcp', port: 80 });
    expect([...trace.dnat.keys()].sort()).toEqual(['198.18.1.8:8080', '198.18.3.99:8080']);

    runner.release();
    const result = await applying;
    expect(result.kind).toBe('partial');
    expect(result.input).toContain(`-I ${chain} 1 -g ${shadowChainName(chain)}`);
    const tidied = (await runChecked(run, 'iptables-nft-save', [])).stdout;
    expect(planDrift(moved, tidied)).toEqual([]);
    expect(tidied).not.toContain('~');
    await executor.close();
  });
});
