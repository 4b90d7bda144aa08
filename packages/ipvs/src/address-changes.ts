import { cidrContains } from '@hybrid-proxy/model';
import { DUMMY_INTERFACE } from './ipvs-plan.js';

/** `ip -batch` lines that bind the desired VIPs to kube-ipvs0 and unbind the others. */
export function addressChanges(current: readonly string[], desired: readonly string[]): string[] {
  const have = new Set(current);
  const want = new Set(desired);
  const bits = (ip: string) => (ip.includes(':') ? '/128' : '/32');
  return [
    ...[...have].filter((ip) => !want.has(ip)).map((ip) => `addr del ${ip}${bits(ip)} dev ${DUMMY_INTERFACE}`),
    ...[...want].filter((ip) => !have.has(ip)).map((ip) => `addr add ${ip}${bits(ip)} dev ${DUMMY_INTERFACE}`),
  ];
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
