import { categorizeEndpoints, cidrContains, joinHostPort, localTrafficMatch, type Endpoint, type ServiceEntry, type ServicePort } from '@hybrid-proxy/model';
import { endpointChainName, KUBE_MARK_MASQ, servicePortChains, type ServicePortChains } from './chain-names.js';
import { lastByte } from './dispatch-tree.js';
import { ifNotLocal, localArgs } from './local-traffic-rules.js';
import type { PlannerOptions } from './planner-options.js';
import { ruleComment } from './rule-comment.js';
import { declareJumpTargets } from './restore-text.js';
import { ruleText, type Rule } from './rule-plan.js';

/** What one service port contributes to the filter table, by chain. */
export interface FilterRules {
  /** filter KUBE-SERVICES: its ClusterIP when nothing serves it (REJECT, or DROP under a Local policy). */
  readonly services: readonly Rule[];
  /** filter KUBE-EXTERNAL-SERVICES: its node port, external and LB IPs when no endpoint serves external traffic. */
  readonly external: readonly Rule[];
  /** filter KUBE-PROXY-FIREWALL: its LB IPs, for traffic that its KUBE-FW chain did not let through. */
  readonly firewall: readonly Rule[];
  /** filter KUBE-NODEPORTS: its health check node port, accepted. */
  readonly healthChecks: readonly Rule[];
}

/** What one service port contributes to the tables. */
export interface ServiceRules {
  /** Rules for nat KUBE-SERVICES, or dispatch leaves: one per destination (ClusterIP, external IPs, LB IPs). */
  readonly natDispatch: readonly Rule[];
  /** The last byte of each natDispatch rule's destination address: its leaf in the dispatch tree. */
  readonly dispatchBytes: readonly number[];
  /** `IP,proto:port` of each natDispatch rule: the dispatch gate set's members of this Service port. */
  readonly gate: readonly string[];
  /** nat KUBE-NODEPORTS: the jump of its node port to KUBE-EXT (none without a node port or endpoints). */
  readonly nodePorts: readonly Rule[];
  /** `proto:port` of its node port when nodePorts has a rule, else empty: its leaf in the node-port tree. */
  readonly nodePort: string;
  readonly filter: FilterRules;
  /** KUBE-SVC, KUBE-SVL, KUBE-EXT and KUBE-FW chains, then KUBE-SEP chains (none when the endpoints are inline). */
  readonly chains: readonly (readonly [string, readonly Rule[]])[];
  /** Inline endpoints: `ip,proto:port,ip` members of the hairpin set, which masquerades a Pod reaching itself. */
  readonly hairpin: readonly string[];
}

const NONE: readonly string[] = [];
const NO_FILTER: FilterRules = { services: NONE, external: NONE, firewall: NONE, healthChecks: NONE };
/** Whether the Service port writes any filter rule (a patch rebuilds the filter chains only then). */
export const addsFilterRules = (rules: ServiceRules): boolean => rules.filter !== NO_FILTER;

const EMPTY: ServiceRules = { natDispatch: NONE, dispatchBytes: [], gate: NONE, nodePorts: NONE, nodePort: '', filter: NO_FILTER, chains: [], hairpin: NONE };

const ofFamily = (ips: readonly string[], v6: boolean): readonly string[] => (ips.every((ip) => ip.includes(':') === v6) ? ips : ips.filter((ip) => ip.includes(':') === v6));

/**
 * kube-proxy's rules for one Service port (pkg/proxy/iptables): ClusterIP traffic goes to the internal policy's
 * chain (KUBE-SVC, or KUBE-SVL under internalTrafficPolicy Local); node-port, external-IP and LB-IP traffic enters
 * KUBE-EXT, which masquerades it (Cluster) or keeps the client's address (Local), through KUBE-FW first where
 * loadBalancerSourceRanges restrict the LB IPs.
 */
