import { describe, expect, it } from 'vitest';
import { FakeRunner, type CommandRunner, type RecordedCommand } from '@hybrid-proxy/exec';
import { defaultPlannerOptions, IptablesExecutor, planIptables, RestoreError, type PlannerOptions } from '@hybrid-proxy/iptables';
import { buildSnapshot } from '@hybrid-proxy/model';
import { eps, svc } from './scenarios.js';

const options = { ...defaultPlannerOptions, family: 4 as const, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] } };
const perEndpoint = { ...options, endpointChains: 'per-endpoint' as const };
const p80 = [{ name: 'p80', port: 80 }];
const plan = (svc1Endpoints: string[], extra: Record<string, unknown>[] = [], planner: PlannerOptions = perEndpoint) =>
  planIptables(buildSnapshot([svc('svc1', '198.19.0.41', p80), svc('svc2', '198.19.0.42', p80), ...extra], [eps('svc1', svc1Endpoints), eps('svc2', ['198.18.1.9'])]), planner);

const restores = (runner: FakeRunner): RecordedCommand[] => runner.calls.filter((c) => c.file.endsWith('-restore'));
const declared = (input: string) => input.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]);

function kernel(saveOutput = ''): FakeRunner {
  return new FakeRunner((call) => (call.file.endsWith('-save') ? { stdout: saveOutput } : undefined));
}

