import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandRunner } from '@hybrid-proxy/exec';
import { ApiServerProcess } from './api-server-process.js';
import { addNamespace, deleteNamespace, namespacePrefix } from './namespaces.js';
import { spawnInNamespace, type NamespacedProcess } from './processes.js';

const CLI = fileURLToPath(import.meta.resolve('@hybrid-proxy/core/cli'));

export interface ScaleNodeOptions {
  /** Services and EndpointSlices the API double serves from the start. */
  readonly objects: readonly unknown[];
  /** Flags for `hybrid-proxy run` besides the source, the family and the node name. */
  readonly proxyArgs: readonly string[];
  /** V8/Node flags for the proxy process (before the script), e.g. to compare heap settings. */
  readonly nodeArgs?: readonly string[];
}

/** One proxy's log line after a sync. */
export interface SyncLine {
  readonly msg: string;
  readonly kind?: string;
}

/**
 * A node without Pods, for scale: a namespace with the API double and the real `hybrid-proxy run` following it.
 * Large clusters are about rules and memory, not packets, so nothing else is set up.
 */
export class ScaleNode {
  proxy: NamespacedProcess | undefined;

  private constructor(
    readonly namespace: string,
    readonly run: CommandRunner,
    readonly api: ApiServerProcess,
    private readonly kubeconfigDir: string,
    private readonly options: ScaleNodeOptions,
  ) {}

  static async start(options: ScaleNodeOptions): Promise<ScaleNode> {
    const namespace = `${namespacePrefix()}-scale`;
    const run = await addNamespace(namespace);
    let api: ApiServerProcess | undefined;
    try {
      api = await ApiServerProcess.start(namespace);
      for (let i = 0; i < options.objects.length; i += 2000) await api.applyAll(options.objects.slice(i, i + 2000));
      return new ScaleNode(namespace, run, api, await mkdtemp(join(tmpdir(), 'hp-scale-kubeconfig-')), options);
    } catch (err) {
      await api?.stop().catch(() => undefined);
      await deleteNamespace(namespace);
      throw err;
    }
  }

  /** Starts the proxy and resolves after its first sync, with how long that took. */
  async startProxy(timeoutMs = 300_000): Promise<{ firstSyncMs: number }> {
    const kubeconfig = await this.api.writeKubeconfig(this.kubeconfigDir);
    const started = performance.now();
    this.proxy = spawnInNamespace(this.namespace, process.execPath, [...(this.options.nodeArgs ?? []), CLI, 'run', '--kubeconfig', kubeconfig, '--ip-families', '4', '--hostname-override', 'scale-node', ...this.options.proxyArgs], 'hybrid-proxy');
    await this.proxy.waitForLine((line) => line.includes('"msg":"synced"'), timeoutMs);
    return { firstSyncMs: performance.now() - started };
  }

  /** The proxy's sync log lines so far. */
  syncs(): SyncLine[] {
    return (this.proxy?.lines ?? []).filter((line) => line.includes('"msg":"synced"')).map((line) => JSON.parse(line) as SyncLine);
  }

  /** Resident memory of the proxy process, now and at its peak (VmRSS, VmHWM), in MiB. */
  async memory(): Promise<{ rssMiB: number; peakMiB: number }> {
    const status = await readFile(`/proc/${this.proxy!.pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
    return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
  }

  async destroy(): Promise<void> {
    await this.proxy?.stop('SIGTERM').catch(() => undefined);
    await this.api.stop().catch(() => undefined);
    await deleteNamespace(this.namespace);
    await rm(this.kubeconfigDir, { recursive: true, force: true });
  }
}
