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
    const call = { file, args: [...args], input: await drain(options.input) };
    this.calls.push(call);
    const answer = this.responder(call) ?? {};
    return { stdout: answer.stdout ?? '', stderr: answer.stderr ?? '', exitCode: answer.exitCode ?? 0 };
  }
}

async function drain(input: RunOptions['input']): Promise<string | undefined> {
  if (input === undefined || typeof input === 'string') return input;
  let text = '';
  for await (const piece of input) text += piece;
  return text;
}