export function serviceRules(entry: ServiceEntry, options: PlannerOptions): ServiceRules {
  const { service } = entry;
  const v6 = options.family === 6;
  const vip = service.clusterIPs.find((ip) => ip.includes(':') === v6);
  if (vip === undefined) return EMPTY;
  const hostBits = v6 ? '/128' : '/32';
  // Comments are built only when written: above the large-cluster threshold, 100k endpoint texts would be garbage.
  const say = options.comments;
  const comment = (text: string): readonly string[] => (say ? ['-m', 'comment', '--comment', ruleComment(text)] : NONE);
  const proto = service.protocol.toLowerCase();
  // Same argument order as iptables-save prints, so a read-back compares as text. Addresses, protocols, ports and
  // chain names never need quoting; only a comment goes through ruleText.
  const port = ` -m ${proto} --dport ${service.port}`;
  const destination = (ip: string, text: string): string => `-d ${ip}${hostBits} -p ${proto}${say ? ' ' + ruleText(comment(text)) : ''}${port}`;

  const externalIPs = ofFamily(service.externalIPs, v6);
  const loadBalancerIPs = ofFamily(service.loadBalancerIPs, v6);
  const sourceRanges = ofFamily(service.loadBalancerSourceRanges, v6);
  const external = service.nodePort !== 0 || externalIPs.length > 0 || loadBalancerIPs.length > 0;
  // The categories are the model's (kube-proxy's CategorizeEndpoints), computed per family.
  const categories = categorizeEndpoints(external ? entry : withoutExternal(entry), options.family, options);
  const hasEndpoints = categories.cluster.length > 0 || categories.local.length > 0;
  const names = servicePortChains(service);
  const internalLocal = service.internalTrafficPolicy === 'Local';
  const externalLocal = external && service.externalTrafficPolicy === 'Local';
  const usesCluster = categories.cluster.length > 0;
  const usesLocal = categories.local.length > 0 && (internalLocal || externalLocal);
  const usesExternal = external && hasEndpoints;
  const usesFirewall = usesExternal && loadBalancerIPs.length > 0 && sourceRanges.length > 0;
  const internalChain = internalLocal ? names.local : names.cluster;
  // The tree layout inlines a Cluster policy's KUBE-EXT (mark for masquerade, then the service chain) where it is
  // used: one chain fewer per externally reachable Service port for nf_tables to validate on every commit.
  const inlineExternal = options.dispatch === 'tree' && usesExternal && !usesFirewall && !externalLocal && categories.external.length > 0;
  const externalEntry = (match: string): Rule[] => (inlineExternal ? [`${match} -j ${KUBE_MARK_MASQ}`, `${match} -j ${names.cluster}`] : [`${match} -j ${names.external}`]);

  const natDispatch: Rule[] = [];
  const dispatchBytes: number[] = [];
  const gate: string[] = [];
  const dispatch = (ip: string, text: string, target: string): void => {
    const rules = target === names.external ? externalEntry(destination(ip, `${service.key} ${text}`)) : [`${destination(ip, `${service.key} ${text}`)} -j ${target}`];
    for (const rule of rules) {
      natDispatch.push(rule);
      dispatchBytes.push(lastByte(ip));
    }
    gate.push(`${ip},${proto}:${service.port}`);
  };
  const filterServices: Rule[] = [];
  const filterExternal: Rule[] = [];
  const firewall: Rule[] = [];
  // With nothing at all the Service rejects, so clients fail fast; a Local policy with endpoints elsewhere drops.
  const verdict = (local: boolean) => (local && categories.any ? { target: 'DROP', text: 'has no local endpoints' } : { target: 'REJECT', text: 'has no endpoints' });

  // One text for both rules that match the cluster IP (the masquerade and the dispatch), shared, not built twice.
  const clusterIP = destination(vip, `${service.key} cluster IP`);
  if (categories.internal.length > 0) {
    natDispatch.push(`${clusterIP} -j ${internalChain}`);
    dispatchBytes.push(lastByte(vip));
    gate.push(`${vip},${proto}:${service.port}`);
  } else {
    const { target, text } = verdict(internalLocal);
    filterServices.push(`${destination(vip, `${service.key} ${text}`)} -j ${target}`);
  }
  const externalVerdict = categories.external.length > 0 ? undefined : verdict(externalLocal);
  for (const ip of externalIPs) {
    if (hasEndpoints) dispatch(ip, 'external IP', names.external);
    if (externalVerdict) filterExternal.push(`${destination(ip, `${service.key} ${externalVerdict.text}`)} -j ${externalVerdict.target}`);
  }
  for (const ip of loadBalancerIPs) {
    if (hasEndpoints) dispatch(ip, 'loadbalancer IP', usesFirewall ? names.firewall : names.external);
    if (usesFirewall) firewall.push(`${destination(ip, `${service.key} traffic not accepted by ${names.firewall}`)} -j DROP`);
  }
  if (externalVerdict) {
    for (const ip of loadBalancerIPs) filterExternal.push(`${destination(ip, `${service.key} ${externalVerdict.text}`)} -j ${externalVerdict.target}`);
  }
  const nodePorts: Rule[] = [];
  if (service.nodePort !== 0) {
    if (hasEndpoints) nodePorts.push(...externalEntry(ruleText(['-p', proto, ...comment(service.key), '-m', proto, '--dport', String(service.nodePort)])));
    if (externalVerdict) filterExternal.push(ruleText(['-p', proto, ...comment(`${service.key} ${externalVerdict.text}`), '-m', 'addrtype', '--dst-type', 'LOCAL', '-m', proto, '--dport', String(service.nodePort), '-j', externalVerdict.target]));
  }
  const healthChecks = service.healthCheckNodePort !== 0 && external ? [ruleText(['-p', 'tcp', ...comment(`${service.key} health check node port`), '-m', 'tcp', '--dport', String(service.healthCheckNodePort), '-j', 'ACCEPT'])] : NONE;
  const filter = filterServices.length + filterExternal.length + firewall.length + healthChecks.length === 0 ? NO_FILTER : { services: filterServices, external: filterExternal, firewall, healthChecks };
  const base = { natDispatch, dispatchBytes, gate, nodePorts, nodePort: nodePorts.length > 0 ? `${proto}:${service.nodePort}` : '', filter };
  if (!hasEndpoints) return { ...base, chains: [], hairpin: NONE };

  const chains: [string, readonly Rule[]][] = [];
  // The masquerade of ClusterIP traffic from outside the Pods sits in the internal policy's chain, as kube-proxy's.
  const masquerade: Rule[] = [];
  const local = options.masqueradeAll ? undefined : localTrafficMatch(options.localTraffic, options.family);
  if (categories.internal.length > 0) {
    if (options.masqueradeAll) masquerade.push(`${clusterIP} -j ${KUBE_MARK_MASQ}`);
    else if (local) masquerade.push(`${ifNotLocal(local, clusterIP)} -j ${KUBE_MARK_MASQ}`);
  }

  const affinity = service.sessionAffinity.type === 'ClientIP';
  const inline = options.endpointChains === 'inline' && !affinity;
  const hairpin: string[] = [];
  const endpointChains = new Map<Endpoint, string>();
  const policyChain = (name: string, endpoints: readonly Endpoint[]): void => {
    const rules = name === internalChain ? [...masquerade] : [];
    const targets = rules.length > 0 ? [KUBE_MARK_MASQ] : [];
    if (inline) {
      inlineEndpoints(rules, endpoints, service, proto, say, comment, hairpin);
      chains.push([name, declareJumpTargets(rules, targets)]);
      return;
    }
    const picked = endpoints.map((endpoint) => {
      let chain = endpointChains.get(endpoint);
      if (!chain) endpointChains.set(endpoint, (chain = endpointChainName(service, endpoint)));
      return { endpoint, chain };
    });
    if (affinity) {
      for (const { endpoint, chain } of picked) {
        rules.push(ruleText([...(say ? comment(`${service.key} -> ${joinHostPort(endpoint.ip, endpoint.port)}`) : NONE), ...recent(options, ['--rcheck', '--seconds', String(service.sessionAffinity.timeoutSeconds), '--reap'], chain), '-j', chain]));
      }
    }
    picked.forEach(({ endpoint, chain }, i) => {
      rules.push(ruleText([...(say ? comment(`${service.key} -> ${joinHostPort(endpoint.ip, endpoint.port)}`) : NONE), ...pick(i, picked.length), '-j', chain]));
    });
    chains.push([name, declareJumpTargets(rules, [...targets, ...picked.map(({ chain }) => chain)])]);
  };
  if (usesCluster) policyChain(names.cluster, categories.cluster);
  if (usesLocal) policyChain(names.local, categories.local);

  if (usesExternal && !inlineExternal) chains.push([names.external, externalChain(service, names, { usesCluster, usesLocal, externalLocal, hasExternal: categories.external.length > 0 }, options, comment)]);
  if (usesFirewall) chains.push([names.firewall, firewallChain(service, names, loadBalancerIPs, sourceRanges, options.nodeIP, comment)]);
  for (const [endpoint, chain] of endpointChains) chains.push([chain, declareJumpTargets(endpointRules(service, endpoint, chain, affinity, options, comment), [KUBE_MARK_MASQ])]);
  // Both policy chains inline: their endpoints overlap, and each member is listed once.
  return { ...base, chains, hairpin: hairpin.length === 0 ? NONE : usesCluster && usesLocal ? [...new Set(hairpin)] : hairpin };
}

