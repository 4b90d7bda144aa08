// The counters' cost on the lab path: client → VIP (DNAT) → Pod, with no counter, with XDP and with tc.
import { runChecked } from "@hybrid-proxy/exec";
import { defaultPlannerOptions, IptablesExecutor, planIptables } from '@hybrid-proxy/iptables';
import { CLIENT_LINK, LabTopology, mountLabBpffs, spawnInNamespace, unmountLabBpffs } from '@hybrid-proxy/lab';
import { buildSnapshot } from '@hybrid-proxy/model';
import { XdpCounters } from '@hybrid-proxy/xdp';
import { median } from './measure.js';

const VIP = '198.19.3.1';
const POD = '198.18.1.201';
const RUNS = Number(process.env.BENCH_COUNTER_RUNS ?? 5);
const SECONDS = 3;

const snapshot = buildSnapshot(
  [{ kind: 'Service', metadata: { name: 'iperf', namespace: 'bench' }, spec: { clusterIP: VIP, ports: [{ name: 'tcp', port: 5201 }, { name: 'udp', port: 5201, protocol: 'UDP' }] } }],
  [{ kind: 'EndpointSlice', metadata: { name: 'iperf-1', namespace: 'bench', labels: { 'kubernetes.io/service-name': 'iperf' } }, addressType: 'IPv4', ports: [{ name: 'tcp', port: 5201 }, { name: 'udp', port: 5201, protocol: 'UDP' }], endpoints: [{ addresses: [POD] }] }],
);

async function iperf(client, args) {
  const { stdout } = await runChecked(client, 'iperf3', ['-c', VIP, '-p', '5201', '-t', String(SECONDS), '-J', ...args]);
  return JSON.parse(stdout).end;
}

async function measure(client) {
  const tcp = await iperf(client, []);
  const udp = await iperf(client, ['-u', '-b', '0', '-l', '64']);
  return { gbps: tcp.sum_received.bits_per_second / 1e9, pps: (udp.sum.packets - udp.sum.lost_packets) / udp.sum.seconds };
}

export async function countersSection() {
  const topology = await LabTopology.create();
  let bpffs;
  let server;
  try {
    const pod = await topology.addPod({ name: 'iperf', ip: POD, tcpPorts: [], udpPorts: [] });
    server = spawnInNamespace(pod.namespace, 'iperf3', ['-s', '-B', POD, '-p', '5201'], 'iperf3 server');
    await new Promise((r) => setTimeout(r, 500));
    const node = topology.node.run;
    await new IptablesExecutor({ runner: node, family: 4, variant: 'nft' }).apply(planIptables(snapshot, { ...defaultPlannerOptions, family: 4, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] } }));
    bpffs = await mountLabBpffs(`${topology.prefix}-bench`);
    const interfaces = [CLIENT_LINK, pod.link];
    const results = { none: [], native: [], tc: [] };
    // Interleaved rounds, so drift on the machine hits every mode alike.
    for (let run = 0; run < RUNS; run++) {
      for (const mode of ['none', 'native', 'tc']) {
        let counters;
        if (mode !== 'none') {
          counters = new XdpCounters({ runner: node, bpffs, interfaces, mode });
          await counters.start();
          await counters.syncIndex(snapshot);
        }
        results[mode].push(await measure(topology.client.run));
        await counters?.cleanup();
      }
    }
    const summary = Object.fromEntries(Object.entries(results).map(([mode, list]) => [mode, { gbps: median(list.map((r) => r.gbps)), pps: median(list.map((r) => r.pps)) }]));
    console.log('counters', JSON.stringify(summary));
    const ratio = (mode, field) => (summary[mode][field] / summary.none[field]).toFixed(2);
    return [
      '## eBPF counters: their cost on the lab path',
      '',
      `iperf3 from the client namespace to a Service VIP (DNAT to one Pod), ${SECONDS} s per run, medians of ${RUNS} interleaved runs. Counters attached`,
      "to the node's client-facing and Pod-facing veth interfaces (ingress). Ratios are to the run with no counter.",
      '',
      '| counter | TCP throughput | ratio | UDP 64-byte packets/s received | ratio |',
      '|---|---|---|---|---|',
      `| none | ${summary.none.gbps.toFixed(2)} Gbit/s | 1.00× | ${Math.round(summary.none.pps).toLocaleString('en')} | 1.00× |`,
      `| XDP (native, veth) | ${summary.native.gbps.toFixed(2)} Gbit/s | ${ratio('native', 'gbps')}× | ${Math.round(summary.native.pps).toLocaleString('en')} | ${ratio('native', 'pps')}× |`,
      `| tc ingress | ${summary.tc.gbps.toFixed(2)} Gbit/s | ${ratio('tc', 'gbps')}× | ${Math.round(summary.tc.pps).toLocaleString('en')} | ${ratio('tc', 'pps')}× |`,
      '',
      'Native XDP on a veth makes the kernel run the peer in NAPI mode and turns off its TSO/GRO offloads, which is what',
      'TCP throughput pays for; tc ingress leaves the offloads alone and costs a per-packet lookup. `--xdp-mode tc` picks it.',
      '',
    ];
  } finally {
    await server?.stop('SIGTERM', 2000);
    await topology.destroy();
    if (bpffs) await unmountLabBpffs(bpffs);
  }
}
