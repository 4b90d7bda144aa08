import { cidrContains } from '@hybrid-proxy/model';
import { DUMMY_INTERFACE } from './ipvs-plan.js';

/** An `ip -batch` line that binds an address to kube-ipvs0, or unbinds it. */
export const addressLine = (verb: 'add' | 'del', ip: string): string => `addr ${verb} ${ip}${ip.includes(':') ? '/128' : '/32'} dev ${DUMMY_INTERFACE}`;

/** `ip -batch` lines that bind the desired VIPs to kube-ipvs0 and unbind the others: additions first. */
export function addressChanges(current: readonly string[], desired: readonly string[]): string[] {
  const have = new Set(current);
  const want = new Set(desired);
  return [...[...want].filter((ip) => !have.has(ip)).map((ip) => addressLine('add', ip)), ...[...have].filter((ip) => !want.has(ip)).map((ip) => addressLine('del', ip))];
}

/**
 * kube-proxy's --ipvs-exclude-cidrs: addresses in these ranges that the plan does not bind are someone else's (a
 * load balancer's, an operator's), so neither they nor their virtual servers are cleaned up. `bound` minus those.
 */
export function managedAddresses(bound: readonly string[], planned: readonly string[], excludeCIDRs: readonly string[]): string[] {
  if (excludeCIDRs.length === 0) return [...bound];
  const wanted = new Set(planned.map((address) => address.split('/')[0]!));
  return bound.filter((ip) => wanted.has(ip) || !excludeCIDRs.some((cidr) => cidrContains(cidr, ip)));
}
