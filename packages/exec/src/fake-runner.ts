import type { CommandResult, CommandRunner, RunOptions } from './command-runner.js';

export interface RecordedCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly input: string | undefined;
}

export type FakeResponder = (command: RecordedCommand) => Partial<CommandResult> | undefined;

/** A runner for unit tests of executors: records every call and answers from a responder (default: success, no output). */
export class FakeRunner implements CommandRunner {
  readonly where = 'fake';
  readonly calls: RecordedCommand[] = [];

  constructor(private readonly responder: FakeResponder = () => undefined) {}

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    // An iterable input is drained, as a real tool would read it all.
    const input = options.input === undefined || typeof options.input === 'string' ? options.input : [...options.input].join('');
    const call = { file, args: [...args], input };
    this.calls.push(call);
    const answer = this.responder(call) ?? {};
    return { stdout: answer.stdout ?? '', stderr: answer.stderr ?? '', exitCode: answer.exitCode ?? 0 };
  }
}
