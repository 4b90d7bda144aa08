import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@hybrid-proxy/core';
import { classifyObjects, listManifestFiles, ManifestDirectorySource, readManifestFile, type ManifestObjects } from '@hybrid-proxy/watcher';
import { ApiServerProcess } from './api-server-process.js';
import { mountLabBpffs, unmountLabBpffs } from './lab-bpffs.js';
import { parsePrometheusText, type Sample } from './prometheus-text.js';
import type { CounterView } from './lab-report.js';
import type { Snapshot } from '@hybrid-proxy/model';
import { LAB_ADDRESSES } from './addresses.js';
import { podsFromManifests } from './manifest-pods.js';
import { spawnInNamespace, type NamespacedProcess } from './processes.js';
import { CLIENT_LINK, LabTopology } from './topology.js';
import { TrafficDriver } from './traffic-driver.js';
import type { TrafficPath, TrafficTarget } from './traffic-protocol.js';

const CLI = fileURLToPath(import.meta.resolve('@hybrid-proxy/core/cli'));

export interface LabNodeOptions {
  /** Service and EndpointSlice manifests: the proxy follows this directory, and the lab makes a Pod per endpoint. */
  readonly manifests: string;
  readonly mode?: 'iptables' | 'ipvs';
  /** Extra flags for `hybrid-proxy run`. */
  readonly proxyArgs?: readonly string[];
  /** Start the proxy right away (default true). */
  readonly startProxy?: boolean;
  /**
   * Serve the manifests from the API server double (in the node namespace, 127.0.0.1:6443) and have the proxy
   * follow it with --kubeconfig, instead of reading the directory.
   */
  readonly api?: boolean;
  /**
   * The eBPF traffic counters, attached to the node's client-facing and Pod-facing interfaces: `auto` (native XDP,
   * else generic, else tc), a mode, or `off`. Default `auto`.
   */
  readonly counters?: 'auto' | 'native' | 'generic' | 'tc' | 'off';
  /** Environment for the proxy process (default: this process's). */
  readonly proxyEnv?: NodeJS.ProcessEnv;
}

/** The lab's node name, for the proxy's --hostname-override and the Node object the API double serves. */
export const LAB_NODE_NAME = 'lab-node';

export interface SyncLog {
  readonly msg: string;
  readonly kind?: string;
  readonly services?: number;
}

/**
 * A whole sandboxed node: the topology, a Pod per endpoint, a traffic client, and hybrid-proxy running
 * through the real `hybrid-proxy run` code path inside the node namespace.
 */
export class LabNode {
  proxy: NamespacedProcess | undefined;
  api: ApiServerProcess | undefined;
  private kubeconfigDir: string | undefined;
  bpffs: string | undefined;

  private constructor(
    readonly topology: LabTopology,
    readonly traffic: TrafficDriver,
    readonly options: LabNodeOptions,
  ) {}

  static async start(options: LabNodeOptions): Promise<LabNode> {
    const topology = await LabTopology.create();
    try {
      for (const pod of await podsFromManifests(options.manifests)) await topology.addPod(pod);
      const traffic = await TrafficDriver.start(topology.client.namespace);
      const node = new LabNode(topology, traffic, options);
      if (options.api) await node.startApi();
      if ((options.counters ?? 'auto') !== 'off') node.bpffs = await mountLabBpffs(topology.prefix);
      if (options.startProxy !== false) await node.startProxy();
      return node;
    } catch (err) {
      await topology.destroy();
      throw err;
    }
  }

