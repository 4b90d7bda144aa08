import { isIPv4, isIPv6 } from 'node:net';
import type { IPFamily } from './types.js';

export interface ParsedIP {
  /** Canonical text: dotted quad, or RFC 5952 lower-case compressed IPv6. */
  readonly ip: string;
  readonly family: IPFamily;
}

/** Parses an IP address into canonical text, so that `FD00::0:1` and `fd00::1` are one endpoint. */
export function parseIP(value: unknown): ParsedIP | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 45) return undefined;
  if (isIPv4(value)) return { ip: value, family: 4 };
  if (isIPv6(value) && !value.includes('%')) {
    // The WHATWG URL parser serialises IPv6 hosts in RFC 5952 form: a pure, dependency-free canonicaliser.
    return { ip: new URL(`http://[${value}]/`).hostname.slice(1, -1), family: 6 };
  }
  return undefined;
}

/**
 * Addresses the API server refuses for endpoints (loopback, link-local, multicast, unspecified):
 * DNAT to them would hijack node-local traffic.
 */
export function isForbiddenEndpointAddress(parsed: ParsedIP): boolean {
  if (parsed.family === 4) {
    const [a = 0, b = 0] = parsed.ip.split('.').map(Number);
    return a === 0 || a === 127 || (a === 169 && b === 254) || a >= 224;
  }
  const ip = parsed.ip;
  return ip === '::' || ip === '::1' || /^fe[89ab]/.test(ip) || ip.startsWith('ff') || ip.startsWith('::ffff:');
}

/** `ip:port`, with brackets for IPv6, as kube-proxy writes endpoints. */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