/** A ServiceEntry whose Service has no external addresses of this family: categorised as ClusterIP-only. */
function withoutExternal(entry: ServiceEntry): ServiceEntry {
  const { service } = entry;
  if (service.nodePort === 0 && service.externalIPs.length === 0 && service.loadBalancerIPs.length === 0) return entry;
  return { ...entry, service: { ...service, nodePort: 0, externalIPs: [], loadBalancerIPs: [] } };
}

/**
 * One DNAT rule per endpoint in the policy chain, and no KUBE-SEP chain: ClientIP affinity needs one (the recent
 * match records the chosen endpoint), nothing else does. Hairpin masquerade moves to the hairpin set (`hairpin`
 * collects its members, once for both policy chains).
 */
function inlineEndpoints(rules: Rule[], endpoints: readonly Endpoint[], service: ServicePort, proto: string, say: boolean, comment: (t: string) => readonly string[], hairpin: string[]): void {
  const n = endpoints.length;
  // Endpoints of a Service port mostly share one port: `:port` and `,proto:port,` are built once, not once per
  // endpoint (a cold plan at 10k Services × 10 allocates 100k of each otherwise).
  let colonPort = '';
  let middle = '';
  let lastPort = -1;
  for (let i = 0; i < n; i++) {
    const endpoint = endpoints[i]!;
    if (endpoint.port !== lastPort) [colonPort, middle, lastPort] = [`:${endpoint.port}`, `,${proto}:${endpoint.port},`, endpoint.port];
    const to = endpoint.family === 4 ? endpoint.ip + colonPort : joinHostPort(endpoint.ip, endpoint.port);
    if (say) rules.push(ruleText(['-p', proto, ...comment(`${service.key} -> ${to}`), ...pick(i, n), '-j', 'DNAT', '--to-destination', to]));
    // Without comments (any large cluster), a shared prefix and the destination: 100k rules per cold plan.
    else rules.push(inlineDNATPrefix(proto, n - i) + to);
    hairpin.push(endpoint.ip + middle + endpoint.ip);
  }
}

