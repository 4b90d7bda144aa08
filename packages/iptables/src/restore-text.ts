import type { Rule, Table } from './rule-plan.js';

/** Quotes an argument the way iptables-save does, so that rendered text and read-back text compare. */
export function quoteArg(arg: string): string {
  return /^[^\s"'\\]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

export function renderRule(chain: string, rule: Rule): string {
  return `-A ${chain} ${rule.map(quoteArg).join(' ')}`;
}

/** What one table's section of an iptables-restore input contains. */
export interface TableChange {
  readonly table: Table;
  /** Chains to (re)write: declared (which flushes them under --noflush) and filled. */
  readonly write: ReadonlyMap<string, readonly Rule[]>;
  /** Chains to delete: declared (flushed) first, then removed with -X after every rewrite. */
  readonly remove: readonly string[];
}

/**
 * Renders an iptables-restore --noflush input. Lines are counted as they are written so that an error
 * message naming a line can be mapped back to the rule it came from.
 */
export function renderRestoreInput(changes: readonly TableChange[]): string {
  const lines: string[] = [];
  for (const change of changes) {
    if (change.write.size === 0 && change.remove.length === 0) continue;
    lines.push(`*${change.table}`);
    for (const chain of change.write.keys()) lines.push(`:${chain} - [0:0]`);
    for (const chain of change.remove) lines.push(`:${chain} - [0:0]`);
    for (const [chain, rules] of change.write) for (const rule of rules) lines.push(renderRule(chain, rule));
    for (const chain of change.remove) lines.push(`-X ${chain}`);
    lines.push('COMMIT');
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