  private async startApi(): Promise<void> {
    this.api = await ApiServerProcess.start(this.topology.node.namespace);
    const objects: ManifestObjects = { services: [], endpointSlices: [] };
    for (const file of await listManifestFiles(this.options.manifests)) classifyObjects(await readManifestFile(file), objects);
    await this.api.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: LAB_NODE_NAME, labels: { 'topology.kubernetes.io/zone': 'lab-zone' } }, status: { addresses: [{ type: 'InternalIP', address: LAB_ADDRESSES.nodeIPv4 }] } });
    for (const object of [...objects.services, ...objects.endpointSlices]) await this.api.apply(object);
    this.kubeconfigDir = await mkdtemp(join(tmpdir(), 'hp-lab-kubeconfig-'));
  }

  /** `hybrid-proxy run` inside the node namespace; resolves after its first successful sync. */
  async startProxy(extraArgs: readonly string[] = []): Promise<SyncLog> {
    const source = this.api ? ['--kubeconfig', await this.api.writeKubeconfig(this.kubeconfigDir!)] : ['--manifests', this.options.manifests];
    const args = [
      CLI,
      'run',
      '--mode',
      this.options.mode ?? 'iptables',
      ...source,
      '--cluster-cidr',
      LAB_ADDRESSES.podCIDRv4,
      '--service-cidr',
      LAB_ADDRESSES.serviceCIDRv4,
      '--ip-families',
      '4',
      '--hostname-override',
      LAB_NODE_NAME,
      '--min-sync-period',
      '100ms',
      ...this.counterArgs(),
      ...(this.options.proxyArgs ?? []),
      ...extraArgs,
    ];
    this.proxy = spawnInNamespace(this.topology.node.namespace, process.execPath, args, 'hybrid-proxy', this.options.proxyEnv);
    return this.waitForSync(0);
  }

  private counterArgs(): string[] {
    if (!this.bpffs) return [];
    const interfaces = [CLIENT_LINK, ...[...this.topology.pods.values()].map((p) => p.link)];
    return ['--bpffs', this.bpffs, '--xdp-interfaces', interfaces.join(','), '--xdp-mode', this.options.counters ?? 'auto'];
  }

  /** The proxy's /metrics (127.0.0.1:10249 in the node namespace), parsed. */
  async metrics(): Promise<Sample[]> {
    const result = await this.topology.node.run.run('curl', ['-sf', '--max-time', '5', 'http://127.0.0.1:10249/metrics']);
    if (result.exitCode !== 0) throw new Error(`cannot scrape the proxy's metrics: curl exited ${result.exitCode}`);
    return parsePrometheusText(result.stdout);
  }

  /** The eBPF counters as the proxy exports them, keyed for the lab report (backends by Pod name). */
  async counterView(): Promise<CounterView> {
    const samples = await this.metrics();
    const podByEndpoint = new Map<string, string>();
    for (const pod of this.topology.pods.values()) for (const port of [...pod.tcpPorts, ...pod.udpPorts]) podByEndpoint.set(`${pod.ip}:${port}`, pod.name);
    const key = (l: Readonly<Record<string, string>>) => `${l['namespace']}/${l['service']}:${l['port']}`;
    const vips = new Map<string, { packets: number; bytes: number; pps: number }>();
    const backends = new Map<string, Record<string, number>>();
    for (const s of samples) {
      if (s.name === 'hybrid_proxy_vip_packets_total' || s.name === 'hybrid_proxy_vip_bytes_total' || s.name === 'hybrid_proxy_vip_packets_per_second') {
        const entry = vips.get(key(s.labels)) ?? { packets: 0, bytes: 0, pps: 0 };
        if (s.name.endsWith('packets_total')) entry.packets = s.value;
        else if (s.name.endsWith('bytes_total')) entry.bytes = s.value;
        else entry.pps = s.value;
        vips.set(key(s.labels), entry);
      } else if (s.name === 'hybrid_proxy_backend_packets_total') {
        const entry = backends.get(key(s.labels)) ?? {};
        entry[podByEndpoint.get(s.labels['endpoint'] ?? '') ?? s.labels['endpoint'] ?? '?'] = s.value;
        backends.set(key(s.labels), entry);
      }
    }
    return { vips, backends };
  }

  /** Waits for the proxy to log a sync that changed the kernel (periodic no-op resyncs do not count), at or after line `from`. */
  async waitForSync(from: number, timeoutMs = 120_000): Promise<SyncLog> {
    const proxy = this.proxy;
    if (!proxy) throw new Error('the proxy is not running');
    const index = await proxy.waitForLine((line) => line.includes('"msg":"synced"') && !line.includes('"kind":"unchanged"'), timeoutMs, from);
    return JSON.parse(proxy.lines[index]!) as SyncLog;
  }

  /** The index of the next proxy log line: pass it to waitForSync to wait for a sync after a change. */
  get logMark(): number {
    return this.proxy?.lines.length ?? 0;
  }

  async stopProxy(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const code = await this.proxy?.stop(signal);
    return code ?? null;
  }

  /** The service ports to drive traffic to, read from the manifests as the proxy reads them. */
  async snapshot(): Promise<Snapshot> {
    return new ManifestDirectorySource({ dir: this.options.manifests, logger: silentLogger, watch: false }).load();
  }

  async targets(): Promise<TrafficTarget[]> {
    return targetsOf(await this.snapshot());
  }

  async destroy(): Promise<void> {
    await this.traffic.stop().catch(() => undefined);
    await this.proxy?.stop('SIGTERM').catch(() => undefined);
    await this.api?.stop().catch(() => undefined);
    await this.topology.destroy();
    if (this.bpffs) await unmountLabBpffs(this.bpffs);
    if (this.kubeconfigDir) await rm(this.kubeconfigDir, { recursive: true, force: true });
  }
}

/**
 * Every way the client reaches each Service port over IPv4: its ClusterIP, and from outside the node its node port
 * on the node's address, its external IPs and its load-balancer IPs.
 */
export function targetsOf(snapshot: Snapshot, nodeIP: string = LAB_ADDRESSES.nodeIPv4): TrafficTarget[] {
  const targets: TrafficTarget[] = [];
  const v4 = (ips: readonly string[]) => ips.filter((a) => !a.includes(':'));
  for (const { service } of snapshot.entries.values()) {
    const { protocol } = service;
    if (protocol === 'SCTP') continue;
    const target = (via: TrafficPath, ip: string, port: number) => targets.push({ key: service.key, protocol, ip, port, via });
    for (const ip of v4(service.clusterIPs)) target('ClusterIP', ip, service.port);
    if (service.nodePort) target('NodePort', nodeIP, service.nodePort);
    for (const ip of v4(service.externalIPs)) target('ExternalIP', ip, service.port);
    for (const ip of v4(service.loadBalancerIPs)) target('LoadBalancer', ip, service.port);
  }
  return targets;
}