interface ExternalPolicy {
  readonly usesCluster: boolean;
  readonly usesLocal: boolean;
  readonly externalLocal: boolean;
  readonly hasExternal: boolean;
}

/** KUBE-EXT: external traffic, masqueraded under the Cluster policy, its source kept under Local. */
function externalChain(service: ServicePort, names: ServicePortChains, policy: ExternalPolicy, options: PlannerOptions, comment: (t: string) => readonly string[]): Rule[] {
  const rules: Rule[] = [];
  const targets: string[] = [];
  const add = (args: readonly string[], target: string) => {
    rules.push(ruleText([...args, '-j', target]));
    targets.push(target);
  };
  if (!policy.externalLocal) {
    // Cluster policy: the endpoint may be on another node, so replies must come back through this one.
    add(comment(`masquerade traffic for ${service.key} external destinations`), KUBE_MARK_MASQ);
  } else {
    // This node's Pods reaching an external address are subject to neither policy: as if they had gone out to the
    // load balancer and come back in, they get every endpoint, with their own source address.
    const local = localTrafficMatch(options.localTraffic, options.family);
    if (local && policy.usesCluster) add([...localArgs(local), ...comment(`pod traffic for ${service.key} external destinations`)], names.cluster);
    // The node itself: its source is a local address (often the LB IP itself), so it is masqueraded and may use
    // any endpoint.
    add([...comment(`masquerade LOCAL traffic for ${service.key} external destinations`), '-m', 'addrtype', '--src-type', 'LOCAL'], KUBE_MARK_MASQ);
    if (policy.usesCluster) add([...comment(`route LOCAL traffic for ${service.key} external destinations`), '-m', 'addrtype', '--src-type', 'LOCAL'], names.cluster);
  }
  if (policy.hasExternal) add(NONE, policy.externalLocal ? names.local : names.cluster);
  return declareJumpTargets(rules, targets);
}