describe('IptablesExecutor against a recording runner', () => {
  it('first apply on nft is full: restores with --noflush, then inserts the missing jumps in one more restore', async () => {
    const runner = kernel();
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'nft' });
    const result = await executor.apply(plan(['198.18.1.1', '198.18.1.2']));
    expect(result.kind).toBe('full');
    expect(runner.calls.some((c) => c.args.includes('-C') || c.args.includes('-I'))).toBe(false);
    const [rules, jumps] = restores(runner);
    expect(rules!.file).toBe('iptables-nft-restore');
    expect(rules!.args).toEqual(['-w', '5', '--noflush']);
    expect(rules!.input).toMatch(/^-A KUBE-DISPATCH-\w\w -d 198\.19\.0\.41\/32/m);
    // The jumps come last, so that no commit of the rules is reachable from a hook while it loads.
    expect(jumps!.args).toEqual(['-w', '5', '--noflush']);
    expect(jumps!.input).toBe(
      [
        '*filter',
        '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-I INPUT 1 -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
        '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
        '-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-I FORWARD 1 -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-I INPUT 1 -j KUBE-LOCALNET-FIREWALL',
        '-I OUTPUT 1 -j KUBE-LOCALNET-FIREWALL',
        'COMMIT',
        '*nat',
        '-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-I POSTROUTING 1 -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it("a full sync deletes the jumps of the other layout that the kernel holds, and only those", async () => {
    // The linear layout (or an older version) left FORWARD jumps for new connections; the tree leads there from KUBE-FORWARD.
    const left = [
      '*filter',
      ':FORWARD ACCEPT [0:0]',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      '-A FORWARD -j SOMEONE-ELSES',
      'COMMIT',
      '',
    ].join('\n');
    const runner = kernel(left);
    await new IptablesExecutor({ runner, family: 4, variant: 'nft' }).apply(plan(['198.18.1.1']));
    const deleted = runner.calls.filter((c) => c.args.includes('-D'));
    expect(deleted.map((c) => c.args.join(' '))).toEqual(['-w 5 -t filter -D FORWARD -m conntrack --ctstate NEW -m comment --comment kubernetes service portals -j KUBE-SERVICES']);
  });

  it('first apply on legacy ensures the jumps first, with -C before -I', async () => {
    const runner = new FakeRunner((call) => {
      if (call.file.endsWith('-save')) return { stdout: '' };
      if (call.args.includes('-C')) return { exitCode: 1, stderr: 'does a matching rule exist in that chain?' };
      return undefined;
    });
    await new IptablesExecutor({ runner, family: 4, variant: 'legacy' }).apply(plan(['198.18.1.1']));
    const inserts = runner.calls.filter((c) => c.args.includes('-I'));
    expect(inserts.map((c) => c.args.slice(c.args.indexOf('-t'), c.args.indexOf('-t') + 4))).toContainEqual(['-t', 'nat', '-I', 'PREROUTING']);
    const firstRestore = runner.calls.findIndex((c) => c.file.endsWith('-restore'));
    expect(runner.calls.findIndex((c) => c.args.includes('-I'))).toBeLessThan(firstRestore);
    expect(restores(runner)).toHaveLength(1);
  });

  it('keeps the sets beside the rules: created before the restore, members changed in one call', async () => {
    const runner = kernel();
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'nft' });
    await executor.apply(plan(['198.18.1.1'], [], options));
    const first = runner.calls.filter((c) => c.file === 'ipset' || c.file.endsWith('-restore')).map((c) => `${c.file} ${c.args[0]}`);
    // ipset save reads the kernel's members on a full sync; the sets exist before the rules that name them.
    expect(first.slice(0, 3)).toEqual(['ipset save', 'ipset save', 'ipset restore']);
    // The member changes run alongside the rules; then the jumps are inserted.
    expect(first.slice(3, 5).sort()).toEqual(['ipset restore', 'iptables-nft-restore -w']);
    expect(first.slice(5)).toEqual(['iptables-nft-restore -w']);
    expect(runner.calls.filter((c) => c.file === 'ipset' && c.args[0] === 'restore').map((c) => c.input)).toEqual([
      'create KUBE-SVC-HAIRPIN hash:ip,port,ip family inet hashsize 4096 maxelem 4194304 comment\ncreate KUBE-SVC-GATE hash:ip,port family inet hashsize 4096 maxelem 1048576 comment\n',
      'add KUBE-SVC-HAIRPIN 198.18.1.1,tcp:8080,198.18.1.1\nadd KUBE-SVC-HAIRPIN 198.18.1.9,tcp:8080,198.18.1.9\nadd KUBE-SVC-GATE 198.19.0.41,tcp:80\nadd KUBE-SVC-GATE 198.19.0.42,tcp:80\n',
    ]);
    runner.calls.length = 0;
    // svc1 loses its endpoints and svc3 arrives: both membership changes in one call.
    const services = [svc('svc1', '198.19.0.41', p80), svc('svc2', '198.19.0.42', p80), svc('svc3', '198.19.0.43', p80)];
    await executor.apply(planIptables(buildSnapshot(services, [eps('svc2', ['198.18.1.9']), eps('svc3', ['198.18.1.8'])]), options));
    const second = runner.calls.filter((c) => c.file === 'ipset' || c.file.endsWith('-restore'));
    expect(second.map((c) => `${c.file} ${c.args[0]}`).sort()).toEqual(['ipset restore', 'iptables-nft-restore -w']);
    expect(second.find((c) => c.file === 'ipset')!.input).toBe('add KUBE-SVC-HAIRPIN 198.18.1.8,tcp:8080,198.18.1.8\nadd KUBE-SVC-GATE 198.19.0.43,tcp:80\ndel KUBE-SVC-HAIRPIN 198.18.1.1,tcp:8080,198.18.1.1\ndel KUBE-SVC-GATE 198.19.0.41,tcp:80\n');
    // nat KUBE-SERVICES (the gate) stays as it is; filter gains svc1's REJECT.
    const restore = second.find((c) => c.file.endsWith('-restore'))!.input!;
    const nat = restore.slice(restore.indexOf('*nat'));
    expect(nat).not.toContain(':KUBE-SERVICES');
    expect(nat).toMatch(/^-A KUBE-DISPATCH-\w\w -d 198\.19\.0\.43\/32/m);
  });

  it('reports as its input what the restore tools read, rendered again: a full sync, then both restores of a serve-first one', async () => {
    const runner = kernel();
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'nft', serveFirst: true });
    const full = await executor.apply(plan(['198.18.1.1', '198.18.1.2'], [], options));
    // The rules, then the jumps into them (not part of the rules' input).
    expect(restores(runner)).toHaveLength(2);
    expect(full.input).toBe(restores(runner)[0]!.input);
    runner.calls.length = 0;
    const partial = await executor.apply(plan(['198.18.1.1', '198.18.1.3'], [], options));
    expect(restores(runner)).toHaveLength(2);
    expect(partial.input).toBe(restores(runner).map((c) => c.input).join(''));
    expect(partial.input).toContain('198.18.1.3:8080');
  });

  /**
   * A runner whose rule restore ends when the test says so, and which logs each piece of ipset input as the tool
   * would read it: shows what the member changes write while the rules are still loading.
   */
  function gatedKernel(gateSave: string) {
    const log: string[] = [];
    let finish!: (ok: boolean) => void;
    let restoresSeen = 0;
    const runner: CommandRunner = {
      where: 'gated',
      async run(file, args, runOptions = {}) {
        if (file.endsWith('-save')) return { stdout: '', stderr: '', exitCode: 0 };
        if (file === 'ipset' && args[0] === 'save') return { stdout: args[1] === 'KUBE-SVC-GATE' ? gateSave : '', stderr: '', exitCode: 0 };
        // The rules' restore waits for the test; the jumps' restore after it does not.
        if (file.endsWith('-restore') && restoresSeen++ > 0) return { stdout: '', stderr: '', exitCode: 0 };
        if (file.endsWith('-restore')) {
          log.push('rules: loading');
          const ok = await new Promise<boolean>((resolve) => (finish = resolve));
          log.push(ok ? 'rules: in' : 'rules: failed');
          return { stdout: '', stderr: ok ? '' : 'iptables-restore: line 2 failed', exitCode: ok ? 0 : 1 };
        }
        if (file !== 'ipset') return { stdout: '', stderr: '', exitCode: 0 };
        const input = runOptions.input ?? '';
        for await (const piece of typeof input === 'string' ? [input] : input) log.push(...piece.trim().split('\n').map((line) => `ipset: ${line.split(' ')[0]} ${line.split(' ')[2]}`));
        return { stdout: '', stderr: '', exitCode: 0 };
      },
    };
    /** Lets the rule restore end, once everything that would run alongside it has. */
    const release = async (ok: boolean) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      finish(ok);
    };
    return { runner, log, release };
  }

  it('adds members while the rules load, and removes stale ones only once the rules are in', async () => {
    const { runner, log, release } = gatedKernel('create KUBE-SVC-GATE hash:ip,port family inet\nadd KUBE-SVC-GATE 198.19.0.99,tcp:80\n');
    const applied = new IptablesExecutor({ runner, family: 4, variant: 'nft' }).apply(plan(['198.18.1.1'], [], options));
    await release(true);
    await applied;
    expect(log).toEqual([
      'ipset: create hash:ip,port,ip',
      'rules: loading',
      'ipset: add 198.18.1.1,tcp:8080,198.18.1.1',
      'ipset: add 198.18.1.9,tcp:8080,198.18.1.9',
      'ipset: add 198.19.0.41,tcp:80',
      'ipset: add 198.19.0.42,tcp:80',
      'rules: in',
      'ipset: del 198.19.0.99,tcp:80',
    ]);
  });

  it('never removes a member when the rules fail to load', async () => {
    const { runner, log, release } = gatedKernel('create KUBE-SVC-GATE hash:ip,port family inet\nadd KUBE-SVC-GATE 198.19.0.99,tcp:80\n');
    const applied = new IptablesExecutor({ runner, family: 4, variant: 'nft' }).apply(plan(['198.18.1.1'], [], options));
    await release(false);
    await expect(applied).rejects.toThrow(RestoreError);
    expect(log.filter((line) => line.startsWith('ipset: del'))).toEqual([]);
    expect(log).toContain('rules: failed');
  });

  it('with inline endpoints, an endpoint change rewrites one service chain and nothing else', async () => {
    const runner = kernel();
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'nft' });
    await executor.apply(plan(['198.18.1.1', '198.18.1.2'], [], options));
    runner.calls.length = 0;
    await executor.apply(plan(['198.18.1.1', '198.18.1.3'], [], options));
    const input = restores(runner)[0]!.input!;
    expect(declared(input)).toEqual([expect.stringMatching(/^KUBE-SVC-/)]);
    expect(input).toContain('-j DNAT --to-destination 198.18.1.3:8080');
  });

  it('on nft, inserts only the jumps the save at the start of a full sync does not show', async () => {
    const saved = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      'COMMIT',
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      '-A INPUT -j KUBE-LOCALNET-FIREWALL',
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      '-A OUTPUT -j KUBE-LOCALNET-FIREWALL',
      '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
      'COMMIT',
    ].join('\n');
    const runner = kernel(saved);
    await new IptablesExecutor({ runner, family: 4, variant: 'nft' }).apply(plan(['198.18.1.1']));
    // Only filter OUTPUT's jump is missing.
    expect(restores(runner).at(-1)!.input).toBe('*filter\n-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\nCOMMIT\n');
    const all = saved.replace(/(-A FORWARD -m comment --comment "kubernetes forwarding)/, '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n$1');
    const again = kernel(all);
    await new IptablesExecutor({ runner: again, family: 4, variant: 'nft' }).apply(plan(['198.18.1.1']));
    expect(restores(again)).toHaveLength(1);
    expect(again.calls.some((c) => c.args.includes('-I'))).toBe(false);
  });

  it('a partial sync rewrites only the changed service chain and its endpoints, and removes the stale one', async () => {
    const runner = kernel();
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'nft' });
    await executor.apply(plan(['198.18.1.1', '198.18.1.2']));
    runner.calls.length = 0;
    const result = await executor.apply(plan(['198.18.1.1', '198.18.1.3']));
    expect(result.kind).toBe('partial');
    const input = restores(runner)[0]!.input!;
    const chains = declared(input);
    // svc1's chain, the new endpoint chain, and the removed one; neither KUBE-SERVICES nor svc2 is touched.
    expect(chains).toHaveLength(3);
    expect(chains.filter((c) => c!.startsWith('KUBE-SVC-'))).toHaveLength(1);
    expect(input).not.toContain(':KUBE-SERVICES');
    expect(input).not.toContain('198.18.1.9');
    expect(input.match(/^-X KUBE-SEP-/gm)).toHaveLength(1);
    expect(runner.calls.some((c) => c.args.includes('-C'))).toBe(false);
  });

  it.each([false, true])('an unchanged snapshot runs no command at all (serveFirst: %s)', async (serveFirst) => {
    const runner = kernel();
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'nft', serveFirst });
    await executor.apply(plan(['198.18.1.1']));
    runner.calls.length = 0;
    expect((await executor.apply(plan(['198.18.1.1']))).kind).toBe('unchanged');
    expect(runner.calls).toEqual([]);
  });

  it('a full sync removes per-service chains it finds in the kernel but no longer wants, and nothing else', async () => {
    const saved = ['*nat', ':KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]', ':KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]', ':DOCKER - [0:0]', ':KUBE-KUBELET-CANARY - [0:0]', 'COMMIT', ''].join('\n');
    const runner = kernel(saved);
    await new IptablesExecutor({ runner, family: 4, variant: 'nft' }).apply(plan(['198.18.1.1']));
    const input = restores(runner)[0]!.input!;
    expect(input).toContain('-X KUBE-SVC-OLDOLDOLDOLDOLDO');
    expect(input).toContain('-X KUBE-SEP-OLDOLDOLDOLDOLDO');
    expect(input).not.toContain('DOCKER');
    expect(input).not.toContain('CANARY');
  });

  it('a rejected restore names the line, and the next apply is full', async () => {
    let fail = false;
    const runner = new FakeRunner((call) => {
      if (call.file.endsWith('-save')) return { stdout: '' };
      if (fail && call.file.endsWith('-restore')) return { exitCode: 1, stderr: 'iptables-restore: line 3 failed\n' };
      return undefined;
    });
    const executor = new IptablesExecutor({ runner, family: 4, variant: 'legacy' });
    await executor.apply(plan(['198.18.1.1']));
    fail = true;
    const error = await executor.apply(plan(['198.18.1.2'])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreError);
    expect((error as RestoreError).line).toBe(3);
    expect((error as RestoreError).lineText).toBe(restores(runner).at(-1)!.input!.split('\n')[2]);
    fail = false;
    expect((await executor.apply(plan(['198.18.1.2']))).kind).toBe('full');
  });

  it.each([
    ["iptables-nft-restore v1.8.9 (nf_tables): Couldn't load match `x':No such file or directory\n\nError occurred at line: 2\n", 2],
    ['iptables-restore: line 3 failed\n', 3],
    ['iptables-restore: unable to initialize table \'nat\'\n', undefined],
  ])('reads the failing line from %j', (stderr, line) => {
    const error = RestoreError.fromOutput(stderr, '*nat\n-A X -j Y\n-A Z\nCOMMIT\n');
    expect(error.line).toBe(line);
    expect(error.lineText).toBe(line ? ['*nat', '-A X -j Y', '-A Z'][line - 1] : undefined);
  });

  it('keeps the lines before a named COMMIT as context, since the tool names the COMMIT that checked the batch', () => {
    const input = '*nat\n:A - [0:0]\n-A A -j B\n-A A -m bad -j C\nCOMMIT\n';
    const error = RestoreError.fromOutput('Error occurred at line: 5\n', input);
    expect(error.lineText).toBe('COMMIT');
    expect(error.context).toEqual([':A - [0:0]', '-A A -j B', '-A A -m bad -j C', 'COMMIT']);
  });

  it('cleanup deletes jumps, then flushes and deletes only hybrid-proxy chains', async () => {
    const saved = ['*nat', ':PREROUTING ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]', ':CUSTOM - [0:0]', 'COMMIT', '*filter', ':KUBE-FORWARD - [0:0]', ':KUBE-FIREWALL - [0:0]', 'COMMIT', ''].join('\n');
    let deletes = 0;
    const runner = new FakeRunner((call) => {
      if (call.file.endsWith('-save')) return { stdout: saved };
      if (call.args.includes('-D')) return deletes++ < 3 ? undefined : { exitCode: 1 };
      return undefined;
    });
    await new IptablesExecutor({ runner, family: 4, variant: 'nft' }).cleanup();
    const input = restores(runner)[0]!.input!;
    expect(input.match(/^-X .*/gm)).toEqual(['-X KUBE-FORWARD', '-X KUBE-SERVICES', '-X KUBE-MARK-MASQ', '-X KUBE-SVC-AAAAAAAAAAAAAAAA']);
    expect(input).not.toContain('CUSTOM');
    expect(input).not.toContain('KUBE-FIREWALL');
  });
});
