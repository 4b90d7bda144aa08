/** The result of one external command; a non-zero exit is data, not an exception. */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface RunOptions {
  /**
   * Written to the command's standard input (iptables-restore, ipset restore, ...). An iterable is written piece by
   * piece as it is produced, so the tool works while the rest is still being rendered; an async iterable may also
   * wait for something before it writes more (the tool is already running by then).
   */
  readonly input?: string | Iterable<string> | AsyncIterable<string>;
  /** The command's time limit; 0: none (a StandbyCommand limits its own time once it has input). */
  readonly timeoutMs?: number;
  /** Aborting kills the command, which then fails with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Runs a tool with an argument array. Implementations never go through a shell. */
export interface CommandRunner {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Describes where commands run, for logs (`host` or `netns NAME`). */
  readonly where: string;
}

/** Thrown when a command exits non-zero and the caller asked for success. */
export class CommandError extends Error {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly result: CommandResult,
  ) {
    super(`${file} ${args.join(' ')} exited with ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'CommandError';
  }
}

/** Runs and insists on exit code 0. */
export async function runChecked(runner: CommandRunner, file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
  const result = await runner.run(file, args, options);
  if (result.exitCode !== 0) throw new CommandError(file, args, result);
  return result;
}
