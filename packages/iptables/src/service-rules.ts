import { joinHostPort, localTrafficMatch, type Endpoint, type ServiceEntry, type ServicePort } from '@hybrid-proxy/model';
import { endpointChainName, KUBE_MARK_MASQ, serviceChainName } from './chain-names.js';
import { ifNotLocal } from './local-traffic-rules.js';
import { selectClusterEndpoints } from './endpoint-selection.js';
import type { PlannerOptions } from './planner-options.js';
import { ruleComment } from './rule-comment.js';
import { declareJumpTargets } from './restore-text.js';
import { ruleText, type Rule } from './rule-plan.js';

/** What one service port contributes to the tables. */
export interface ServiceRules {
  /** Rules for nat KUBE-SERVICES, or a dispatch leaf (the jump to the service chain). */
  readonly natDispatch: readonly Rule[];
  /** The VIP of this family, which picks the dispatch leaf. */
  readonly vip: string;
  /** `VIP,proto:port` as the dispatch gate set's members of this Service port (empty when natDispatch is). */
  readonly gate: readonly string[];
  /** Rules for filter KUBE-SERVICES (REJECT / DROP when nothing can serve). */
  readonly filterRules: readonly Rule[];
  /** The KUBE-SVC chain followed by its KUBE-SEP chains (none when the endpoints are inline). */
  readonly chains: readonly (readonly [string, readonly Rule[]])[];
  /** Inline endpoints: `ip,proto:port,ip` members of the hairpin set, which masquerades a Pod reaching itself. */
  readonly hairpin: readonly string[];
}

const EMPTY: ServiceRules = { natDispatch: [], vip: '', gate: [], filterRules: [], chains: [], hairpin: [] };

export function serviceRules(entry: ServiceEntry, options: PlannerOptions): ServiceRules {
  const { service } = entry;
  const vip = service.clusterIPs.find((ip) => ip.includes(':') === (options.family === 6));
  if (vip === undefined) return EMPTY;
  const hostBits = options.family === 4 ? '/32' : '/128';
  // Comments are built only when written: above the large-cluster threshold, 100k endpoint texts would be garbage.
  const say = options.comments;
  const comment = (text: string): readonly string[] => (say ? ['-m', 'comment', '--comment', ruleComment(text)] : NONE);
  const proto = service.protocol.toLowerCase();
  // Same argument order as iptables-save prints, so a read-back compares as text. Addresses, protocols, ports and
  // chain names never need quoting; only a comment goes through ruleText.
  const port = ` -m ${proto} --dport ${service.port}`;
  const destination = (text: string): string => `-d ${vip}${hostBits} -p ${proto}${say ? ' ' + ruleText(comment(text)) : ''}${port}`;

  const selection = selectClusterEndpoints(entry, options.family, options);
  if (selection.endpoints.length === 0) {
    // Local policy with endpoints elsewhere drops silently; a Service with nothing at all rejects, so clients fail fast.
    const local = service.internalTrafficPolicy === 'Local' && selection.anyEndpoints;
    const filterRule = `${destination(`${service.key} has no ${local ? 'local ' : ''}endpoints`)} -j ${local ? 'DROP' : 'REJECT'}`;
    return { natDispatch: [], vip, gate: [], filterRules: [filterRule], chains: [], hairpin: [] };
  }

  const svcChain = serviceChainName(service);
  const svcRules: Rule[] = [];
  // One text for both rules that match the cluster IP (the masquerade and the dispatch), shared, not built twice.
  const clusterIP = destination(`${service.key} cluster IP`);
  const local = options.masqueradeAll ? undefined : localTrafficMatch(options.localTraffic, options.family);
  if (options.masqueradeAll) svcRules.push(`${clusterIP} -j ${KUBE_MARK_MASQ}`);
  else if (local) svcRules.push(`${ifNotLocal(local, clusterIP)} -j ${KUBE_MARK_MASQ}`);
  // The chains this service chain leads to, declared so that ordering the restore input need not read its rules.
  const svcTargets = svcRules.length > 0 ? [KUBE_MARK_MASQ] : [];

  const affinity = service.sessionAffinity.type === 'ClientIP';
  const natDispatch: Rule[] = [`${clusterIP} -j ${svcChain}`];
  const gate = [`${vip},${proto}:${service.port}`];
  // Each rule takes its share of what the earlier rules left: 1/n, 1/(n-1), ... and the last takes the rest.
  const pick = (i: number, n: number): readonly string[] => (n - i > 1 ? statistic(n - i) : NONE);

  if (options.endpointChains === 'inline' && !affinity) {
    // One DNAT rule per endpoint in the service chain, and no KUBE-SEP chain: ClientIP affinity needs one (the
    // recent match records the chosen endpoint), nothing else does. Hairpin masquerade moves to the hairpin set.
    const hairpin: string[] = [];
    const n = selection.endpoints.length;
    // Endpoints of a Service port mostly share one port: `:port` and `,proto:port,` are built once, not once per
    // endpoint (a cold plan at 10k Services × 10 allocates 100k of each otherwise).
    let colonPort = '';
    let middle = '';
    let lastPort = -1;
    for (let i = 0; i < n; i++) {
      const endpoint = selection.endpoints[i]!;
      if (endpoint.port !== lastPort) [colonPort, middle, lastPort] = [`:${endpoint.port}`, `,${proto}:${endpoint.port},`, endpoint.port];
      const to = endpoint.family === 4 ? endpoint.ip + colonPort : joinHostPort(endpoint.ip, endpoint.port);
      if (say) svcRules.push(ruleText(['-p', proto, ...comment(`${service.key} -> ${to}`), ...pick(i, n), '-m', proto, '-j', 'DNAT', '--to-destination', to]));
      // Without comments (any large cluster), a shared prefix and the destination: 100k rules per cold plan.
      else svcRules.push(inlineDNATPrefix(proto, n - i) + to);
      hairpin.push(endpoint.ip + middle + endpoint.ip);
    }
    return { natDispatch, vip, gate, filterRules: NONE, chains: [[svcChain, declareJumpTargets(svcRules, svcTargets)]], hairpin };
  }

  const endpoints = selection.endpoints.map((endpoint) => ({ endpoint, chain: endpointChainName(service, endpoint) }));
  if (affinity) {
    for (const { endpoint, chain } of endpoints) {
      svcRules.push(ruleText([...(say ? comment(`${service.key} -> ${joinHostPort(endpoint.ip, endpoint.port)}`) : NONE), ...recent(options, ['--rcheck', '--seconds', String(service.sessionAffinity.timeoutSeconds), '--reap'], chain), '-j', chain]));
    }
  }
  endpoints.forEach(({ endpoint, chain }, i) => {
    svcRules.push(ruleText([...(say ? comment(`${service.key} -> ${joinHostPort(endpoint.ip, endpoint.port)}`) : NONE), ...pick(i, endpoints.length), '-j', chain]));
  });

  const chains: [string, Rule[]][] = [[svcChain, declareJumpTargets(svcRules, [...svcTargets, ...endpoints.map(({ chain }) => chain)])]];
  for (const { endpoint, chain } of endpoints) chains.push([chain, declareJumpTargets(endpointRules(service, endpoint, chain, affinity, options, comment), [KUBE_MARK_MASQ])]);
  return { natDispatch, vip, gate, filterRules: NONE, chains, hairpin: NONE };
}