/**
 * KUBE-FW: only sources inside loadBalancerSourceRanges go on to KUBE-EXT. What falls off the end is not DNATed,
 * so filter KUBE-PROXY-FIREWALL drops it by its LB IP destination.
 */
function firewallChain(service: ServicePort, names: ServicePortChains, loadBalancerIPs: readonly string[], sourceRanges: readonly string[], nodeIP: string, comment: (t: string) => readonly string[]): Rule[] {
  const text = comment(`${service.key} loadbalancer IP`);
  const rules = sourceRanges.map((cidr) => ruleText(['-s', cidr, ...text, '-j', names.external]));
  // A node inside the ranges that reaches the LB IP sees its packet loop back with the LB IP as its source.
  if (nodeIP && sourceRanges.some((cidr) => cidrContains(cidr, nodeIP))) {
    for (const ip of loadBalancerIPs) rules.push(ruleText(['-s', `${ip}${ip.includes(':') ? '/128' : '/32'}`, ...text, '-j', names.external]));
  }
  rules.push(ruleText(comment(`other traffic to ${service.key} will be dropped by KUBE-PROXY-FIREWALL`)));
  return declareJumpTargets(rules, [names.external]);
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

/** Each rule takes its share of what the earlier rules left: 1/n, 1/(n-1), ... and the last takes the rest. */
const pick = (i: number, n: number): readonly string[] => (n - i > 1 ? statistic(n - i) : NONE);

const probabilities: string[] = [];
const statistics: (readonly string[])[] = [];
const inlinePrefixes = new Map<string, string[]>();

/**
 * An inline DNAT rule up to its destination, for the n-th last endpoint (the last one has no statistic). Unlike
 * kube-proxy's KUBE-SEP rule it has no `-m tcp`: with no option that match tests nothing, yet on nft it is an xt
 * compat expression that every new connection calls and that every commit walks when it validates the table
 * (a fifth of the floor at 10k Services × 10, BENCHMARKS.md).
 */
function inlineDNATPrefix(proto: string, n: number): string {
  let byCount = inlinePrefixes.get(proto);
  if (!byCount) inlinePrefixes.set(proto, (byCount = []));
  // An ip:port never needs quoting, so it is appended as it is.
  return (byCount[n] ??= ruleText(['-p', proto, ...(n > 1 ? statistic(n) : NONE), '-j', 'DNAT', '--to-destination']) + ' ');
}

/** `-m statistic --mode random --probability 1/n`, one shared array per n. */
function statistic(n: number): readonly string[] {
  return (statistics[n] ??= ['-m', 'statistic', '--mode', 'random', '--probability', probability(n)]);
}

/** kube-proxy writes probabilities with ten decimals (memoised: a large cluster asks for the same few). */
export function probability(n: number): string {
  return (probabilities[n] ??= (1 / n).toFixed(10));
}
