import type { CommandResult, CommandRunner } from './command-runner.js';

type Input = string | Iterable<string> | AsyncIterable<string>;

/**
 * A command started before its input is known. Starting a tool costs milliseconds (more through `ip netns exec`),
 * and a caller bound by latency, such as a partial sync from a watch event, should not pay them when it has
 * something to say. The tool waits on its standard input until `feed` gives it the input, and its time limit
 * counts from then; `release` ends the input empty, which a restore tool takes as nothing to do.
 */
export class StandbyCommand {
  private give: (input: Input | undefined) => void = () => {};
  private readonly result: Promise<CommandResult>;
  private readonly abort = new AbortController();
  private taken = false;
  private exited = false;

  constructor(
    runner: CommandRunner,
    readonly file: string,
    readonly args: readonly string[],
    private readonly timeoutMs = 120_000,
  ) {
    const given = new Promise<Input | undefined>((resolve) => (this.give = resolve));
    async function* input(): AsyncGenerator<string> {
      const source = await given;
      if (typeof source === 'string') yield source;
      else if (source) yield* source;
    }
    this.result = runner.run(file, args, { input: input(), timeoutMs: 0, signal: this.abort.signal });
    this.result.then(
      () => (this.exited = true),
      () => (this.exited = true),
    );
  }

  /** Still waiting for its input: not fed, not released, and the process has not exited on its own. */
  get waiting(): boolean {
    return !this.taken && !this.exited;
  }

  /** Gives the command its input; resolves with its result once it exits. */
  feed(input: Input): Promise<CommandResult> {
    if (this.taken) throw new Error(`${this.file}: a standby command takes input once`);
    this.taken = true;
    const timer = setTimeout(() => this.abort.abort(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    this.give(input);
    return this.result.finally(() => clearTimeout(timer));
  }

  /** Ends the command with no input (if it was not fed), and waits for it to exit. */
  async release(): Promise<void> {
    if (!this.taken) {
      this.taken = true;
      this.give(undefined);
    }
    await this.result.catch(() => undefined);
  }
}
