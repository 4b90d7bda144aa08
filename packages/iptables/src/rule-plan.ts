import type { IPFamily } from '@hybrid-proxy/model';
import type { IpsetPlan } from './ipset-text.js';
import { quoteArg } from './restore-text.js';

export type Table = 'filter' | 'nat';
export const TABLES: readonly Table[] = ['filter', 'nat'];

/**
 * One rule: what follows `-A <chain> ` in iptables-restore input, each argument quoted as iptables-save prints it.
 * Text rather than an array of arguments: a plan at 10k Services holds 120k rules, and one string per rule (often
 * a shared prefix joined to the endpoint) is a fraction of the objects, so a cold plan spends far less in GC.
 */
export type Rule = string;

/** A rule from its arguments. */
export function ruleText(args: readonly string[]): Rule {
  return args.map(quoteArg).join(' ');
}

/** A table as data: chains in the order they are declared, each with its rules in order. */
export type TablePlan = ReadonlyMap<string, readonly Rule[]>;

/** A jump from a built-in chain into one of ours, ensured with `-C` / `-I` outside the restore. */
export interface BuiltinJump {
  readonly table: Table;
  readonly chain: string;
  readonly target: string;
  /** Match arguments, including the comment; the jump itself (`-j target`) is appended. */
  readonly match: readonly string[];
}

/** The desired iptables state for one IP family, as pure data. */
export interface IptablesPlan {
  readonly family: IPFamily;
  readonly tables: Readonly<Record<Table, TablePlan>>;
  readonly jumps: readonly BuiltinJump[];
  /** Sets the rules match on; the executor creates them and keeps their members (the dispatch gate). */
  readonly ipsets: readonly IpsetPlan[];
}

export function countRules(table: TablePlan): number {
  let count = 0;
  for (const rules of table.values()) count += rules.length;
  return count;
}
