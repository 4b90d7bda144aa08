import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { createIpvsPlanMemo, defaultIpvsPlannerOptions, IpvsExecutor, ipvsChanges, planIpvs, virtualServerId } from '@hybrid-proxy/ipvs';
import { LAB_ADDRESSES, LabNode, spawnInNamespace, type TrafficTarget } from '@hybrid-proxy/lab';
import { buildSnapshot, convertEndpointSlice, convertService, SnapshotAssembler } from '@hybrid-proxy/model';

/** IPVS mode on Debian's kernel, inside the VM lane: the real `hybrid-proxy run --mode ipvs`, real packets. */
const FIXTURES = fileURLToPath(new URL('../../lab/test/fixtures/traffic', import.meta.url));
const WEB: TrafficTarget = { key: 'test/web:http', protocol: 'TCP', ip: '198.19.1.10', port: 80 };
const DNS: TrafficTarget = { key: 'test/dns:dns', protocol: 'UDP', ip: '198.19.1.53', port: 53 };

/** Opens argv[2] connections to the web VIP, says so, and sends each its request once the file argv[1] exists. */
const IDLE_CLIENT = `
const net = require('net');
const fs = require('fs');
const [go, count] = [process.argv[1], Number(process.argv[2])];
let connected = 0;
const answers = [];
const sockets = Array.from({ length: count }, () => {
  const socket = net.connect({ host: '${WEB.ip}', port: 80 }, () => { if (++connected === count) console.log('connected'); });
  let text = '';
  socket.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => {
    // The body (chunked, as Node writes it) is the Pod's name.
    answers.push((/\\bweb-[a-z]\\b/.exec(text.split('\\r\\n\\r\\n').slice(1).join(' ')) ?? ['?'])[0]);
    if (answers.length === count) console.log('answered ' + answers.sort().join(','));
  });
  return socket;
});
const poll = setInterval(() => {
  if (!fs.existsSync(go)) return;
  clearInterval(poll);
  for (const socket of sockets) socket.write('GET / HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n');
}, 100);
`;

