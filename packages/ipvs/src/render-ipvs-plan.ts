import { createSetLine, renderPlan } from '@hybrid-proxy/iptables';
import { DUMMY_INTERFACE, type IpvsPlan } from './ipvs-plan.js';
import { realServerLine, virtualServerLine } from './ipvsadm-text.js';

/** The whole plan as text, in each tool's own input format: what `hybrid-proxy plan --mode ipvs` prints and the golden files hold. */
export function renderIpvsPlan(plan: IpvsPlan): string {
  const bits = plan.family === 6 ? '/128' : '/32';
  return [
    `# ip -batch: ${DUMMY_INTERFACE} addresses`,
    ...plan.addresses.map((ip) => `addr add ${ip}${bits} dev ${DUMMY_INTERFACE}`),
    '# ipset restore',
    ...plan.ipsets.flatMap((set) => [createSetLine(set), ...[...set.entries].sort().map((e) => `add ${set.name} ${e}`)]),
    '# ipvsadm -R',
    ...plan.virtualServers.flatMap((vs) => [virtualServerLine(vs), ...vs.reals.map((real) => realServerLine(vs, real))]),
    '# iptables-restore --noflush',
    renderPlan(plan.iptables).trimEnd(),
    '',
  ].join('\n');
}
