import { fileURLToPath } from 'node:url';
import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { assertLabAddress, LAB_ADDRESSES } from './addresses.js';
import { addNamespace, deleteNamespace, namespacePrefix, removeStaleNamespaces } from './namespaces.js';
import { NamespacedProcess, spawnInNamespace } from './processes.js';

export interface PodSpec {
  readonly name: string;
  readonly ip: string;
  readonly tcpPorts: readonly number[];
  readonly udpPorts: readonly number[];
}

export interface LabPod extends PodSpec {
  readonly namespace: string;
  /** The node-side end of the Pod's veth pair. */
  readonly link: string;
  readonly server: NamespacedProcess;
}

/** Every lab Pod answers `GET /stats` here with { name, tcp, udp }: what it served. */
export const POD_STATS_PORT = 9999;

/** The node's interface towards the client. */
export const CLIENT_LINK = 'client0';

export interface Host {
  readonly namespace: string;
  readonly run: CommandRunner;
}

const POD_SERVER = fileURLToPath(new URL('./pod-server.js', import.meta.url));

/** Upper bounds, generous for the VM lane's software emulation, where a node process takes seconds to start. */
export const READY_TIMEOUT_MS = 60_000;

/**
 * A node in network namespaces: `client` ── veth ── `node` ── veth per Pod ── `pod-*`.
 * The node routes between them (ip_forward) and is where the proxy runs. Nothing is created in the
 * host namespace: each veth pair is created directly inside the namespaces it joins.
 */
export class LabTopology {
  readonly pods = new Map<string, LabPod>();
  private podCount = 0;

  private constructor(
    readonly prefix: string,
    readonly node: Host,
    readonly client: Host,
  ) {}

  static async create(): Promise<LabTopology> {
    await removeStaleNamespaces();
    const prefix = namespacePrefix();
    const created: string[] = [];
    try {
      const nodeName = `${prefix}-node`;
      const clientName = `${prefix}-client`;
      const node = { namespace: nodeName, run: await addNamespace(nodeName) };
      created.push(nodeName);
      const client = { namespace: clientName, run: await addNamespace(clientName) };
      created.push(clientName);
      const topology = new LabTopology(prefix, node, client);
      await topology.wireClient();
      return topology;
    } catch (err) {
      for (const name of created) await deleteNamespace(name);
      throw err;
    }
  }

