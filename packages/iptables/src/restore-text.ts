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

/** A chain's rules jump to (or goto) these chains. */
function jumpTargets(rules: readonly Rule[]): string[] {
  const targets: string[] = [];
  for (const rule of rules) {
    const at = rule.findIndex((arg) => arg === '-j' || arg === '-g');
    if (at >= 0 && rule[at + 1]) targets.push(rule[at + 1]!);
  }
  return targets;
}

/** Orders chains so that each comes after every chain it jumps to: a commit never references a chain not yet filled. */
export function orderByJumps(chains: ReadonlyMap<string, readonly Rule[]>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (chain: string): void => {
    if (state.has(chain)) return; // 'visiting' means a cycle, which iptables itself forbids: leave it to the tool
    state.set(chain, 'visiting');
    for (const target of jumpTargets(chains.get(chain)!)) if (chains.has(target)) visit(target);
    state.set(chain, 'done');
    order.push(chain);
  };
  for (const chain of chains.keys()) visit(chain);
  return order;
}

export interface RenderOptions {
  /**
   * Rules per COMMIT. iptables-nft-restore --noflush slows down faster than linearly with the size of one
   * transaction (measured: 16k rules 1.6 s, 32k 5.7 s, 64k 47 s), so large inputs are split into commits of about
   * this size, ordered by jumps; each commit is atomic and leaves a consistent ruleset. Default: no limit.
   */
  readonly maxRulesPerCommit?: number;
}

/**
 * Renders an iptables-restore --noflush input. Chains are declared (which flushes them) and filled in jump
 * order; chains to delete are flushed and removed in the last commit of their table, after every rewrite.
 */
export function renderRestoreInput(changes: readonly TableChange[], options: RenderOptions = {}): string {
  const limit = options.maxRulesPerCommit ?? Number.POSITIVE_INFINITY;
  const lines: string[] = [];
  for (const change of changes) {
    if (change.write.size === 0 && change.remove.length === 0) continue;
    const order = limit === Number.POSITIVE_INFINITY ? [...change.write.keys()] : orderByJumps(change.write);
    const batches: string[][] = [[]];
    let size = 0;
    for (const chain of order) {
      const rules = change.write.get(chain)!.length;
      if (size > 0 && size + rules > limit) {
        batches.push([]);
        size = 0;
      }
      batches.at(-1)!.push(chain);
      size += rules;
    }
    batches.forEach((batch, i) => {
      const last = i === batches.length - 1;
      lines.push(`*${change.table}`);
      for (const chain of batch) lines.push(`:${chain} - [0:0]`);
      if (last) for (const chain of change.remove) lines.push(`:${chain} - [0:0]`);
      for (const chain of batch) for (const rule of change.write.get(chain)!) lines.push(renderRule(chain, rule));
      if (last) for (const chain of change.remove) lines.push(`-X ${chain}`);
      lines.push('COMMIT');
    });
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
