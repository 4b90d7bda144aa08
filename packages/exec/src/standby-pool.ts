import { CommandError, type CommandResult, type CommandRunner, type RunOptions } from './command-runner.js';
import { StandbyCommand } from './standby-command.js';

/**
 * Restore tools started ahead for the next sync, one per file: `prepare` starts those not already waiting (after a
 * sync has returned, since starting a process blocks this thread for milliseconds), `run` feeds a waiting one when
 * its arguments match and starts the tool afresh otherwise, and `close` ends them with no input.
 */
export class StandbyPool {
  private readonly waiting = new Map<string, StandbyCommand>();
  private pending: NodeJS.Immediate | undefined;

  constructor(private readonly runner: CommandRunner) {}

  /** Starts these commands on the next turn of the event loop, unless one waits for the same file already. */
  prepare(commands: readonly (readonly [file: string, args: readonly string[]])[]): void {
    clearImmediate(this.pending);
    this.pending = setImmediate(() => {
      for (const [file, args] of commands) {
        if (this.waiting.get(file)?.waiting) continue;
        this.waiting.set(file, new StandbyCommand(this.runner, file, args));
      }
    });
  }

  /** Runs a command with this input: in its standby process when one waits with the same arguments, else afresh. */
  run(file: string, args: readonly string[], input: NonNullable<RunOptions['input']>): Promise<CommandResult> {
    const standby = this.waiting.get(file);
    this.waiting.delete(file);
    if (standby?.waiting && standby.args.join(' ') === args.join(' ')) return standby.feed(input);
    void standby?.release();
    return this.runner.run(file, args, { input });
  }

  /**
   * One checked run whose input gives `adds` at once and `removals` only once `applied` resolves (never if it
   * rejects): a member or address is added before the rules that lead to it, and removed only after they are gone.
   */
  async runPhased(file: string, args: readonly string[], adds: readonly string[], removals: readonly string[], applied: Promise<unknown>): Promise<void> {
    if (adds.length === 0 && removals.length === 0) return;
    async function* input(): AsyncGenerator<string> {
      if (adds.length > 0) yield adds.join('\n') + '\n';
      if (removals.length > 0 && (await applied.then(() => true, () => false))) yield removals.join('\n') + '\n';
    }
    const result = await this.run(file, args, input());
    if (result.exitCode !== 0) throw new CommandError(file, [...args], result);
  }

  /** Ends every waiting command; nothing is applied. */
  async close(): Promise<void> {
    clearImmediate(this.pending);
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    await Promise.all(waiting.map((command) => command.release()));
  }
}
