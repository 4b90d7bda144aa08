import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { LabNode, type TrafficTarget } from '@hybrid-proxy/lab';
import { CHI_SQUARE_CRITICAL_P0001, chiSquareUniform } from './statistics.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/traffic', import.meta.url));
const WEB: TrafficTarget = { key: 'test/web:http', protocol: 'TCP', ip: '198.19.1.10', port: 80 };
const DNS: TrafficTarget = { key: 'test/dns:dns', protocol: 'UDP', ip: '198.19.1.53', port: 53 };

/** Both variants by default; the VM lane, where time is dear, asks for nft alone (Debian's default). */
const VARIANTS = (process.env['HP_IPTABLES_VARIANTS'] ?? 'nft,legacy').split(',');
/** Both layouts by default: the gated tree (the default) and kube-proxy's linear KUBE-SERVICES. */
const DISPATCH = (process.env['HP_IPTABLES_DISPATCH'] ?? 'tree,linear').split(',');
/** The jumps from the built-in chains; the tree layout sends new forwarded connections on from KUBE-FORWARD. */
const expectedHooks = (dispatch: string) => [
  ...(dispatch === 'linear' ? ['FORWARD KUBE-PROXY-FIREWALL', 'FORWARD KUBE-SERVICES', 'FORWARD KUBE-EXTERNAL-SERVICES'] : []),
  ...['INPUT', 'OUTPUT'].map((chain) => `${chain} KUBE-PROXY-FIREWALL`),
  ...['INPUT', 'OUTPUT'].map((chain) => `${chain} KUBE-SERVICES`),
  'INPUT KUBE-EXTERNAL-SERVICES',
  'FORWARD KUBE-FORWARD',
  'INPUT KUBE-NODEPORTS',
  // IPv4 node ports on 127.0.0.1 (route_localnet): only the node itself may reach the loopback range.
  ...['INPUT', 'OUTPUT'].map((chain) => `${chain} KUBE-LOCALNET-FIREWALL`),
  'OUTPUT KUBE-SERVICES',
  'POSTROUTING KUBE-POSTROUTING',
  'PREROUTING KUBE-SERVICES',
].sort();
const CASES = VARIANTS.flatMap((variant) => DISPATCH.map((dispatch) => [variant, dispatch] as const));

