import { parseCIDR as parseCIDRText } from '@hybrid-proxy/model';

/** A command line that cannot work: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Go-style durations as kube-proxy takes them: `500ms`, `30s`, `1m`, `1h30m`; a bare number is seconds. */
export function parseDuration(text: string, flag: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!match) throw new UsageError(`${flag} ${JSON.stringify(text)} is not a duration (examples: 500ms, 30s, 1m)`);
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  if (text.length === 0) throw new UsageError(`${flag} needs a duration`);
  return total;
}

export function parseCIDR(text: string, flag: string): string {
  const parsed = parseCIDRText(text);
  if (!parsed) throw new UsageError(`${flag} ${JSON.stringify(text)} is not a CIDR (for example 198.18.1.0/24 or fd00:18:1::/64)`);
  return parsed.cidr;
}

export function parseInteger(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || value < min || value > max) throw new UsageError(`${flag} ${JSON.stringify(text)} is not an integer in ${min}-${max}`);
  return value;
}

export function parseChoice<T extends string>(text: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${flag} ${JSON.stringify(text)} is not one of: ${choices.join(', ')}`);
  return text as T;
}
