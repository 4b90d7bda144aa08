import { fileURLToPath } from 'node:url';
import { spawnInNamespace, type NamespacedProcess } from './processes.js';
import { READY_TIMEOUT_MS } from './topology.js';
import type { BurstRequest, BurstResult, TargetResult, TrafficTarget } from './traffic-protocol.js';

const CLIENT = fileURLToPath(new URL('./traffic-client.js', import.meta.url));

export type BurstOptions = Partial<Omit<BurstRequest, 'id' | 'targets'>>;

/** Host-side handle of the traffic client that runs in the client namespace. */
export class TrafficDriver {
  private nextId = 1;
  private readonly pending = new Map<number, (result: BurstResult) => void>();
  private consumed = 0;

  private constructor(private readonly process: NamespacedProcess) {}

  static async start(clientNamespace: string): Promise<TrafficDriver> {
    const proc = spawnInNamespace(clientNamespace, globalThis.process.execPath, [CLIENT], 'traffic client');
    await proc.waitForLine((line) => line === 'ready', READY_TIMEOUT_MS);
    const driver = new TrafficDriver(proc);
    proc.child.stdout!.on('data', () => driver.dispatch());
    return driver;
  }

  private dispatch(): void {
    // Lines are collected by NamespacedProcess; pick up the new ones after this tick's 'line' events.
    setImmediate(() => {
      while (this.consumed < this.process.lines.length) {
        const line = this.process.lines[this.consumed++]!;
        if (!line.startsWith('{')) continue;
        const result = JSON.parse(line) as BurstResult;
        this.pending.get(result.id)?.(result);
        this.pending.delete(result.id);
      }
    });
  }

  /** Sends `count` requests to each target and resolves with per-target, per-backend results. */
  burst(targets: readonly TrafficTarget[], options: BurstOptions = {}): Promise<TargetResult[]> {
    const request: BurstRequest = {
      id: this.nextId++,
      targets,
      count: options.count ?? 10,
      concurrency: options.concurrency ?? 4,
      intervalMs: options.intervalMs ?? 0,
      // Above TCP's 1 s first SYN retransmission: one lost SYN (a guest under emulation stalls now and then) is a
      // slow answer, not a failed request. Tests that expect no answer set their own, shorter limit.
      timeoutMs: options.timeoutMs ?? 3000,
      ...(options.sourcePortBase === undefined ? {} : { sourcePortBase: options.sourcePortBase }),
    };
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, (result) => resolve([...result.results]));
      this.process.child.stdin!.write(JSON.stringify(request) + '\n', (err) => err && reject(err));
    });
  }

  async stop(): Promise<void> {
    this.process.child.stdin!.end();
    await this.process.stop('SIGTERM', 2000);
  }
}
