import type { Snapshot } from '@hybrid-proxy/model';
import { KUBE_FORWARD, KUBE_NODEPORTS, KUBE_SERVICES } from './chain-names.js';
import { dispatchTree, hairpinSetName } from './dispatch-tree.js';
import { builtinJumps, forwardChain, masqueradeChains, nodePortsDispatchRule, unallocatedServiceIPRules } from './fixed-chains.js';
import { PlanMemo } from './plan-memo.js';
import type { PlannerOptions } from './planner-options.js';
import { renderRestoreInput } from './restore-text.js';
import { groupedIpset, type IpsetPlan } from './ipset-text.js';
import { TABLES, type IptablesPlan, type Rule } from './rule-plan.js';
import { serviceRules, type ServiceRules } from './service-rules.js';

/** Remembers planned Service ports between calls of planIptables (see PlanMemo). */
export type IptablesPlanMemo = PlanMemo<ServiceRules>;
export const createPlanMemo = (): IptablesPlanMemo => new PlanMemo<ServiceRules>();

/**
 * Pure: the whole desired filter and nat state for one IP family. `memo` (optional) reuses the rules of Service
 * ports that did not change since the last call.
 */
export function planIptables(snapshot: Snapshot, planned: PlannerOptions, memo: IptablesPlanMemo = createPlanMemo()): IptablesPlan {
  const options = effectiveOptions(snapshot, planned);
  memo.useOptions(options);
  const natServices: Rule[] = [];
  const filterServices: Rule[] = [];
  const serviceChains: (readonly [string, readonly Rule[]])[] = [];
  const dispatched = new Map<string, ServiceRules>();
  const hairpin = new Map<string, readonly string[]>();
  for (const [key, entry] of snapshot.entries) {
    const rules = memo.get(key, entry, (e) => serviceRules(e, options));
    if (rules.natDispatch.length > 0) dispatched.set(key, rules);
    if (rules.hairpin.length > 0) hairpin.set(key, rules.hairpin);
    filterServices.push(...rules.filterRules);
    serviceChains.push(...rules.chains);
  }
  memo.retain(snapshot.entries);

  const dispatchChains: (readonly [string, readonly Rule[]])[] = [];
  const ipsets: IpsetPlan[] = [];
  const inline = options.endpointChains === 'inline';
  if (inline) {
    // By Service port: a sync diffs the ports that changed, not 100k members (two ports may share a member).
    ipsets.push(
      groupedIpset(
        hairpinSetName(options.family),
        `hash:ip,port,ip family ${options.family === 4 ? 'inet' : 'inet6'} hashsize 4096 maxelem 4194304`,
        'every endpoint ip,proto:port,ip: masquerades a Pod that reaches itself through its Service',
        hairpin,
      ),
    );
  }
  if (options.dispatch === 'tree') {
    const tree = dispatchTree(dispatched, options.family, options.comments);
    natServices.push(...tree.head);
    dispatchChains.push(...tree.chains);
    ipsets.push(tree.gate);
  } else {
    for (const rules of dispatched.values()) natServices.push(...rules.natDispatch);
  }
  natServices.push(nodePortsDispatchRule());
  filterServices.push(...unallocatedServiceIPRules(options));

  const nat = new Map<string, readonly Rule[]>([
    [KUBE_SERVICES, natServices],
    [KUBE_NODEPORTS, []],
    ...masqueradeChains(options, inline ? hairpinSetName(options.family) : undefined),
    ...dispatchChains,
    ...serviceChains,
  ]);
  const filter = new Map<string, readonly Rule[]>([
    [KUBE_SERVICES, filterServices],
    [KUBE_FORWARD, forwardChain(options)],
  ]);
  return { family: options.family, tables: { filter, nat }, jumps: builtinJumps(), ipsets };
}

/** The options this snapshot is planned with: the Node's zone, and no comments in a large cluster. */
function effectiveOptions(snapshot: Snapshot, planned: PlannerOptions): PlannerOptions {
  // The Node object's zone, when the source follows it, wins over the configured one (topology hints).
  const zone = snapshot.node?.zone || planned.zone;
  let endpoints = 0;
  for (const entry of snapshot.entries.values()) endpoints += entry.endpoints.length;
  // kube-proxy's largeClusterEndpointsThreshold: comments cost memory and restore time at scale.
  const comments = planned.comments && endpoints <= planned.commentsEndpointThreshold;
  return zone === planned.zone && comments === planned.comments ? planned : { ...planned, zone, comments };
}

/** The whole plan as one iptables-restore input: what `hybrid-proxy plan` prints and the golden files hold. */
export function renderPlan(plan: IptablesPlan): string {
  const sets = plan.ipsets.flatMap((set) => [`# ipset create ${set.name} ${set.type}`, ...set.entries.map((entry) => `# ipset add ${set.name} ${entry}`)]);
  return (sets.length > 0 ? sets.join('\n') + '\n' : '') + renderRestoreInput(TABLES.map((table) => ({ table, write: plan.tables[table], remove: [] })));
}
