import type { Rule, Table } from './rule-plan.js';

/** Quotes an argument the way iptables-save does, so that rendered text and read-back text compare. */
export function quoteArg(arg: string): string {
  // A loop over char codes, not a regex: a full sync at 10k Services renders 1.5M arguments.
  if (arg.length === 0) return '""';
  for (let i = 0; i < arg.length; i++) {
    const c = arg.charCodeAt(i);
    // whitespace, " ' and backslash
    if (c <= 32 || c === 34 || c === 39 || c === 92) return `"${arg.replace(/(["\\])/g, '\\$1')}"`;
  }
  return arg;
}

export function renderRule(chain: string, rule: Rule): string {
  return `-A ${chain} ${rule}`;
}

/** What one table's section of an iptables-restore input contains. */
export interface TableChange {
  readonly table: Table;
  /** Chains to (re)write: declared (which flushes them under --noflush) and filled. */
  readonly write: ReadonlyMap<string, readonly Rule[]>;
  /** Chains to delete: declared (flushed) first, then removed with -X after every rewrite. */
  readonly remove: readonly string[];
  /** Rules inserted at the head of chains that are not rewritten (`-I <chain> 1 <rule>`), after every write. */
  readonly insert?: readonly (readonly [string, Rule])[];
}

/**
 * Jump targets that the maker of a list of rules declared (declareJumpTargets). Reading a rule's text makes V8 copy
 * a rule built by concatenation into one flat string, as the 100k DNAT rules of a plan at 10k Services × 10 are:
 * in a first sync, 15 MiB of copies, kept beside the originals. A list not declared is read.
 */
const JUMP_TARGETS = Symbol('jump targets');
type Declared = { [JUMP_TARGETS]?: readonly string[] };

/** Declares the chains these rules jump or go to (built-in targets may be left out); returns the rules. */
export function declareJumpTargets<T extends readonly Rule[]>(rules: T, targets: readonly string[]): T {
  (rules as Declared)[JUMP_TARGETS] = targets;
  return rules;
}

/** What declareJumpTargets said of these rules, if anything. */
export function declaredJumpTargets(rules: readonly Rule[]): readonly string[] | undefined {
  return (rules as Declared)[JUMP_TARGETS];
}

/** A chain's rules jump to (or goto) these chains (and built-in targets, which are not chains of the change). */
export function jumpTargets(rules: readonly Rule[]): string[] {
  const targets: string[] = [];
  for (const rule of rules) {
    // The target is the last -j or -g: only a target's own arguments (DNAT's, MARK's) follow it, and comments
    // come before it.
    const spaced = Math.max(rule.lastIndexOf(' -j '), rule.lastIndexOf(' -g '));
    const at = spaced >= 0 ? spaced + 1 : rule.startsWith('-j ') || rule.startsWith('-g ') ? 0 : -1;
    if (at < 0) continue;
    const end = rule.indexOf(' ', at + 3);
    targets.push(rule.slice(at + 3, end < 0 ? undefined : end));
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
    const rules = chains.get(chain)!;
    for (const target of declaredJumpTargets(rules) ?? jumpTargets(rules)) if (chains.has(target)) visit(target);
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
  return [...restoreInputChunks(changes, options)].join('');
}

/** Lines per chunk of restoreInputChunks. */
const CHUNK_LINES = 1000;

/**
 * renderRestoreInput in pieces of about 1000 lines, each ending with a newline: fed to iptables-restore as they
 * are rendered, the tool parses and commits while the rest is still being written (a full sync at 10k Services
 * renders 120k-320k rules).
 */
export function* restoreInputChunks(changes: readonly TableChange[], options: RenderOptions = {}): Generator<string> {
  const limit = options.maxRulesPerCommit ?? Number.POSITIVE_INFINITY;
  let lines: string[] = [];
  const flush = () => {
    const chunk = lines.join('\n') + '\n';
    lines = [];
    return chunk;
  };
  for (const change of changes) {
    const inserts = change.insert ?? [];
    if (change.write.size === 0 && change.remove.length === 0 && inserts.length === 0) continue;
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
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i]!;
      const last = i === batches.length - 1;
      lines.push(`*${change.table}`);
      for (const chain of batch) lines.push(`:${chain} - [0:0]`);
      if (last) for (const chain of change.remove) lines.push(`:${chain} - [0:0]`);
      for (const chain of batch) {
        for (const rule of change.write.get(chain)!) lines.push(renderRule(chain, rule));
        if (lines.length >= CHUNK_LINES) yield flush();
      }
      if (last) for (const [chain, rule] of inserts) lines.push(`-I ${chain} 1 ${rule}`);
      if (last) for (const chain of change.remove) lines.push(`-X ${chain}`);
      lines.push('COMMIT');
    }
  }
  if (lines.length > 0) yield flush();
}
