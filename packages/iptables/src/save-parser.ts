import type { Table } from './rule-plan.js';

export interface SavedTable {
  /** Every chain with its `-A` lines (without the `-A CHAIN ` prefix), built-ins included. */
  readonly chains: Map<string, string[]>;
}

/** Parses iptables-save output into tables and chains: the read-back side of the executor and the tests. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: SavedTable | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      current = { chains: new Map() };
      tables.set(line.slice(1).trim(), current);
    } else if (!current || line.startsWith('#') || line === 'COMMIT') {
      continue;
    } else if (line.startsWith(':')) {
      current.chains.set(line.slice(1).split(' ')[0]!, []);
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = rest.slice(0, space);
      const rule = rest.slice(space + 1);
      const rules = current.chains.get(chain);
      if (rules) rules.push(rule);
      else current.chains.set(chain, [rule]);
    }
  }
  return tables;
}

export function chainNames(saved: Map<string, SavedTable>, table: Table): string[] {
  return [...(saved.get(table)?.chains.keys() ?? [])];
}
