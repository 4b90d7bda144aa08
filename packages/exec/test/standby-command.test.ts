import { describe, expect, it } from 'vitest';
import { createRunner, FakeRunner, StandbyCommand } from '@hybrid-proxy/exec';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('StandbyCommand', () => {
  it('starts the command at once and gives it its input only when fed', async () => {
    const runner = new FakeRunner();
    const command = new StandbyCommand(runner, 'iptables-restore', ['--noflush']);
    await tick();
    // The fake records a call once it has read all of its input: not before the feed.
    expect(runner.calls).toEqual([]);
    expect(command.waiting).toBe(true);
    const result = command.feed('*nat\nCOMMIT\n');
    expect(command.waiting).toBe(false);
    expect((await result).exitCode).toBe(0);
    expect(runner.calls).toEqual([{ file: 'iptables-restore', args: ['--noflush'], input: '*nat\nCOMMIT\n' }]);
  });

  it('streams an iterable input', async () => {
    const runner = new FakeRunner();
    const command = new StandbyCommand(runner, 'ipset', ['restore']);
    async function* lines() {
      yield 'add a 1\n';
      yield 'add a 2\n';
    }
    await command.feed(lines());
    expect(runner.calls[0]!.input).toBe('add a 1\nadd a 2\n');
  });

  it('is released with an empty input, and takes input once', async () => {
    const runner = new FakeRunner();
    const released = new StandbyCommand(runner, 'ipset', ['restore']);
    await released.release();
    expect(runner.calls).toEqual([{ file: 'ipset', args: ['restore'], input: '' }]);
    expect(released.waiting).toBe(false);
    expect(() => released.feed('x')).toThrow(/once/);
  });

  it('is not waiting once the process has exited on its own', async () => {
    const runner = { where: 'fake', run: () => Promise.resolve({ stdout: '', stderr: 'killed', exitCode: 137 }) };
    const command = new StandbyCommand(runner, 'iptables-restore', []);
    await tick();
    expect(command.waiting).toBe(false);
  });

  it('has no time limit while it waits, and its limit once fed kills a tool that does not finish', async () => {
    // A real process: `sleep` ignores its input and would run for 30 s.
    const command = new StandbyCommand(createRunner(), 'sleep', ['30'], 200);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(command.waiting).toBe(true);
    await expect(command.feed('')).rejects.toThrow(/sleep 30 was stopped: Error: timed out after 200 ms/);
  });
});
