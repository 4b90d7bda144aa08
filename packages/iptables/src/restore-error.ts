/** iptables-restore rejected its input; the kernel still holds the previous rules (a restore is atomic). */
export class RestoreError extends Error {
  constructor(
    readonly stderr: string,
    /** The 1-based input line the tool named, and its text, when it named one. */
    readonly line: number | undefined,
    readonly lineText: string | undefined,
  ) {
    super(`iptables-restore failed${line ? ` at line ${line}: ${lineText ?? ''}` : ''}: ${stderr.trim()}`);
    this.name = 'RestoreError';
  }

  static fromOutput(stderr: string, input: string): RestoreError {
    // nft: "line 7: RULE_APPEND failed ..."; legacy: "iptables-restore: line 7 failed".
    const match = /line (\d+)/.exec(stderr);
    const line = match ? Number(match[1]) : undefined;
    const lineText = line ? input.split('\n')[line - 1] : undefined;
    return new RestoreError(stderr, line, lineText);
  }
}
