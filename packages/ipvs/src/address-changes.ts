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
