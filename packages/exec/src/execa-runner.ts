import { execa } from 'execa';
import type { CommandResult, CommandRunner, RunOptions } from './command-runner.js';
import { ToolMissingError } from './missing-tool.js';

export interface ExecaRunnerOptions {
  /**
   * Run every command inside this network namespace (`ip netns exec NAME ...`). Used by tests and the lab,
   * which drive a namespace from outside; the proxy itself runs inside its namespace and leaves this unset.
   */
  readonly netns?: string;
  /** A command's time limit unless the call gives one (default 120 s; emulated machines need more). */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

export function createRunner(options: ExecaRunnerOptions = {}): CommandRunner {
  const { netns } = options;
  const defaultTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    where: netns ? `netns ${netns}` : 'host',
    async run(file: string, args: readonly string[], runOptions: RunOptions = {}): Promise<CommandResult> {
      const [command, argv] = netns ? ['ip', ['netns', 'exec', netns, file, ...args]] : [file, [...args]];
      const result = await execa(command, argv, {
        reject: false,
        ...(typeof runOptions.input === 'string' ? { input: runOptions.input } : { stdin: runOptions.input ?? 'ignore' }),
        timeout: runOptions.timeoutMs ?? defaultTimeout,
        ...(runOptions.signal ? { cancelSignal: runOptions.signal } : {}),
        stripFinalNewline: false,
        maxBuffer: 1024 * 1024 * 1024,
      });
      const missing =
        (result.code === 'ENOENT' && !netns) ||
        // `ip netns exec` reports a missing program itself, with exit code 255.
        (netns !== undefined && result.exitCode === 255 && /exec of "[^"]*" failed: No such file/.test(result.stderr));
      if (missing) throw new ToolMissingError(result.code === 'ENOENT' ? command : file);
      if (result.isCanceled) throw new Error(`${file} ${args.join(' ')} was stopped: ${String(runOptions.signal?.reason ?? 'aborted')}`);
      if (result.timedOut) throw new Error(`${file} ${args.join(' ')} timed out after ${runOptions.timeoutMs ?? defaultTimeout} ms`);
      if (result.exitCode === undefined) throw new Error(`${file} could not run: ${result.shortMessage}`);
      return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
    },
  };
}
