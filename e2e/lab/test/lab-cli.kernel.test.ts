import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { addNamespace, LabTopology, listNamespaces, NamespacedProcess, type LabReport } from '@hybrid-proxy/lab';

const CLI = fileURLToPath(import.meta.resolve('@hybrid-proxy/core/cli'));

function runCli(args: string[]): NamespacedProcess {
  return new NamespacedProcess(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }), 'hybrid-proxy lab');
}

const ownNamespaces = async (pid: number) => (await listNamespaces()).filter((n) => n.startsWith(`hp-${pid}-`));

describe('hybrid-proxy lab', () => {
  it('--duration --json reports every Service of the example manifests, then leaves nothing behind', async () => {
    const lab = runCli(['lab', '--duration', '3', '--json']);
    expect(await lab.exited).toBe(0);
    const report = JSON.parse(lab.lines.filter((l) => !l.startsWith('{"time"')).join('\n')) as LabReport;
    const byName = new Map(report.services.filter((s) => s.via === 'ClusterIP').map((s) => [s.service, s]));
    expect([...byName.keys()].sort()).toEqual(['kube-system/dns:dns', 'kube-system/dns:dns-tcp', 'shop/api:http', 'shop/gateway:http', 'shop/idle:http', 'shop/web:http']);
    const outside = report.services.filter((s) => s.via !== 'ClusterIP').map((s) => ({ service: s.service, via: s.via, address: `${s.vip}:${s.port}`, failures: s.failures, backends: Object.keys(s.backends).sort() }));
    expect(outside).toEqual([
      // Cluster policy: every endpoint; Local policy: only the endpoint on this node, through either door.
      { service: 'shop/gateway:http', via: 'NodePort', address: '198.18.0.1:30081', failures: 0, backends: ['gateway-1'] },
      { service: 'shop/gateway:http', via: 'LoadBalancer', address: '198.18.70.1:80', failures: 0, backends: ['gateway-1'] },
      { service: 'shop/web:http', via: 'NodePort', address: '198.18.0.1:30080', failures: 0, backends: ['web-1', 'web-2', 'web-3'] },
    ]);
    expect(Object.keys(byName.get('shop/gateway:http')!.backends).sort()).toEqual(['gateway-1', 'gateway-2']);
    // The datapath counts gateway-1's replies through all three doors: its share is the client's over all of them
    // (a half of the ClusterIP's answers and all of the node port's and the LB IP's), about 5/6.
    const gateway = report.services.filter((s) => s.service === 'shop/gateway:http');
    const seenShare = gateway.reduce((n, s) => n + (s.backends['gateway-1'] ?? 0), 0) / gateway.reduce((n, s) => n + s.requests - s.failures, 0);
    const counted = byName.get('shop/gateway:http')!.countedBackends!;
    expect(seenShare).toBeGreaterThan(0.7);
    expect(Math.abs(counted['gateway-1']! / (counted['gateway-1']! + counted['gateway-2']!) - seenShare)).toBeLessThan(0.05);
    const web = byName.get('shop/web:http')!;
    expect(web).toMatchObject({ vip: '198.19.0.10', port: 80, protocol: 'TCP', failures: 0 });
    expect(web.requests).toBeGreaterThan(30);
    expect(Object.keys(web.backends).sort()).toEqual(['web-1', 'web-2', 'web-3']);
    const dns = byName.get('kube-system/dns:dns')!;
    expect(Object.keys(dns.backends).sort()).toEqual(['dns-1', 'dns-2']);
    // The datapath's counts: one datagram per UDP request to the VIP, one reply per answer from each backend.
    expect(dns.countedPackets).toBe(dns.requests);
    expect(dns.countedBytes).toBeGreaterThan(dns.requests * 42);
    expect(dns.countedBackends).toEqual(dns.backends);
    expect(web.countedPackets).toBeGreaterThanOrEqual(web.requests * 4);
    // ClientIP affinity: one client, one backend.
    expect(Object.keys(byName.get('shop/api:http')!.backends)).toHaveLength(1);
    const idle = byName.get('shop/idle:http')!;
    expect(idle.failures).toBe(idle.requests);
    expect(Object.keys(idle.errors)).toEqual(['ECONNREFUSED']);
    expect(await ownNamespaces(lab.pid)).toEqual([]);
  });

  it('tears everything down on SIGTERM', async () => {
    const lab = runCli(['lab']);
    await lab.waitForLine((line) => line.includes('sending traffic'), 60_000);
    expect(await ownNamespaces(lab.pid)).not.toEqual([]);
    expect(await lab.stop('SIGTERM')).toBe(0);
    expect(await ownNamespaces(lab.pid)).toEqual([]);
  });

  it('removes the leftovers of a crashed run before it builds', async () => {
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.once('exit', r));
    const leftover = `hp-${dead.pid}-dead00-node`;
    const run = await addNamespace(leftover);
    await runChecked(run, 'iptables-nft', ['-t', 'nat', '-N', 'KUBE-SERVICES']);
    const topology = await LabTopology.create();
    try {
      expect(await listNamespaces()).not.toContain(leftover);
    } finally {
      await topology.destroy();
    }
  });

  it('refuses bad flags with a usage error', async () => {
    for (const args of [['lab', '--duration', 'soon'], ['lab', '--rate', '0'], ['lab', '--bogus']]) {
      const lab = runCli(args);
      expect(await lab.exited).toBe(2);
      expect(lab.lines.join('\n')).toMatch(/hybrid-proxy: .*\nRun 'hybrid-proxy help' for usage\./);
    }
  });
});

