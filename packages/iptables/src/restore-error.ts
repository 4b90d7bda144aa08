/** iptables-restore rejected its input; the kernel still holds the previous rules (a restore is atomic). */
export class RestoreError extends Error {
  constructor(
    readonly stderr: string,
    /** The 1-based input line the tool named, and its text, when it named one. */
    readonly line: number | undefined,
    readonly lineText: string | undefined,
    /** The lines up to and including the named one: the tool often names the COMMIT that checked the batch. */
    readonly context: readonly string[] = [],
  ) {
    super(`iptables-restore failed${line ? ` at line ${line}: ${lineText ?? ''}` : ''}: ${stderr.trim()}`);
    this.name = 'RestoreError';
  }

  static fromOutput(stderr: string, input: string): RestoreError {
    // "Error occurred at line: 7" (1.8.x, both variants), "iptables-restore: line 7 failed" (older releases).
    const match = /\bline:? (\d+)/.exec(stderr);
    const line = match ? Number(match[1]) : undefined;
    const lines = input.split('\n');
    const lineText = line ? lines[line - 1] : undefined;
    return new RestoreError(stderr, line, lineText, line ? lines.slice(Math.max(0, line - 4), line) : []);
  }
}
