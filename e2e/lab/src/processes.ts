import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A process started inside a namespace, with its stdout lines collected (the proxy logs JSON there). */
export class NamespacedProcess {
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess, readonly label: string) {
    const reader = createInterface({ input: child.stdout! });
    reader.on('line', (line) => {
      this.lines.push(line);
      for (const wake of this.waiters) wake();
    });
    const stderr = createInterface({ input: child.stderr! });
    stderr.on('line', (line) => this.lines.push(line));
    this.exited = new Promise((resolve) => child.once('exit', (code) => {
      for (const wake of this.waiters) wake();
      resolve(code);
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for a stdout line matching `test`, starting from line `from`; returns its index. */
  async waitForLine(test: (line: string) => boolean, timeoutMs: number, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.lines.findIndex((line, i) => i >= from && test(line));
      if (index >= 0) return index;
      if (!this.running) throw new Error(`${this.label} exited before the expected output:\n${this.lines.slice(-20).join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for output:\n${this.lines.slice(-20).join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      }).finally(() => this.waiters.clear());
    }
  }

  /** Signals this process (by the PID we started) and waits for it to exit; SIGKILL after the (generous: VM lane) timeout. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<number | null> {
    if (this.running) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }
}

/** Starts `file args` inside a namespace with `ip netns exec` (exec replaces ip, so the PID is the program's). */
export function spawnInNamespace(namespace: string, file: string, args: readonly string[], label: string, env?: NodeJS.ProcessEnv): NamespacedProcess {
  const child = spawn('ip', ['netns', 'exec', namespace, file, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  return new NamespacedProcess(child, label);
}
