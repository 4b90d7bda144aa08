import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { NamespacedProcess, spawnInNamespace } from './processes.js';
import { READY_TIMEOUT_MS } from './topology.js';

const MAIN = fileURLToPath(new URL('./api-server-main.js', import.meta.url));

/** Host-side handle of an API double running inside a namespace (where the proxy can reach it). */
export class ApiServerProcess {
  private nextId = 1;

  private constructor(
    private readonly process: NamespacedProcess,
    readonly url: string,
  ) {}

  /** Starts the double inside `namespace`, or in this host's namespace (loopback only) when it is undefined. */
  static async start(namespace: string | undefined, host = '127.0.0.1', port = 6443): Promise<ApiServerProcess> {
    const args = [MAIN, host, String(port)];
    const proc = namespace
      ? spawnInNamespace(namespace, globalThis.process.execPath, args, 'API double')
      : new NamespacedProcess(spawn(globalThis.process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] }), 'API double');
    await proc.waitForLine((line) => line === 'ready', READY_TIMEOUT_MS);
    return new ApiServerProcess(proc, `http://${host}:${port}`);
  }

  private async command(command: Record<string, unknown>): Promise<number> {
    const id = this.nextId++;
    this.process.child.stdin!.write(JSON.stringify({ id, ...command }) + '\n');
    const index = await this.process.waitForLine((line) => line.startsWith(`{"id":${id},`), 120_000);
    const reply = JSON.parse(this.process.lines[index]!) as { ok: boolean; resourceVersion: number; error?: string };
    if (!reply.ok) throw new Error(`API double: ${reply.error}`);
    return reply.resourceVersion;
  }

  apply(object: unknown): Promise<number> {
    return this.command({ op: 'apply', object });
  }

  /** Applies many objects in one command: one event each, back to back. */
  applyAll(objects: readonly unknown[]): Promise<number> {
    return this.command({ op: 'applyAll', objects });
  }

  remove(kind: string, namespace: string | undefined, name: string): Promise<number> {
    return this.command({ op: 'remove', kind, namespace, name });
  }

  compact(): Promise<number> {
    return this.command({ op: 'compact' });
  }

  dropWatches(): Promise<number> {
    return this.command({ op: 'drop' });
  }

  goDown(): Promise<number> {
    return this.command({ op: 'stop' });
  }

  comeBack(): Promise<number> {
    return this.command({ op: 'start' });
  }

  /** Writes a kubeconfig pointing at this server into `dir`; returns its path. */
  async writeKubeconfig(dir: string): Promise<string> {
    const path = join(dir, 'kubeconfig.yaml');
    await writeFile(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        // Plain http, as `kubectl proxy` serves it: no insecure-skip-tls-verify, which the proxy must not need.
        `clusters: [{ name: lab, cluster: { server: "${this.url}" } }]`,
        'users: [{ name: hybrid-proxy, user: {} }]',
        'contexts: [{ name: lab, context: { cluster: lab, user: hybrid-proxy } }]',
        'current-context: lab',
        '',
      ].join('\n'),
    );
    return path;
  }

  async stop(): Promise<void> {
    this.process.child.stdin!.end();
    await this.process.stop('SIGTERM', 2000);
  }
}