function endpointRules(service: ServicePort, endpoint: Endpoint, chain: string, affinity: boolean, options: PlannerOptions, comment: (t: string) => readonly string[]): Rule[] {
  const proto = service.protocol.toLowerCase();
  const hostBits = endpoint.family === 4 ? '/32' : '/128';
  return [
    // Hairpin: a Pod reaching itself through its Service must be masqueraded, or it would answer itself directly.
    ruleText(['-s', endpoint.ip + hostBits, ...comment(service.key), '-j', KUBE_MARK_MASQ]),
    ruleText(['-p', proto, ...comment(service.key), ...(affinity ? recent(options, ['--set'], chain) : []), '-m', proto, '-j', 'DNAT', '--to-destination', joinHostPort(endpoint.ip, endpoint.port)]),
  ];
}

function recent(options: PlannerOptions, action: string[], name: string): string[] {
  const mask = options.family === 4 ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  return ['-m', 'recent', ...action, '--name', name, '--mask', mask, '--rsource'];
}

const NONE: readonly string[] = [];
const probabilities: string[] = [];
const statistics: (readonly string[])[] = [];
const inlinePrefixes = new Map<string, string[]>();

/** An inline DNAT rule up to its destination, for the n-th last endpoint (the last one has no statistic). */
function inlineDNATPrefix(proto: string, n: number): string {
  let byCount = inlinePrefixes.get(proto);
  if (!byCount) inlinePrefixes.set(proto, (byCount = []));
  // An ip:port never needs quoting, so it is appended as it is.
  return (byCount[n] ??= ruleText(['-p', proto, ...(n > 1 ? statistic(n) : NONE), '-m', proto, '-j', 'DNAT', '--to-destination']) + ' ');
}

/** `-m statistic --mode random --probability 1/n`, one shared array per n. */
function statistic(n: number): readonly string[] {
  return (statistics[n] ??= ['-m', 'statistic', '--mode', 'random', '--probability', probability(n)]);
}

/** kube-proxy writes probabilities with ten decimals (memoised: a large cluster asks for the same few). */
export function probability(n: number): string {
  return (probabilities[n] ??= (1 / n).toFixed(10));
}
