import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, runChecked } from '@hybrid-proxy/exec';
import { mountLabBpffs, namespacePrefix, unmountLabBpffs } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { XdpCounters, type CounterReading } from '@hybrid-proxy/xdp';
import { arpFrame, ipv4Frame, ipv6Frame } from './packets.js';

const CLIENT = '198.18.0.2';
const TCP = 6;
const UDP = 17;

const snapshot = buildSnapshot(
  [
    { kind: 'Service', metadata: { name: 'web', namespace: 't' }, spec: { clusterIP: '198.19.0.10', clusterIPs: ['198.19.0.10', 'fd00:19::a'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    { kind: 'Service', metadata: { name: 'dns', namespace: 't' }, spec: { clusterIP: '198.19.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] } },
  ],
  [{ kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 't', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['198.18.1.1'] }] }],
);

type Expect = 'web' | 'dns' | 'backend' | 'miss' | 'nothing';

/**
 * Frames the kernel's test-run itself refuses (EINVAL) for a program type: XDP's needs a whole Ethernet header,
 * the skb (tc) one a whole L3 header. No device delivers a runt frame; a truncated IP header can reach tc only from
 * a real link, so those rows run through XDP alone.
 */
const REFUSED_BY_TEST_RUN: Record<'xdp' | 'tc', readonly string[]> = {
  xdp: ['a runt frame'],
  tc: ['a runt frame', 'IPv4 header cut short', 'IPv6 header cut short'],
};

/** {description, frame, what the counters should show}: run through the kernel's BPF test-run, as Katran's tester does. */
const TABLE: [string, Uint8Array, Expect][] = [
  ['IPv4 TCP to a VIP', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80), 'web'],
  ['IPv4 behind one VLAN tag', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80, { vlans: 1 }), 'web'],
  ['IPv4 behind QinQ (802.1ad + 802.1Q)', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80, { qinq: true, vlans: 1 }), 'web'],
  ['IPv4 with options (ihl 8): ports read after them', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80, { ipOptions: 3 }), 'web'],
  ['IPv4 UDP to a UDP VIP', ipv4Frame(CLIENT, '198.19.0.53', UDP, 40000, 53), 'dns'],
  ['IPv4 TCP to a UDP-only VIP port', ipv4Frame(CLIENT, '198.19.0.53', TCP, 40000, 53), 'miss'],
  ['IPv4 to a VIP on another port', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 81), 'miss'],
  ['IPv4 first fragment (MF): no port parsing', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80, { fragment: 0x2000 }), 'miss'],
  ['IPv4 later fragment (offset): no port parsing', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80, { fragment: 0x0010 }), 'miss'],
  ['IPv4 with the ports cut off', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80, { truncate: 14 + 20 + 2 }), 'miss'],
  ['a reply from a backend', ipv4Frame('198.18.1.1', CLIENT, TCP, 8080, 40000), 'backend'],
  ['IPv6 TCP to a VIP', ipv6Frame('fd00:18::2', 'fd00:19::a', TCP, 40000, 80), 'web'],
  ['IPv6 behind a VLAN tag', ipv6Frame('fd00:18::2', 'fd00:19::a', TCP, 40000, 80, { vlans: 1 }), 'web'],
  ['IPv6 with a fragment header: no port parsing', ipv6Frame('fd00:18::2', 'fd00:19::a', TCP, 40000, 80, { fragment: true }), 'miss'],
  ['IPv4 header cut short', ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80, { truncate: 14 + 10 }), 'nothing'],
  ['IPv4 with an ihl below 5', (() => { const f = ipv4Frame(CLIENT, '198.19.0.10', TCP, 40000, 80); f[14] = 0x44; return f; })(), 'nothing'],
  ['IPv6 header cut short', ipv6Frame('fd00:18::2', 'fd00:19::a', TCP, 40000, 80, { truncate: 14 + 30 }), 'nothing'],
  ['ARP', arpFrame(), 'nothing'],
  ['a runt frame', Uint8Array.from([1, 2, 3]), 'nothing'],
];

function totals(r: CounterReading) {
  const vip = (service: string) => r.vips.filter((v) => v.labels.service === service).reduce((a, v) => a + v.packets, 0n);
  return { web: vip('web'), dns: vip('dns'), backend: r.backends.reduce((a, b) => a + b.packets, 0n), miss: r.misses.vip.packets };
}

describe.each(['xdp', 'tc'] as const)('the %s program on crafted frames (BPF test-run)', (program) => {
  let bpffs: string;
  let dir: string;
  let counters: XdpCounters;
  const runner = createRunner();
  beforeAll(async () => {
    bpffs = await mountLabBpffs(`${namespacePrefix()}-prog-run`);
    dir = await mkdtemp(join(tmpdir(), 'hp-frames-'));
    counters = new XdpCounters({ runner, bpffs, interfaces: [] });
    await counters.start();
    await counters.syncIndex(snapshot);
  });
  afterAll(async () => {
    await counters?.cleanup();
    await unmountLabBpffs(bpffs);
    await rm(dir, { recursive: true, force: true });
  });

  it.each(TABLE)('%s', async (description, frame, expected) => {
    const file = join(dir, `${description.replace(/\W+/g, '-')}.bin`);
    await writeFile(file, frame);
    if (REFUSED_BY_TEST_RUN[program].includes(description)) {
      const refused = await runner.run('bpftool', ['-j', 'prog', 'run', 'pinned', counters.pins.program(program), 'data_in', file]);
      expect(refused.stdout).toMatch(/Invalid argument/);
      return;
    }
    const before = totals(await counters.read());
    const { stdout } = await runChecked(runner, 'bpftool', ['-j', 'prog', 'run', 'pinned', counters.pins.program(program), 'data_in', file]);
    // Never drops: XDP_PASS (2) for XDP, TC_ACT_OK (0) for tc.
    expect(JSON.parse(stdout).retval).toBe(program === 'xdp' ? 2 : 0);
    const after = totals(await counters.read());
    const delta = { web: after.web - before.web, dns: after.dns - before.dns, backend: after.backend - before.backend };
    expect(delta).toEqual({ web: expected === 'web' ? 1n : 0n, dns: expected === 'dns' ? 1n : 0n, backend: expected === 'backend' ? 1n : 0n });
    // Every IP packet is looked up in the VIP index: it is either a VIP hit or a miss; non-IP frames are skipped.
    const vipHit = expected === 'web' || expected === 'dns';
    expect(after.miss - before.miss).toBe(expected === 'nothing' || vipHit ? 0n : 1n);
  });
});

describe('attaching again and again', () => {
  it('re-attaches after a cleanup, in every mode, on the same interface', async () => {
    const { addNamespace, deleteNamespace } = await import('@hybrid-proxy/lab');
    const prefix = namespacePrefix();
    const ns = `${prefix}-reattach`;
    const run = await addNamespace(ns);
    const bpffs = await mountLabBpffs(prefix);
    try {
      await runChecked(run, 'ip', ['link', 'add', 'name', 'left', 'type', 'veth', 'peer', 'name', 'right']);
      await runChecked(run, 'ip', ['link', 'set', 'dev', 'left', 'up']);
      for (const mode of ['tc', 'native', 'tc', 'generic', 'tc', 'auto'] as const) {
        const counters = new XdpCounters({ runner: run, bpffs, interfaces: ['left'], mode });
        await counters.start();
        expect(counters.attached.get('left')).toBe(mode === 'auto' ? 'tc' : mode);
        await counters.cleanup();
      }
    } finally {
      await deleteNamespace(ns);
      await unmountLabBpffs(bpffs);
    }
  });
});