describe('hybrid-proxy CLI errors', () => {
  it('names the Debian package of a missing tool and exits 1 (inside a namespace of its own)', async () => {
    const ns = `hp-${process.pid}-notool-node`;
    await addNamespace(ns);
    try {
      const proc = new NamespacedProcess(
        spawn('ip', ['netns', 'exec', ns, 'env', 'PATH=/nonexistent', process.execPath, CLI, 'cleanup', '--ip-families', '4'], { stdio: ['ignore', 'pipe', 'pipe'] }),
        'cleanup',
      );
      expect(await proc.exited).toBe(1);
      expect(proc.lines.join('\n')).toMatch(/iptables was not found on PATH\. Install it with: apt-get install iptables/);
    } finally {
      await createRunner().run('ip', ['netns', 'del', ns]);
    }
  });

  it('says that run needs privileges, as root without CAP_NET_ADMIN (a container without NET_ADMIN)', async () => {
    // Root keeps its uid, so it can read the clone wherever it is; only the capabilities go.
    const proc = new NamespacedProcess(
      spawn('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, CLI, 'run', '--manifests', '/nonexistent'], { stdio: ['ignore', 'pipe', 'pipe'] }),
      'run without capabilities',
    );
    expect(await proc.exited).toBe(1);
    expect(proc.lines.join('\n')).toMatch(/needs root or CAP_NET_ADMIN/);
  });

  it.each([
    [['run'], /no Kubernetes API configuration: pass --kubeconfig PATH.*or --manifests DIR/],
    [['run', '--kubeconfig', '/nonexistent/kubeconfig'], /--kubeconfig \/nonexistent\/kubeconfig: no such file/],
    [['run', '--kubeconfig', 'a', '--manifests', 'b'], /name two sources/],
    [['run', '--manifests', 'x', '--mode', 'nft'], /--mode "nft" is not one of/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ])('%j exits 2 with a usage error', async (args, message) => {
    const env = { PATH: process.env['PATH'], HOME: '/nonexistent' }; // no KUBECONFIG, no ~/.kube/config
    const proc = new NamespacedProcess(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env }), 'cli');
    expect(await proc.exited).toBe(2);
    expect(proc.lines.join('\n')).toMatch(message);
  });
});
