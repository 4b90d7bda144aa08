import { describe, expect, it } from 'vitest';
import { CommandError, createRunner, StandbyPool } from '@hybrid-proxy/exec';

describe('StandbyPool.runPhased', () => {
  it('writes the removals only after `applied` resolves', async () => {
    // A real `cat` shows what the tool read, and in which order.
    const runner = createRunner();
    const pool = new StandbyPool(runner);
    let resolveApplied!: () => void;
    const applied = new Promise<void>((resolve) => (resolveApplied = resolve));
    const order: string[] = [];
    const run = pool.runPhased('sh', ['-c', 'cat > /dev/null'], ['add a 1'], ['del a 2'], applied).then(() => order.push('run done'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('applied');
    resolveApplied();
    await run;
    expect(order).toEqual(['applied', 'run done']);
  });

  it('never writes the removals when `applied` rejects, and throws a CommandError when the tool fails', async () => {
    const runner = createRunner();
    const pool = new StandbyPool(runner);
    const applied = Promise.reject(new Error('rules failed'));
    // The tool fails when it reads a removal: so a pass proves it never saw one.
    const script = 'while read -r line; do case "$line" in del*) exit 3;; esac; done';
    await expect(pool.runPhased('sh', ['-c', script], ['add a 1'], ['del a 2'], applied)).resolves.toBeUndefined();
    await expect(pool.runPhased('sh', ['-c', script], [], ['del a 2'], Promise.resolve())).rejects.toBeInstanceOf(CommandError);
  });

  it('runs nothing when there is nothing to change', async () => {
    const calls: string[] = [];
    const pool = new StandbyPool({ run: async (file) => (calls.push(file), { exitCode: 0, stdout: '', stderr: '' }) });
    await pool.runPhased('ipset', ['restore'], [], [], Promise.resolve());
    expect(calls).toEqual([]);
  });
});
