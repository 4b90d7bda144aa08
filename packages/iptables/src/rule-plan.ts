import type { IPFamily } from '@hybrid-proxy/model';
import type { IpsetPlan } from './ipset-text.js';

export type Table = 'filter' | 'nat';
export const TABLES: readonly Table[] = ['filter', 'nat'];

/** One rule: the arguments that follow `-A <chain>` in iptables-restore input. */
export type Rule = readonly string[];

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