  private async wireClient(): Promise<void> {
    const { node, client } = this;
    await runChecked(client.run, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', CLIENT_LINK, 'netns', node.namespace]);
    await runChecked(client.run, 'ip', ['addr', 'add', `${LAB_ADDRESSES.clientIPv4}/24`, 'dev', 'eth0']);
    await runChecked(client.run, 'ip', ['-6', 'addr', 'add', `${LAB_ADDRESSES.clientIPv6}/64`, 'dev', 'eth0', 'nodad']);
    await runChecked(client.run, 'ip', ['link', 'set', 'eth0', 'up']);
    await runChecked(node.run, 'ip', ['addr', 'add', `${LAB_ADDRESSES.nodeIPv4}/24`, 'dev', CLIENT_LINK]);
    await runChecked(node.run, 'ip', ['-6', 'addr', 'add', `${LAB_ADDRESSES.nodeIPv6}/64`, 'dev', CLIENT_LINK, 'nodad']);
    await runChecked(node.run, 'ip', ['link', 'set', CLIENT_LINK, 'up']);
    // The client reaches Services and Pods through the node, as a machine outside the cluster network would.
    await runChecked(client.run, 'ip', ['route', 'add', LAB_ADDRESSES.serviceCIDRv4, 'via', LAB_ADDRESSES.nodeIPv4]);
    await runChecked(client.run, 'ip', ['route', 'add', LAB_ADDRESSES.podCIDRv4, 'via', LAB_ADDRESSES.nodeIPv4]);
    await runChecked(client.run, 'ip', ['route', 'add', LAB_ADDRESSES.externalCIDRv4, 'via', LAB_ADDRESSES.nodeIPv4]);
    await runChecked(client.run, 'ip', ['-6', 'route', 'add', LAB_ADDRESSES.serviceCIDRv6, 'via', LAB_ADDRESSES.nodeIPv6]);
    // A real node has a default route to its upstream; here the client plays that router. Without it, traffic to a
    // VIP without endpoints fails routing before the filter table's REJECT can answer it.
    await runChecked(node.run, 'ip', ['route', 'add', 'default', 'via', LAB_ADDRESSES.clientIPv4]);
    await runChecked(node.run, 'ip', ['-6', 'route', 'add', 'default', 'via', LAB_ADDRESSES.clientIPv6]);
    await runChecked(node.run, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    // The kernel rate-limits the ICMP errors that REJECT sends; lift that in the lab so every rejected request shows.
    await runChecked(node.run, 'sysctl', ['-qw', 'net.ipv4.icmp_ratelimit=0', 'net.ipv4.icmp_msgs_per_sec=100000', 'net.ipv6.icmp.ratelimit=0']);
  }

  /** Adds a Pod: its namespace, a /32 (or /128) route from the node, and its server answering with its name. */
  async addPod(spec: PodSpec): Promise<LabPod> {
    assertLabAddress(spec.ip);
    const v6 = spec.ip.includes(':');
    const index = this.podCount++;
    const namespace = `${this.prefix}-pod${index}`;
    const link = `pod${index}`;
    const run = await addNamespace(namespace);
    try {
      const gateway = v6 ? LAB_ADDRESSES.podGatewayIPv6 : LAB_ADDRESSES.podGatewayIPv4;
      const bits = v6 ? '/128' : '/32';
      const family = v6 ? ['-6'] : [];
      await runChecked(run, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', link, 'netns', this.node.namespace]);
      await runChecked(run, 'ip', [...family, 'addr', 'add', spec.ip + bits, 'dev', 'eth0', ...(v6 ? ['nodad'] : [])]);
      await runChecked(run, 'ip', ['link', 'set', 'eth0', 'up']);
      await runChecked(run, 'ip', [...family, 'route', 'add', gateway, 'dev', 'eth0']);
      await runChecked(run, 'ip', [...family, 'route', 'add', 'default', 'via', gateway, 'dev', 'eth0']);
      await runChecked(this.node.run, 'ip', [...family, 'addr', 'add', gateway + bits, 'dev', link, ...(v6 ? ['nodad'] : [])]);
      await runChecked(this.node.run, 'ip', ['link', 'set', link, 'up']);
      await runChecked(this.node.run, 'ip', [...family, 'route', 'add', spec.ip + bits, 'dev', link]);
      const server = spawnInNamespace(namespace, process.execPath, [POD_SERVER, JSON.stringify(spec)], `pod ${spec.name}`);
      await server.waitForLine((line) => line === 'ready', READY_TIMEOUT_MS);
      const pod: LabPod = { ...spec, namespace, link, server };
      this.pods.set(spec.name, pod);
      return pod;
    } catch (err) {
      await deleteNamespace(namespace);
      throw err;
    }
  }

  /** What a Pod's server says it served. */
  async podStats(name: string): Promise<{ tcp: number; udp: number }> {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod ${name}`);
    const result = await runChecked(this.node.run, 'curl', ['-sf', '--max-time', '5', `http://${pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip}:${POD_STATS_PORT}/stats`]);
    return JSON.parse(result.stdout) as { tcp: number; udp: number };
  }

  /** Stops a Pod's server, as when a Pod is deleted: connections to it are refused from then on. */
  async stopPod(name: string): Promise<void> {
    await this.pods.get(name)?.server.stop('SIGKILL');
  }

  /** Removes every namespace (and so every rule, route and process in them). Safe to call twice. */
  async destroy(): Promise<void> {
    for (const pod of this.pods.values()) await pod.server.stop('SIGKILL');
    for (const pod of this.pods.values()) await deleteNamespace(pod.namespace);
    this.pods.clear();
    await deleteNamespace(this.client.namespace);
    await deleteNamespace(this.node.namespace);
  }
}
