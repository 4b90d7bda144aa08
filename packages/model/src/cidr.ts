import { parseIP } from './ip-address.js';
import type { IPFamily } from './types.js';

export interface ParsedCIDR {
  /** Canonical `address/bits`, with the address as written (host bits kept, as iptables takes it). */
  readonly cidr: string;
  readonly family: IPFamily;
  readonly bits: number;
}

/** `198.18.0.0/16` or `fd00:18::/64` in canonical text; undefined for anything else. */
export function parseCIDR(text: unknown): ParsedCIDR | undefined {
  if (typeof text !== 'string') return undefined;
  const [address, prefix, extra] = text.trim().split('/');
  const parsed = parseIP(address);
  if (!parsed || extra !== undefined || !/^\d{1,3}$/.test(prefix ?? '')) return undefined;
  const bits = Number(prefix);
  if (bits > (parsed.family === 4 ? 32 : 128)) return undefined;
  return { cidr: `${parsed.ip}/${bits}`, family: parsed.family, bits };
}

/** The address as one integer, to compare prefixes of either family alike. */
function addressValue(ip: string, family: IPFamily): bigint {
  if (family === 4) return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n);
  const [head = '', tail = ''] = ip.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill('0'), ...tailParts] : headParts;
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** Whether `ip` lies inside `cidr` (false across families). */
export function cidrContains(cidr: string, ip: string): boolean {
  const range = parseCIDR(cidr);
  const address = parseIP(ip);
  if (!range || !address || range.family !== address.family) return false;
  const width = BigInt(range.family === 4 ? 32 : 128);
  const shift = width - BigInt(range.bits);
  return addressValue(range.cidr.split('/')[0]!, range.family) >> shift === addressValue(address.ip, address.family) >> shift;
}