describe('hybrid-proxy --mode ipvs in a lab node', () => {
  let dir: string;
  let node: LabNode;
  const ipvsadm = (args: string[]) => runChecked(node.topology.node.run, 'ipvsadm', args);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hp-ipvs-'));
    await cp(FIXTURES, dir, { recursive: true });
    node = await LabNode.start({ manifests: dir, mode: 'ipvs', counters: 'off', proxyArgs: ['--sync-period', '3s', '--ipvs-exclude-cidrs', '198.18.201.0/24', '--ipvs-tcp-timeout', '15m', '--ipvs-udp-timeout', '45s', '--conntrack-tcp-timeout-established', '2h'] });
  });
  afterAll(async () => {
    await node?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('binds the VIPs to kube-ipvs0, creates the ipsets and a fixed handful of iptables rules', async () => {
    const addresses = (await runChecked(node.topology.node.run, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout;
    expect(addresses).toContain('198.19.1.10/32');
    expect(addresses).toContain('198.19.1.53/32');
    const sets = (await runChecked(node.topology.node.run, 'ipset', ['save'])).stdout;
    expect(sets).toMatch(/^add KUBE-CLUSTER-IP 198\.19\.1\.10,tcp:80$/m);
    expect(sets).toMatch(/^add KUBE-LOOP-BACK 198\.18\.1\.11,tcp:8080,198\.18\.1\.11$/m);
    const rules = (await runChecked(node.topology.node.run, 'iptables-save', [])).stdout;
    expect(rules).toMatch(/^-A KUBE-IPVS-FILTER .*--match-set KUBE-IPVS-IPS dst -j REJECT/m);
    expect(rules).not.toMatch(/KUBE-SVC-|KUBE-SEP-/);
    const virtual = (await ipvsadm(['-Ln'])).stdout;
    expect(virtual).toMatch(/TCP\s+198\.19\.1\.10:80 rr/);
    expect(virtual).toMatch(/UDP\s+198\.19\.1\.53:53 rr/);
  });

  it('sets the IPVS and conntrack timeouts it was given, in its own namespace', async () => {
    // tcpfin was not given: ipvsadm --set keeps the kernel's 120 s for a 0.
    expect((await ipvsadm(['-L', '--timeout'])).stdout).toMatch(/Timeout \(tcp tcpfin udp\): 900 120 45/);
    expect((await runChecked(node.topology.node.run, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_tcp_timeout_established'])).stdout.trim()).toBe('7200');
  });

  it('round-robins exactly over every backend, and the per-real stats match what each backend served', async () => {
    const before = await Promise.all(['web-a', 'web-b', 'web-c'].map((p) => node.topology.podStats(p)));
    const [result] = await node.traffic.burst([WEB], { count: 300, concurrency: 3 });
    expect(result!.failed).toBe(0);
    expect(result!.backends).toEqual({ 'web-a': 100, 'web-b': 100, 'web-c': 100 });
    const served = await Promise.all(['web-a', 'web-b', 'web-c'].map(async (pod, i) => (await node.topology.podStats(pod)).tcp - before[i]!.tcp));
    // IPVS sums its per-CPU stats in the estimator, every 2 s: read until they settle.
    const conns = async () => {
      const stats = (await ipvsadm(['-Ln', '--stats', '-t', '198.19.1.10:80'])).stdout;
      return [1, 2, 3].map((n) => Number(stats.split('\n').find((l) => l.includes(`198.18.1.1${n}:8080`))!.trim().split(/\s+/)[2]));
    };
    let counted = await conns();
    for (let i = 0; i < 20 && counted.join() !== served.join(); i++) {
      await new Promise((r) => setTimeout(r, 500));
      counted = await conns();
    }
    // Conns counts every connection sent to each real: on a fresh node, exactly what each backend served.
    expect(counted).toEqual(served);
  });

  it('keeps a host service off the ClusterIPs (KUBE-IPVS-FILTER)', async () => {
    const host = spawnInNamespace(node.topology.node.namespace, process.execPath, ['-e', "require('net').createServer((s) => s.end('host')).listen(2222, () => console.log('ready'))"], 'host service');
    try {
      await host.waitForLine((l) => l === 'ready', 30_000);
      const onVip: TrafficTarget = { key: 'host-on-vip', protocol: 'TCP', ip: '198.19.1.10', port: 2222 };
      const [blocked] = await node.traffic.burst([onVip], { count: 5, concurrency: 1 });
      expect(blocked!.errors).toEqual({ ECONNREFUSED: 5 });
    } finally {
      await host.stop('SIGKILL');
    }
  });

  it('keeps serving through a proxy restart, with no failed request', async () => {
    const traffic = node.traffic.burst([WEB, DNS], { count: 150, concurrency: 2, intervalMs: 10 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await node.stopProxy('SIGTERM')).toBe(0);
    await node.startProxy();
    for (const result of await traffic) expect(result.failed, JSON.stringify(result.errors)).toBe(0);
  });

  it('drains a removed endpoint: its established connections live on at weight 0, new ones go elsewhere, in one sync that touches nothing else', async () => {
    const failures = async () => (await node.metrics()).find((s) => s.name === 'hybrid_proxy_sync_failures_total')?.value ?? 0;
    // A virtual server the proxy does not own (its VIP is not on kube-ipvs0): a diff must leave it alone.
    await ipvsadm(['-A', '-t', '198.18.200.1:9999', '-s', 'rr']);
    // One on kube-ipvs0 itself, but inside --ipvs-exclude-cidrs: someone else's as well, address and server alike.
    await runChecked(node.topology.node.run, 'ip', ['addr', 'add', '198.18.201.1/32', 'dev', 'kube-ipvs0']);
    await ipvsadm(['-A', '-t', '198.18.201.1:9999', '-s', 'rr']);
    const failedBefore = await failures();
    // Three connections, established and idle (rr gives one to each backend); each sends its request only later.
    const go = join(dir, 'send-now');
    const idle = spawnInNamespace(node.topology.client.namespace, process.execPath, ['-e', IDLE_CLIENT, go, '3'], 'idle connections');
    await idle.waitForLine((l) => l === 'connected', 30_000);
    const mark = node.logMark;
    await writeFile(join(dir, 'web.yaml'), (await readFile(join(dir, 'web.yaml'), 'utf8')).replace(/\n  - \{ addresses: \[198\.18\.1\.13\].*\n/, '\n'));
    await node.waitForSync(mark);
    // kube-proxy's graceful termination: the removed real stays, at weight 0, while it has a connection.
    expect((await ipvsadm(['-Ln', '-t', `${WEB.ip}:80`])).stdout).toMatch(/-> 198\.18\.1\.13:8080\s+Masq\s+0\s+1\s/);
    const [result] = await node.traffic.burst([WEB], { count: 100, concurrency: 2 });
    expect(result!.backends).toEqual({ 'web-a': 50, 'web-b': 50 });
    // ...and the connection that web-c holds still gets its answer from web-c.
    await writeFile(go, '');
    const answered = idle.lines[await idle.waitForLine((l) => l.startsWith('answered '), 30_000)]!;
    expect(answered).toBe('answered web-a,web-b,web-c');
    // The diff applied on the first try (no failed sync rebuilt the table) and the foreign server survived it.
    expect(await failures()).toBe(failedBefore);
    expect((await ipvsadm(['-Ln'])).stdout).toMatch(/TCP\s+198\.18\.200\.1:9999 rr/);
    expect((await ipvsadm(['-Ln'])).stdout).toMatch(/TCP\s+198\.18\.201\.1:9999 rr/);
    expect((await runChecked(node.topology.node.run, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout).toContain('198.18.201.1/32');
    // Two sync periods of checks against the ledger: the foreign servers are nobody's drift.
    await new Promise((r) => setTimeout(r, 7000));
    expect((await node.metrics()).find((s) => s.name === 'hybrid_proxy_lost_state_repairs_total')?.value ?? 0).toBe(0);
  });

  it('stops serving the VIP of a deleted Service', async () => {
    const mark = node.logMark;
    await unlink(join(dir, 'dns.yaml'));
    await node.waitForSync(mark);
    const [result] = await node.traffic.burst([DNS], { count: 5, concurrency: 1, timeoutMs: 500 });
    expect(result!.ok).toBe(0);
    expect((await ipvsadm(['-Ln'])).stdout).not.toContain('198.19.1.53');
    expect((await runChecked(node.topology.node.run, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout).not.toContain('198.19.1.53');
  });
});

describe('hybrid-proxy --mode ipvs after someone else edits its state', () => {
  let node: LabNode;
  const ipvsadm = (args: string[]) => runChecked(node.topology.node.run, 'ipvsadm', args);
  beforeAll(async () => {
    node = await LabNode.start({ manifests: FIXTURES, mode: 'ipvs', counters: 'off', proxyArgs: ['--sync-period', '3s'] });
  });
  afterAll(async () => node?.destroy());

  it('restores, within a sync period, a virtual server and a set member that were deleted', async () => {
    const repairs = async () => (await node.metrics()).find((s) => s.name === 'hybrid_proxy_lost_state_repairs_total')?.value ?? 0;
    const before = await repairs();
    // Partial syncs diff against what the proxy applied; only the periodic check reads the kernel back.
    await ipvsadm(['-D', '-t', `${WEB.ip}:80`]);
    await runChecked(node.topology.node.run, 'ipset', ['del', 'KUBE-CLUSTER-IP', `${WEB.ip},tcp:80`]);
    await expect.poll(async () => (await ipvsadm(['-Ln'])).stdout, { timeout: 60_000, interval: 1000 }).toMatch(/TCP\s+198\.19\.1\.10:80 rr/);
    expect((await runChecked(node.topology.node.run, 'ipset', ['list', 'KUBE-CLUSTER-IP'])).stdout).toContain(`${WEB.ip},tcp:80`);
    expect(await repairs()).toBeGreaterThan(before);
    const [result] = await node.traffic.burst([WEB], { count: 30, concurrency: 2 });
    expect(result!.failed).toBe(0);
    expect(Object.keys(result!.backends).sort()).toEqual(['web-a', 'web-b', 'web-c']);
  });

  it('restores a real server deleted alone, and a set member deleted alone: each is seen on its own', async () => {
    const repairs = async () => (await node.metrics()).find((s) => s.name === 'hybrid_proxy_lost_state_repairs_total')?.value ?? 0;
    const listed = async () => (await ipvsadm(['-Ln', '-t', `${WEB.ip}:80`])).stdout;
    const real = /->\s+(198\.18\.\d+\.\d+:\d+)/.exec(await listed())![1]!;
    let before = await repairs();
    // The virtual server stays and so does every count but its reals': only the digest of the servers tells.
    await ipvsadm(['-d', '-t', `${WEB.ip}:80`, '-r', real]);
    await expect.poll(listed, { timeout: 60_000, interval: 1000 }).toContain(real);
    expect(await repairs()).toBeGreaterThan(before);
    before = await repairs();
    await runChecked(node.topology.node.run, 'ipset', ['del', 'KUBE-CLUSTER-IP', `${WEB.ip},tcp:80`]);
    await expect.poll(async () => (await runChecked(node.topology.node.run, 'ipset', ['list', 'KUBE-CLUSTER-IP'])).stdout, { timeout: 60_000, interval: 1000 }).toContain(`${WEB.ip},tcp:80`);
    expect(await repairs()).toBeGreaterThan(before);
  });
});

describe('the wrr scheduler, applied by the executor', () => {
  let node: LabNode;
  beforeAll(async () => {
    node = await LabNode.start({ manifests: FIXTURES, mode: 'ipvs', counters: 'off', startProxy: false });
  });
  afterAll(async () => node?.destroy());

  it('spreads by weight, exactly', async () => {
    const snapshot = buildSnapshot(
      [{ kind: 'Service', metadata: { name: 'web', namespace: 'test' }, spec: { clusterIP: WEB.ip, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }],
      [{ kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'test', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: ['198.18.1.11', '198.18.1.12', '198.18.1.13'].map((a) => ({ addresses: [a] })) }],
    );
    const plan = planIpvs(snapshot, { ...defaultIpvsPlannerOptions, scheduler: 'wrr', localTraffic: { mode: 'ClusterCIDR', cidrs: [LAB_ADDRESSES.podCIDRv4] } });
    // EndpointSlices carry no weights; give the reals 1, 2 and 3 to see the kernel honour them.
    const weighted = { ...plan, virtualServers: plan.virtualServers.map((vs) => ({ ...vs, reals: vs.reals.map((r, i) => ({ ...r, weight: i + 1 })) })) };
    const executor = new IpvsExecutor({ runner: createRunner({ netns: node.topology.node.namespace }), family: 4 });
    await executor.preflight();
    await executor.setSysctls();
    await executor.apply(weighted);
    const [result] = await node.traffic.burst([WEB], { count: 60, concurrency: 1 });
    expect(result!.backends).toEqual({ 'web-a': 10, 'web-b': 20, 'web-c': 30 });
  });
});

describe('the executor under endpoint churn', () => {
  let node: LabNode;
  beforeAll(async () => {
    node = await LabNode.start({ manifests: FIXTURES, mode: 'ipvs', counters: 'off', startProxy: false });
  });
  afterAll(async () => node?.destroy());

  it('ends in a kernel state equal to a plan of the final objects, read back, after rounds of partial syncs', async () => {
    const runner = createRunner({ netns: node.topology.node.namespace });
    // IPVS takes no real server it has no unicast route to: the churned endpoints live behind a dummy device.
    await runChecked(runner, 'ip', ['link', 'add', 'churn', 'type', 'dummy']);
    await runChecked(runner, 'ip', ['link', 'set', 'dev', 'churn', 'up']);
    await runChecked(runner, 'ip', ['route', 'add', '198.18.100.0/22', 'dev', 'churn']);
    const executor = new IpvsExecutor({ runner, family: 4, standby: true });
    await executor.preflight();
    await executor.setSysctls();
    const assembler = new SnapshotAssembler();
    const memo = createIpvsPlanMemo();
    const options = { ...defaultIpvsPlannerOptions, localTraffic: { mode: 'ClusterCIDR', cidrs: [LAB_ADDRESSES.podCIDRv4] } } as const;
    const setService = (i: number, port: number) =>
      assembler.setService(`churn/svc-${i}`, convertService({ kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'churn' }, spec: { clusterIP: `198.19.9.${i + 1}`, ports: [{ name: 'p', port, targetPort: 8080, protocol: i % 4 === 0 ? 'UDP' : 'TCP' }] } }).value!);
    const setSlice = (i: number, ips: number[]) =>
      assembler.setSlice(`churn/svc-${i}-a`, convertEndpointSlice({ kind: 'EndpointSlice', metadata: { name: `svc-${i}-a`, namespace: 'churn', labels: { 'kubernetes.io/service-name': `svc-${i}` } }, addressType: 'IPv4', ports: [{ name: 'p', port: 8080, protocol: i % 4 === 0 ? 'UDP' : 'TCP' }], endpoints: ips.map((k) => ({ addresses: [`198.18.${100 + (i % 4)}.${k}`] })) }).value!);
    for (let i = 0; i < 12; i++) {
      setService(i, 80);
      setSlice(i, [1, 2, 3]);
    }
    let plan = planIpvs(assembler.snapshot(), options, memo);
    await executor.apply(plan);
    let seed = 3;
    const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let round = 0; round < 25; round++) {
      const i = next(12);
      const roll = next(10);
      if (roll < 7) setSlice(i, Array.from({ length: next(5) }, (_, k) => 1 + ((k + round) % 200)));
      else if (roll < 9) setService(i, 80 + next(3));
      else assembler.setService(`churn/svc-${i}`, undefined);
      plan = planIpvs(assembler.snapshot(), options, memo);
      await executor.apply(plan);
    }
    await executor.close();
    // Read back: the kernel equals the plan of the final objects, but for TCP reals still draining at weight 0.
    const kernel = (await executor.virtualServers()).filter((vs) => vs.address.startsWith('198.19.9.'));
    const planned = plan.virtualServers.filter((vs) => vs.address.startsWith('198.19.9.'));
    const byId = new Map(planned.map((vs) => [virtualServerId(vs), vs]));
    const withoutDraining = kernel.map((vs) => ({ ...vs, reals: vs.reals.filter((r) => r.weight > 0 || byId.get(virtualServerId(vs))?.reals.some((p) => p.address === r.address)) }));
    expect(ipvsChanges(withoutDraining, planned)).toEqual([]);
    expect(kernel.flatMap((vs) => vs.reals).filter((r) => r.weight === 0).length).toBe(executor.drainingReals);
    const addresses = (await runChecked(runner, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout;
    for (const address of plan.addresses) expect(addresses).toContain(`${address}/32`);
    expect(await executor.lostState()).toEqual([]);
  });
});
