import type { Snapshot } from '@hybrid-proxy/model';
import { KUBE_FORWARD, KUBE_NODEPORTS, KUBE_SERVICES } from './chain-names.js';
import { builtinJumps, forwardChain, masqueradeChains, nodePortsDispatchRule, unallocatedServiceIPRules } from './fixed-chains.js';
import type { PlannerOptions } from './planner-options.js';
import { renderRestoreInput } from './restore-text.js';
import { TABLES, type IptablesPlan, type Rule } from './rule-plan.js';
import { serviceRules } from './service-rules.js';

/** Pure: the whole desired filter and nat state for one IP family. */
export function planIptables(snapshot: Snapshot, planned: PlannerOptions): IptablesPlan {
  // The Node object's zone, when the source follows it, wins over the configured one (topology hints).
  const options = snapshot.node?.zone ? { ...planned, zone: snapshot.node.zone } : planned;
  const natServices: Rule[] = [];
  const filterServices: Rule[] = [];
  const serviceChains: (readonly [string, readonly Rule[]])[] = [];
  for (const entry of snapshot.entries.values()) {
    const rules = serviceRules(entry, options);
    natServices.push(...rules.natDispatch);
    filterServices.push(...rules.filterRules);
    serviceChains.push(...rules.chains);
  }
  natServices.push(nodePortsDispatchRule());
  filterServices.push(...unallocatedServiceIPRules(options));

  const nat = new Map<string, readonly Rule[]>([
    [KUBE_SERVICES, natServices],
    [KUBE_NODEPORTS, []],
    ...masqueradeChains(options),
    ...serviceChains,
  ]);
  const filter = new Map<string, readonly Rule[]>([
    [KUBE_SERVICES, filterServices],
    [KUBE_FORWARD, forwardChain(options)],
  ]);
  return { family: options.family, tables: { filter, nat }, jumps: builtinJumps() };
}

/** The whole plan as one iptables-restore input: what `hybrid-proxy plan` prints and the golden files hold. */
export function renderPlan(plan: IptablesPlan): string {
  return renderRestoreInput(TABLES.map((table) => ({ table, write: plan.tables[table], remove: [] })));
}
