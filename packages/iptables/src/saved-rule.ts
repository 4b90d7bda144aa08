import type { IPFamily } from '@hybrid-proxy/model';
import { parseSave } from './save-parser.js';
import { quoteArg, renderRule } from './restore-text.js';
import type { IptablesPlan, Table } from './rule-plan.js';

/**
 * iptables-save does not echo a rule as it was written: it quotes every comment, spells MARK's --or-mark and
 * --xor-mark as --set-xmark, names REJECT's default --reject-with, and prints a probability as the kernel
 * stores it (a 32-bit fraction, 11 digits). This brings a planned rule and a saved one to the same text, so that
 * the kernel can be read back and compared with the plan.
 */
export function canonicalRule(text: string, family: IPFamily): string {
  const tokens = tokenize(text);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token === '--comment' && next !== undefined) {
      out.push(token, `"${next.replace(/(["\\])/g, '\\$1')}"`);
      i++;
    } else if (token === '--probability' && next !== undefined) {
      // xt_statistic keeps lround(p × 2^31) and prints it back with %.11f.
      out.push(token, (Math.round(Number(next) * 0x80000000) / 0x80000000).toFixed(11));
      i++;
    } else if ((token === '--or-mark' || token === '--xor-mark') && next !== undefined) {
      out.push('--set-xmark', `${next}/${token === '--or-mark' ? next : '0x0'}`);
      i++;
    } else {
      out.push(quoteArg(token));
    }
  }
  if (/ -j REJECT$/.test(` ${out.join(' ')}`)) out.push('--reject-with', family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable');
  return out.join(' ');
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) tokens.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return tokens;
}

/** The chains of `tables` that hybrid-proxy owns, as canonical rule text, from a plan or from iptables-save. */
export type CanonicalTables = Record<Table, Map<string, string[]>>;

export function canonicalPlan(plan: IptablesPlan): CanonicalTables {
  const tables = { filter: new Map(), nat: new Map() } as CanonicalTables;
  for (const table of ['filter', 'nat'] as const) {
    for (const [chain, rules] of plan.tables[table]) tables[table].set(chain, rules.map((rule) => canonicalRule(renderRule(chain, rule), plan.family)));
  }
  return tables;
}

/** The KUBE-* chains of an iptables-save output, canonical (built-in chains and other owners' chains left out). */
export function canonicalSave(saved: string, family: IPFamily): CanonicalTables {
  const tables = { filter: new Map(), nat: new Map() } as CanonicalTables;
  for (const [name, table] of parseSave(saved)) {
    if (name !== 'filter' && name !== 'nat') continue;
    for (const [chain, rules] of table.chains) {
      if (chain.startsWith('KUBE-')) tables[name].set(chain, rules.map((rule) => canonicalRule(`-A ${chain} ${rule}`, family)));
    }
  }
  return tables;
}

/** Where the kernel differs from the plan: chain by chain, the first differing rule; empty when they are equal. */
export function planDrift(plan: IptablesPlan, saved: string): string[] {
  const want = canonicalPlan(plan);
  const have = canonicalSave(saved, plan.family);
  const drift: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    for (const [chain, rules] of want[table]) {
      const got = have[table].get(chain);
      if (!got) drift.push(`${table} ${chain}: missing`);
      else if (got.join('\n') !== rules.join('\n')) drift.push(`${table} ${chain}: ${rules.find((r, i) => r !== got[i]) ?? `${got.length} rules, ${rules.length} planned`}`);
    }
    for (const chain of have[table].keys()) if (!want[table].has(chain)) drift.push(`${table} ${chain}: not planned`);
  }
  return drift;
}
