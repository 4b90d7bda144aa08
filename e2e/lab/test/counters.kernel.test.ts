import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { addNamespace, deleteNamespace, LabNode, mountLabBpffs, namespacePrefix, sampleValue, unmountLabBpffs, type TrafficTarget } from '@hybrid-proxy/lab';
import { CountersUnavailableError, MAX_VIPS, XdpCounters } from '@hybrid-proxy/xdp';

const FIXTURES = fileURLToPath(new URL('./fixtures/traffic', import.meta.url));
const DNS: TrafficTarget = { key: 'test/dns:dns', protocol: 'UDP', ip: '198.19.1.53', port: 53 };
const DNS_LABELS = { namespace: 'test', service: 'dns', port: 'dns', protocol: 'UDP' };
const BACKEND_IP = { 'dns-a': '198.18.1.31', 'dns-b': '198.18.1.32' } as const;

/** Polls the proxy's metrics until `read` returns at least `atLeast` (the sampler reads the kernel every second). */
async function metricAtLeast(node: LabNode, read: (s: Awaited<ReturnType<LabNode['metrics']>>) => number | undefined, atLeast: number): Promise<number> {
  let value: number | undefined;
  for (let i = 0; i < 50; i++) {
    value = read(await node.metrics());
    if (value !== undefined && value >= atLeast) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  return value ?? Number.NaN;
}

const vipPackets = (node: LabNode, atLeast: number) => metricAtLeast(node, (s) => sampleValue(s, 'hybrid_proxy_vip_packets_total', DNS_LABELS), atLeast);
const backendPackets = (node: LabNode, endpoint: string, atLeast: number) => metricAtLeast(node, (s) => sampleValue(s, 'hybrid_proxy_backend_packets_total', { ...DNS_LABELS, endpoint }), atLeast);

describe('the counter program on this kernel', () => {
  let ns: string;
  let bpffs: string;
  beforeAll(async () => {
    const prefix = namespacePrefix();
    ns = `${prefix}-verifier`;
    const run = await addNamespace(ns);
    await runChecked(run, 'ip', ['link', 'add', 'name', 'left', 'type', 'veth', 'peer', 'name', 'right']);
    await runChecked(run, 'ip', ['link', 'set', 'dev', 'left', 'up']);
    await runChecked(run, 'ip', ['link', 'set', 'dev', 'right', 'up']);
    bpffs = await mountLabBpffs(prefix);
  });
  afterAll(async () => {
    await deleteNamespace(ns);
    await unmountLabBpffs(bpffs);
  });

  it('loads through the verifier, attaches as native XDP and as tc, and cleans up', async () => {
    const runner = createRunner({ netns: ns });
    const xdp = new XdpCounters({ runner, bpffs, interfaces: ['left'], mode: 'native' });
    await xdp.start();
    expect(xdp.loadResult).toBe('loaded');
    expect(xdp.attached.get('left')).toBe('native');
    const tc = new XdpCounters({ runner, bpffs, interfaces: ['right'], mode: 'tc' });
    await tc.start();
    expect(tc.loadResult).toBe('reused');
    expect((await runChecked(runner, 'tc', ['filter', 'show', 'dev', 'right', 'ingress'])).stdout).toMatch(/hp_tc_count/);
    await xdp.cleanup();
    await tc.cleanup();
    expect((await runChecked(runner, 'bpftool', ['-j', 'net', 'show', 'dev', 'left'])).stdout).not.toMatch(/hp_xdp_count|"xdp":\[\{/);
  });

  it('refuses a broken object with a clear error, as the proxy reports it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hp-object-'));
    await writeFile(join(dir, 'broken.o'), 'not an ELF object');
    const counters = new XdpCounters({ runner: createRunner({ netns: ns }), bpffs: join(bpffs, 'broken'), interfaces: [], objectPath: join(dir, 'broken.o') });
    await expect(counters.start()).rejects.toThrow(CountersUnavailableError);
    await expect(counters.start()).rejects.toThrow(/refused the counter program/);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('per-VIP and per-backend counters in the lab node (XDP)', () => {
  let node: LabNode;
  beforeAll(async () => {
    node = await LabNode.start({ manifests: FIXTURES });
  });
  afterAll(async () => node?.destroy());

  it('counts exactly N for N UDP datagrams to a VIP, and per backend exactly what each server saw', async () => {
    const N = 400;
    // Distinct source ports: each request is its own flow, so the DNAT rule's flow count can be compared exactly.
    const [result] = await node.traffic.burst([DNS], { count: N, concurrency: 4, sourcePortBase: 30_000 });
    expect(result!.failed).toBe(0);
    expect(await vipPackets(node, N)).toBe(N);
    // iptables-save -c prefixes each rule with [packets:bytes].
    const saved = (await runChecked(node.topology.node.run, 'iptables-nft-save', ['-c', '-t', 'nat'])).stdout.split('\n');
    for (const [pod, ip] of Object.entries(BACKEND_IP)) {
      const served = (await node.topology.podStats(pod)).udp;
      expect(served).toBe(result!.backends[pod]);
      // One reply per request: the backend counter equals what the server saw...
      expect(await backendPackets(node, `${ip}:5353`, served)).toBe(served);
      // ...and what the kernel's own DNAT rule counted for that endpoint (one packet per UDP flow in the nat table).
      // (Inline in the service chain by default; in its KUBE-SEP chain with --endpoint-chains per-endpoint.)
      const dnatRule = saved.find((line) => /^\[\d+:\d+\] -A KUBE-(SVC|SEP)-.* -j DNAT --to-destination /.test(line) && line.endsWith(`--to-destination ${ip}:5353`))!;
      expect(Number(/^\[(\d+):/.exec(dnatRule)![1])).toBe(served);
    }
    const shares = (await node.metrics()).filter((s) => s.name === 'hybrid_proxy_backend_share' && s.labels.service === 'dns');
    expect(shares.reduce((a, s) => a + s.value, 0)).toBeCloseTo(1, 5);
  });

  it('keeps the counters through a proxy restart', async () => {
    const before = await vipPackets(node, 1);
    expect(await node.stopProxy('SIGTERM')).toBe(0);
    await node.startProxy();
    expect(await vipPackets(node, before)).toBe(before);
    await node.traffic.burst([DNS], { count: 50, concurrency: 2 });
    expect(await vipPackets(node, before + 50)).toBe(before + 50);
  });
});

describe('a full counter index', () => {
  let dir: string;
  let node: LabNode;
  const extra = MAX_VIPS + 10;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hp-full-index-'));
    // The dns Service and its Pods, plus more endpoint-less Services than the VIP index holds. Keys sort "test/..."
    // before "zz/...", so dns is indexed and the last Services overflow.
    await symlink(join(FIXTURES, 'dns.yaml'), join(dir, 'dns.yaml'));
    const items = Array.from({ length: extra }, (_, i) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: 'zz' }, spec: { clusterIP: `198.19.${100 + (i >> 8)}.${i & 255}`, ports: [{ name: 'p', port: 80, protocol: 'UDP' }] } }));
    await writeFile(join(dir, 'many.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    node = await LabNode.start({ manifests: dir });
  });
  afterAll(async () => {
    await node?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts unindexed VIPs as misses, reports the overflow, and keeps counting and proxying the rest', async () => {
    const overflow = await metricAtLeast(node, (s) => sampleValue(s, 'hybrid_proxy_counter_index_overflow', { map: 'vip' }), 1);
    // dns plus `extra` Services, MAX_VIPS slots.
    expect(overflow).toBe(extra + 1 - MAX_VIPS);
    const missesBefore = sampleValue(await node.metrics(), 'hybrid_proxy_counter_misses_total', { map: 'vip' })!;
    // The index takes keys in snapshot order, sorted by service port key as text: the last of those overflow.
    const last = Array.from({ length: extra }, (_, i) => i).sort((a, b) => (`zz/s${a}:p` < `zz/s${b}:p` ? -1 : 1)).at(-1)!;
    const unindexed: TrafficTarget = { key: `zz/s${last}:p`, protocol: 'UDP', ip: `198.19.${100 + (last >> 8)}.${last & 255}`, port: 80 };
    const [rejected] = await node.traffic.burst([unindexed], { count: 30, concurrency: 1 });
    expect(rejected!.errors).toEqual({ ECONNREFUSED: 30 });
    expect(await metricAtLeast(node, (s) => sampleValue(s, 'hybrid_proxy_counter_misses_total', { map: 'vip' }), missesBefore + 30)).toBeGreaterThanOrEqual(missesBefore + 30);
    const [served] = await node.traffic.burst([DNS], { count: 100, concurrency: 4 });
    expect(served!.failed).toBe(0);
    expect(await vipPackets(node, 100)).toBe(100);
  });
});

describe('without bpftool', () => {
  let node: LabNode;
  let bin: string;
  beforeAll(async () => {
    // A PATH with every tool the proxy uses except bpftool.
    bin = await mkdtemp(join(tmpdir(), 'hp-no-bpftool-'));
    for (const tool of ['ip', 'tc', 'iptables-nft', 'iptables-nft-save', 'iptables-nft-restore', 'iptables-legacy-save', 'iptables', 'ipset', 'conntrack', 'sysctl', 'mount']) {
      const found = (await createRunner().run('sh', ['-c', `command -v ${tool}`])).stdout.trim();
      if (found) await symlink(found, join(bin, tool));
    }
    node = await LabNode.start({ manifests: FIXTURES, proxyEnv: { ...process.env, PATH: `${bin}:/nonexistent` } });
  });
  afterAll(async () => {
    await node?.destroy();
    await rm(bin, { recursive: true, force: true });
  });

  it('says why the counters are off, and keeps proxying', async () => {
    expect(node.proxy!.lines.join('\n')).toMatch(/traffic counters are off.*bpftool was not found on PATH\. Install it with: apt-get install bpftool/);
    const [result] = await node.traffic.burst([DNS], { count: 40, concurrency: 4 });
    expect(result!.failed).toBe(0);
    expect(sampleValue(await node.metrics(), 'hybrid_proxy_vip_packets_total')).toBeUndefined();
  });
});