/** The real `hybrid-proxy run` in a node namespace, real packets from a client namespace, on both iptables variants. */
describe.each(CASES)('iptables mode with iptables-%s, %s dispatch', (variant, dispatch) => {
  let dir: string;
  let node: LabNode;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hp-traffic-'));
    await cp(FIXTURES, dir, { recursive: true });
    node = await LabNode.start({ manifests: dir, proxyArgs: ['--iptables-variant', variant, '--dispatch', dispatch] });
  });

  afterAll(async () => {
    await node?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('programs the chosen variant only', async () => {
    const other = variant === 'nft' ? 'legacy' : 'nft';
    const mine = await runChecked(node.topology.node.run, `iptables-${variant}-save`, ['-t', 'nat']);
    const theirs = await runChecked(node.topology.node.run, `iptables-${other}-save`, ['-t', 'nat']);
    expect(mine.stdout).toMatch(/^:KUBE-SVC-/m);
    expect(theirs.stdout).not.toMatch(/KUBE-/);
  });

  it(`lays out KUBE-SERVICES as the ${dispatch} dispatch`, async () => {
    const nat = (await runChecked(node.topology.node.run, `iptables-${variant}-save`, ['-t', 'nat'])).stdout;
    const services = nat.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '));
    if (dispatch === 'linear') {
      expect(services.filter((l) => l.includes('-j KUBE-SVC-'))).toHaveLength(2);
      expect(nat).not.toContain('KUBE-DISPATCH');
    } else {
      // The gate alone, whatever the number of Services; the Services sit in leaves. (KUBE-NODEPORTS is empty, so
      // nothing jumps there.)
      expect(services).toHaveLength(1);
      expect(services[0]).toMatch(/-m set --match-set KUBE-SVC-GATE dst,dst .*-j KUBE-DISPATCH$/);
      expect(nat).toMatch(/^-A KUBE-DISPATCH -d 0\.0\.0\.10\/0\.0\.0\.15 -g KUBE-DISPATCH-A$/m);
      expect(nat).toMatch(/^-A KUBE-DISPATCH-A0 -d 198\.19\.1\.10\/32 -p tcp .*-j KUBE-SVC-/m);
      const members = (await runChecked(node.topology.node.run, 'ipset', ['save', 'KUBE-SVC-GATE'])).stdout;
      expect(members).toMatch(/^add KUBE-SVC-GATE 198\.19\.1\.10,tcp:80$/m);
      expect(members).toMatch(/^add KUBE-SVC-GATE 198\.19\.1\.53,udp:53$/m);
    }
  });

  it('spreads TCP over every ready endpoint, uniformly (chi-square)', async () => {
    const [result] = await node.traffic.burst([WEB], { count: 900, concurrency: 8 });
    expect(result!.failed).toBe(0);
    expect(Object.keys(result!.backends).sort()).toEqual(['web-a', 'web-b', 'web-c']);
    expect(chiSquareUniform(Object.values(result!.backends))).toBeLessThan(CHI_SQUARE_CRITICAL_P0001[2]!);
  });

  it('spreads UDP over every ready endpoint, uniformly (chi-square)', async () => {
    const [result] = await node.traffic.burst([DNS], { count: 600, concurrency: 8 });
    expect(result!.failed).toBe(0);
    expect(Object.keys(result!.backends).sort()).toEqual(['dns-a', 'dns-b']);
    expect(chiSquareUniform(Object.values(result!.backends))).toBeLessThan(CHI_SQUARE_CRITICAL_P0001[1]!);
  });

  it('masquerades a Pod that reaches itself through its Service (hairpin), and only then', async () => {
    // Without the masquerade, a connection DNATed back to its own Pod would be answered inside the Pod, from the
    // Pod's address instead of the VIP, and fail; a third of them land there.
    const pod = node.topology.pods.get('web-a')!;
    const script = `(async () => {
      const names = [];
      for (let i = 0; i < 30; i++) {
        try { names.push(await (await fetch('http://${WEB.ip}:${WEB.port}/', { signal: AbortSignal.timeout(3000) })).text()); } catch (err) { names.push(err.name); }
      }
      console.log(JSON.stringify(names));
    })()`;
    const names: string[] = JSON.parse((await runChecked(createRunner({ netns: pod.namespace }), process.execPath, ['-e', script])).stdout);
    expect(new Set(names)).toEqual(new Set(['web-a', 'web-b', 'web-c']));
    // The node's conntrack table: each connection's reply tuple says where it went (reply src) and whether it was
    // masqueraded (reply dst other than the Pod). Only those that came back to web-a are.
    const entries = (await runChecked(node.topology.node.run, 'conntrack', ['-L', '-p', 'tcp', '--orig-src', pod.ip, '--orig-dst', WEB.ip])).stdout;
    const replies = [...entries.matchAll(/ src=\S+ dst=\S+ sport=\d+ dport=\d+ .*?src=(\S+) dst=(\S+)/g)].map(([, to, back]) => ({ hairpin: to === pod.ip, masqueraded: back !== pod.ip }));
    expect(replies.length).toBeGreaterThanOrEqual(30);
    expect(replies.some((r) => r.hairpin)).toBe(true);
    for (const reply of replies) expect(reply.masqueraded).toBe(reply.hairpin);
  });

  it('keeps the rules through a proxy restart, with no failed request and no jump twice', async () => {
    /** The jumps from the built-in chains into ours. */
    const jumps = async () => {
      const lines: string[] = [];
      for (const table of ['nat', 'filter']) {
        const saved = (await runChecked(node.topology.node.run, `iptables-${variant}-save`, ['-t', table])).stdout;
        lines.push(...saved.split('\n').filter((line) => /^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)( .*)? -j KUBE-/.test(line)));
      }
      return lines.sort();
    };
    const before = await jumps();
    // kube-proxy's hooks, each once: nat PREROUTING/OUTPUT/POSTROUTING, and filter INPUT/FORWARD/OUTPUT into the
    // firewall, external-services, services, node-port health checks and forward chains.
    const hooks = before.map((line) => `${line.split(' ')[1]} ${line.split(' -j ')[1]}`).sort();
    expect(hooks).toEqual(expectedHooks(dispatch));
    const traffic = node.traffic.burst([WEB, DNS], { count: 250, concurrency: 2, intervalMs: 8 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await node.stopProxy('SIGTERM')).toBe(0);
    const sync = await node.startProxy();
    expect(sync.kind).toBe('full');
    const results = await traffic;
    for (const result of results) {
      expect(result.failed, JSON.stringify(result.errors)).toBe(0);
      expect(result.ok).toBe(250);
    }
    expect(await jumps()).toEqual(before);
  });

  it('stops sending traffic to a removed endpoint', async () => {
    const mark = node.logMark;
    await writeFile(join(dir, 'web.yaml'), (await readFile(join(dir, 'web.yaml'), 'utf8')).replace(/\n  - \{ addresses: \[198\.18\.1\.13\].*\n/, '\n'));
    expect((await node.waitForSync(mark)).kind).toBe('partial');
    const [result] = await node.traffic.burst([WEB], { count: 300, concurrency: 8 });
    expect(result!.failed).toBe(0);
    expect(Object.keys(result!.backends).sort()).toEqual(['web-a', 'web-b']);
  });

  it("clears the UDP conntrack entry of a removed endpoint, so the client's flow moves on", async () => {
    const pinned: TrafficTarget = { ...DNS, sourcePort: 40_053 };
    const [first] = await node.traffic.burst([pinned], { count: 5, concurrency: 1 });
    // One source port is one conntrack entry: every datagram of the flow goes to the same backend.
    expect(Object.keys(first!.backends)).toHaveLength(1);
    const chosen = Object.keys(first!.backends)[0]!;
    const ip = chosen === 'dns-a' ? '198.18.1.31' : '198.18.1.32';
    const file = join(dir, 'dns.yaml');
    const mark = node.logMark;
    await writeFile(file, (await readFile(file, 'utf8')).replace(new RegExp(`\\n  - \\{ addresses: \\[${ip.replace(/\./g, '\\.')}\\].*\\n`), '\n'));
    await node.waitForSync(mark);
    // Under emulation a late sync of an earlier change may be the one logged first: wait, well inside the UDP
    // conntrack timeout, for the sync that removes the flow's entry (its reply source is the removed Pod).
    const flowToRemoved = async () => (await runChecked(node.topology.node.run, 'conntrack', ['-L', '-p', 'udp', '--orig-dst', DNS.ip, '--sport', '40053', '--reply-src', ip])).stdout.trim();
    await expect.poll(flowToRemoved, { timeout: 15_000, interval: 250 }).toBe('');
    // The removed Pod still answers (it is only out of the slice): without the cleanup the flow would stay with it.
    const [after] = await node.traffic.burst([pinned], { count: 5, concurrency: 1 });
    expect(after!.failed).toBe(0);
    expect(Object.keys(after!.backends)).toEqual([chosen === 'dns-a' ? 'dns-b' : 'dns-a']);
  });

  it('clears, after a restart, the UDP conntrack entry of an endpoint removed while the proxy was down', async () => {
    const file = join(dir, 'dns.yaml');
    let mark = node.logMark;
    await cp(join(FIXTURES, 'dns.yaml'), file);
    await node.waitForSync(mark);
    const pinned: TrafficTarget = { ...DNS, sourcePort: 40_153 };
    const [first] = await node.traffic.burst([pinned], { count: 5, concurrency: 1 });
    expect(Object.keys(first!.backends)).toHaveLength(1);
    const chosen = Object.keys(first!.backends)[0]!;
    const ip = chosen === 'dns-a' ? '198.18.1.31' : '198.18.1.32';
    expect(await node.stopProxy('SIGTERM')).toBe(0);
    // Nobody compares snapshots across this gap: only the kernel's conntrack table knows the flow.
    await writeFile(file, (await readFile(file, 'utf8')).replace(new RegExp(`\\n  - \\{ addresses: \\[${ip.replace(/\./g, '\\.')}\\].*\\n`), '\n'));
    await node.startProxy();
    // The new process's own log, from its first line: the reconciler runs after its first (full) sync.
    await node.proxy!.waitForLine((line) => line.includes('cleared conntrack entries that no current endpoint answers'), 20_000, 0);
    const [after] = await node.traffic.burst([pinned], { count: 5, concurrency: 1 });
    expect(after!.failed).toBe(0);
    expect(Object.keys(after!.backends)).toEqual([chosen === 'dns-a' ? 'dns-b' : 'dns-a']);
  });

  it('rejects at once on the VIP of a deleted Service', async () => {
    const mark = node.logMark;
    await unlink(join(dir, 'dns.yaml'));
    await node.waitForSync(mark);
    const [result] = await node.traffic.burst([DNS], { count: 20, concurrency: 2, timeoutMs: 2000 });
    expect(result!.ok).toBe(0);
    // The address is unallocated now: the service-range rule rejects it instead of letting it leak upstream.
    expect(result!.errors).toEqual({ ECONNREFUSED: 20 });
    const [web] = await node.traffic.burst([WEB], { count: 30 });
    expect(web!.failed).toBe(0);
  });

  it('rejects on the VIP of a Service whose endpoints are all gone', async () => {
    const mark = node.logMark;
    await writeFile(join(dir, 'web.yaml'), (await readFile(join(dir, 'web.yaml'), 'utf8')).replace(/endpoints:[\s\S]*$/, 'endpoints: []\n'));
    await node.waitForSync(mark);
    const [result] = await node.traffic.burst([WEB], { count: 20, concurrency: 2 });
    expect(result!.ok).toBe(0);
    expect(result!.errors).toEqual({ ECONNREFUSED: 20 });
  });
});
