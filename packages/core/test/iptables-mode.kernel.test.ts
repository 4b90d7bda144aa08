import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, runChecked, type CommandRunner, type RunOptions } from '@hybrid-proxy/exec';
import { createProxyMetrics, IptablesMode, silentLogger } from '@hybrid-proxy/core';
import { parseSave, RestoreError } from '@hybrid-proxy/iptables';
import { LabTopology, TrafficDriver, type TrafficTarget } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';

const WEB: TrafficTarget = { key: 'k/web:http', protocol: 'TCP', ip: '198.19.2.10', port: 80 };

const snapshot = (endpoints: string[]) =>
  buildSnapshot(
    [{ kind: 'Service', metadata: { name: 'web', namespace: 'k' }, spec: { clusterIP: WEB.ip, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }],
    [{ kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'k', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: endpoints.map((a) => ({ addresses: [a] })) }],
  );

/** Passes every command through, but can append a line that the real iptables-restore rejects to its input. */
function breakableRunner(inner: CommandRunner): CommandRunner & { broken: boolean } {
  const runner = {
    broken: false,
    where: inner.where,
    run(file: string, args: readonly string[], options?: RunOptions) {
      const source = options?.input;
      if (!file.endsWith('-restore') || source === undefined) return inner.run(file, args, options);
      // Read when the tool reads it: a restore started ahead of the sync (standby) gets its input later.
      async function* input(): AsyncGenerator<string> {
        let text = '';
        if (typeof source === 'string') text = source;
        else for await (const piece of source) text += piece;
        yield runner.broken ? text.replace(/COMMIT\n$/, '-A KUBE-SERVICES -m no-such-match -j ACCEPT\nCOMMIT\n') : text;
      }
      return inner.run(file, args, { ...options, input: input() });
    },
  };
  return runner;
}

describe.each(['nft', 'legacy'] as const)('IptablesMode on iptables-%s in a node namespace', (variant) => {
  let topology: LabTopology;
  let traffic: TrafficDriver;
  let runner: ReturnType<typeof breakableRunner>;
  const metrics = createProxyMetrics();
  let mode: IptablesMode;
  const save = async () => parseSave((await runChecked(topology.node.run, `iptables-${variant}-save`, [])).stdout);

  beforeAll(async () => {
    topology = await LabTopology.create();
    for (const [name, ip] of [['web-a', '198.18.1.11'], ['web-b', '198.18.1.12'], ['web-c', '198.18.1.13']] as const) {
      await topology.addPod({ name, ip, tcpPorts: [8080], udpPorts: [] });
    }
    traffic = await TrafficDriver.start(topology.client.namespace);
    runner = breakableRunner(createRunner({ netns: topology.node.namespace }));
    mode = new IptablesMode({
      runner,
      families: [4],
      variant,
      logger: silentLogger,
      metrics,
      planner: { localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] }, masqueradeAll: false, masqueradeBit: 14, serviceCIDRs: ['198.19.0.0/16'], comments: true, nodeName: 'lab-node', zone: '' },
    });
    await mode.preflight();
  });

  afterAll(async () => {
    await traffic?.stop();
    await topology?.destroy();
  });

  const spread = async () => {
    const [result] = await traffic.burst([WEB], { count: 200, concurrency: 8 });
    expect(result!.failed).toBe(0);
    return Object.keys(result!.backends).sort();
  };

  it('a rejected restore keeps the old rules serving, counts the failure, and the retry is a full sync', async () => {
    expect((await mode.sync(snapshot(['198.18.1.11', '198.18.1.12']), { full: false })).kind).toBe('full');
    expect(await spread()).toEqual(['web-a', 'web-b']);

    runner.broken = true;
    const error = await mode.sync(snapshot(['198.18.1.13']), { full: false }).catch((e: unknown) => e).finally(() => (runner.broken = false));
    expect(error).toBeInstanceOf(RestoreError);
    // The tool's own words name what it refused and where (the unit tests map that line back to the input).
    expect((error as RestoreError).stderr).toMatch(/no-such-match/);
    expect((error as RestoreError).line).toBeGreaterThan(0);
    expect((await metrics.restoreFailures.get()).values[0]!.value).toBe(1);
    // Atomic: nothing of the rejected input reached the kernel; the old endpoints still serve.
    expect(await spread()).toEqual(['web-a', 'web-b']);

    expect((await mode.sync(snapshot(['198.18.1.13']), { full: false })).kind).toBe('full');
    expect(await spread()).toEqual(['web-c']);
  });

  it('a partial sync leaves the kernel exactly as planned (read back with iptables-save)', async () => {
    const outcome = await mode.sync(snapshot(['198.18.1.11', '198.18.1.13']), { full: false });
    expect(outcome.kind).toBe('partial');
    const nat = (await save()).get('nat')!;
    const kubeChains = [...nat.chains.keys()].filter((c) => c.startsWith('KUBE-')).sort();
    const planned = parseSave(mode.describe(snapshot(['198.18.1.11', '198.18.1.13']))).get('nat')!;
    expect(kubeChains).toEqual([...planned.chains.keys()].sort());
    for (const chain of kubeChains) expect(nat.chains.get(chain)!.length, chain).toBe(planned.chains.get(chain)!.length);
    expect(await spread()).toEqual(['web-a', 'web-c']);
  });

  it('cleanup removes every KUBE- chain and jump, and leaves other rules alone', async () => {
    const ipt = (args: string[]) => runChecked(topology.node.run, `iptables-${variant}`, ['-w', '5', ...args]);
    await ipt(['-t', 'nat', '-N', 'CUSTOM']);
    await ipt(['-t', 'nat', '-A', 'PREROUTING', '-j', 'CUSTOM']);
    await ipt(['-t', 'filter', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
    await mode.cleanup();
    const text = (await runChecked(topology.node.run, `iptables-${variant}-save`, [])).stdout;
    expect(text).not.toMatch(/KUBE-/);
    expect(text).toContain('-A PREROUTING -j CUSTOM');
    expect(text).toContain('-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT');
    // And the VIP is plain traffic again: no DNAT, nothing rejected by us.
    const [result] = await traffic.burst([WEB], { count: 3, timeoutMs: 300 });
    expect(result!.ok).toBe(0);
  });
});
