import { OverlayMap, type ServiceEntry, type ServicePortKey, type Snapshot } from '@hybrid-proxy/model';
import { KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_LOCALNET_FIREWALL, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL, KUBE_SERVICES } from './chain-names.js';
import { gateIpset, gateRules, hairpinSetName, leafChainName, treeChains } from './dispatch-tree.js';
import { builtinJumps, forwardChain, localnetFirewall, masqueradeChains, nodePortsDispatch, unallocatedServiceIPRules } from './fixed-chains.js';
import { resolveLocalTraffic } from './local-traffic-rules.js';
import { nodePortBlocks, nodePortLeaf, nodePortLeafChain, nodePortTree } from './nodeport-tree.js';
import { PlanMemo } from './plan-memo.js';
import { localhostNodePortsActive, type PlannerOptions } from './planner-options.js';
import { renderRestoreInput } from './restore-text.js';
import { groupedIpset, type IpsetPlan } from './ipset-text.js';
import { TABLES, type IptablesPlan, type Rule } from './rule-plan.js';
import { addsFilterRules, serviceRules, type ServiceRules } from './service-rules.js';

type Owners = ReadonlyMap<string, readonly string[]>;

/** The last plan and what it was made of, so that the next one can be a patch of it. */
interface PlannedState {
  readonly entries: ReadonlyMap<ServicePortKey, ServiceEntry>;
  readonly plan: IptablesPlan;
  /** Tree dispatch: each leaf's Service ports (by last byte of their destinations), in snapshot order. */
  readonly leaves: ReadonlyMap<number, readonly string[]>;
  /** Tree dispatch: each node-port leaf's Service ports (see nodePortLeaf), in snapshot order. */
  readonly nodePortLeaves: ReadonlyMap<string, readonly string[]>;
  readonly hairpin: Owners;
  readonly gate: Owners;
}

/**
 * Remembers planned Service ports between calls of planIptables (see PlanMemo), and the last plan: with tree
 * dispatch, a change of a few Service ports patches it in O(changed) (their chains, their leaves, their set
 * members) instead of assembling 10k chains again.
 */
export class IptablesPlanMemo {
  readonly ports = new PlanMemo<ServiceRules>();
  last: PlannedState | undefined;
  /** The endpoints of the last snapshot, counted for the large-cluster threshold. */
  counted: { readonly entries: ReadonlyMap<ServicePortKey, ServiceEntry>; readonly endpoints: number } | undefined;
}
export const createPlanMemo = (): IptablesPlanMemo => new IptablesPlanMemo();

/**
 * Pure: the whole desired filter and nat state for one IP family. `memo` (optional) reuses the rules of Service
 * ports that did not change since the last call; the plan is the same as without it.
 */
export function planIptables(snapshot: Snapshot, planned: PlannerOptions, memo: IptablesPlanMemo = createPlanMemo()): IptablesPlan {
  memo.counted = { entries: snapshot.entries, endpoints: countEndpoints(snapshot.entries, memo.counted) };
  const options = effectiveOptions(snapshot, planned, memo.counted.endpoints);
  const reset = memo.ports.useOptions(options);
  const patched = !reset && memo.last && options.dispatch === 'tree' ? patchPlan(memo.last, snapshot, options, memo.ports) : undefined;
  memo.last = patched ?? planAfresh(snapshot, options, memo.ports);
  return memo.last.plan;
}

function planAfresh(snapshot: Snapshot, options: PlannerOptions, ports: PlanMemo<ServiceRules>): PlannedState {
  const natServices: Rule[] = [];
  const serviceChains: (readonly [string, readonly Rule[]])[] = [];
  const dispatched: ServiceRules[] = [];
  const leaves = new Map<number, string[]>();
  const nodePortLeaves = new Map<string, string[]>();
  const nodePorts: Rule[] = [];
  const hairpin = new Map<string, readonly string[]>();
  const gate = new Map<string, readonly string[]>();
  const join = <K>(map: Map<K, string[]>, leaf: K, key: string) => {
    const keys = map.get(leaf);
    if (!keys) map.set(leaf, [key]);
    else if (keys[keys.length - 1] !== key) keys.push(key);
  };
  for (const [key, entry] of snapshot.entries) {
    const rules = ports.get(key, entry, (e) => serviceRules(e, options));
    if (rules.natDispatch.length > 0) {
      dispatched.push(rules);
      gate.set(key, rules.gate);
      for (const byte of rules.dispatchBytes) join(leaves, byte, key);
    }
    if (rules.nodePort) {
      join(nodePortLeaves, nodePortLeaf(rules.nodePort), key);
      for (const rule of rules.nodePorts) nodePorts.push(rule);
    }
    if (rules.hairpin.length > 0) hairpin.set(key, rules.hairpin);
    for (const chain of rules.chains) serviceChains.push(chain);
  }
  ports.retain(snapshot.entries);

  const tree = options.dispatch === 'tree';
  let dispatchChains: (readonly [string, readonly Rule[]])[] = [];
  if (tree) {
    natServices.push(...gateRules(options.family, options.comments));
    dispatchChains = treeChains(new Map([...leaves].map(([byte, keys]) => [byte, leafRules(byte, keys, ports)])), options.family);
  } else {
    for (const rules of dispatched) for (const rule of rules.natDispatch) natServices.push(rule);
  }
  natServices.push(...nodePortsDispatch(options, nodePorts.length > 0, tree ? nodePortBlocks(nodePortLeaves.keys()) : undefined));
  // Linear: kube-proxy's KUBE-NODEPORTS, a rule per node port. Tree: the root of the node-port tree.
  const nodePortChains = tree ? nodePortTree(new Map([...nodePortLeaves].map(([leaf, keys]) => [leaf, nodePortLeafRules(keys, ports)]))) : [[KUBE_NODEPORTS, nodePorts] as const];

  const inline = options.endpointChains === 'inline';
  const nat = new Map<string, readonly Rule[]>([
    [KUBE_SERVICES, natServices],
    ...nodePortChains,
    ...masqueradeChains(options, inline ? hairpinSetName(options.family) : undefined),
    ...dispatchChains,
    ...serviceChains,
  ]);
  const filter = new Map<string, readonly Rule[]>(filterChains(snapshot.entries.keys(), ports, options));
  const localnet = localhostNodePortsActive(options);
  if (localnet) filter.set(KUBE_LOCALNET_FIREWALL, localnetFirewall());
  const plan = { family: options.family, tables: { filter, nat }, jumps: builtinJumps(localnet, options.dispatch), ipsets: planIpsets(options, hairpin, gate) };
  return { entries: snapshot.entries, plan, leaves, nodePortLeaves, hairpin, gate };
}

/**
 * The filter chains that Service ports add to, in kube-proxy's order, each port's rules in snapshot order, and
 * KUBE-FORWARD, which in the tree layout leads only into those of them that hold rules.
 */
function filterChains(keys: Iterable<string>, ports: PlanMemo<ServiceRules>, options: PlannerOptions): [string, Rule[]][] {
  const services: Rule[] = [];
  const external: Rule[] = [];
  const firewall: Rule[] = [];
  const healthChecks: Rule[] = [];
  for (const key of keys) {
    const { filter } = ports.peek(key)!;
    for (const rule of filter.services) services.push(rule);
    for (const rule of filter.external) external.push(rule);
    for (const rule of filter.firewall) firewall.push(rule);
    for (const rule of filter.healthChecks) healthChecks.push(rule);
  }
  services.push(...unallocatedServiceIPRules(options));
  const filled = { services: services.length > 0, external: external.length > 0, firewall: firewall.length > 0 };
  return [
    [KUBE_SERVICES, services],
    [KUBE_EXTERNAL_SERVICES, external],
    [KUBE_PROXY_FIREWALL, firewall],
    [KUBE_NODEPORTS, healthChecks],
    [KUBE_FORWARD, forwardChain(options, filled)],
  ];
}

/** The sets the rules match on: the hairpin set of inline endpoints, and the gate of tree dispatch. */
function planIpsets(options: PlannerOptions, hairpin: Owners, gate: Owners): IpsetPlan[] {
  const sets: IpsetPlan[] = [];
  if (options.endpointChains === 'inline') {
    // By Service port: a sync diffs the ports that changed, not 100k members (two ports may share a member).
    sets.push(
      groupedIpset(
        hairpinSetName(options.family),
        `hash:ip,port,ip family ${options.family === 4 ? 'inet' : 'inet6'} hashsize 4096 maxelem 4194304`,
        'every endpoint ip,proto:port,ip: masquerades a Pod that reaches itself through its Service',
        hairpin,
      ),
    );
  }
  if (options.dispatch === 'tree') sets.push(gateIpset(options.family, gate));
  return sets;
}

/** A dispatch leaf's rules: its Service ports' dispatch rules whose destination ends in its byte, in order. */
function leafRules(byte: number, keys: readonly string[], ports: PlanMemo<ServiceRules>): Rule[] {
  const rules: Rule[] = [];
  for (const key of keys) {
    const { natDispatch, dispatchBytes } = ports.peek(key)!;
    for (let i = 0; i < natDispatch.length; i++) if (dispatchBytes[i] === byte) rules.push(natDispatch[i]!);
  }
  return rules;
}

/** A node-port leaf's rules: its Service ports' node-port rules, in order. */
function nodePortLeafRules(keys: readonly string[], ports: PlanMemo<ServiceRules>): Rule[] {
  const rules: Rule[] = [];
  for (const key of keys) for (const rule of ports.peek(key)!.nodePorts) rules.push(rule);
  return rules;
}

/**
 * The last plan with the changed Service ports replaced: their own chains, the leaves they leave or join (and the
 * root and branches if a leaf appears or empties), filter KUBE-SERVICES if a REJECT comes or goes, and their set
 * members. Undefined when so much changed that planning afresh is cheaper. The changed ports are the keys the
 * snapshots' overlays name, or else those whose entry is not the same object (the assembler keeps unchanged ones).
 */
function patchPlan(last: PlannedState, snapshot: Snapshot, options: PlannerOptions, ports: PlanMemo<ServiceRules>): PlannedState | undefined {
  if (snapshot.entries === last.entries) return last;
  const limit = Math.max(64, snapshot.entries.size >> 4);
  const changes: [string, ServiceRules | undefined, ServiceRules | undefined][] = [];
  const change = (key: string, entry: ServiceEntry | undefined): void => {
    const before = ports.peek(key);
    if (!entry) ports.delete(key);
    const after = entry && ports.get(key, entry, (e) => serviceRules(e, options));
    if (before !== after) changes.push([key, before, after]);
  };
  // Snapshots of one lineage name their changed keys; otherwise every key is checked (by identity first).
  const candidates = OverlayMap.changedKeys(last.entries, snapshot.entries);
  if (candidates) {
    for (const key of candidates) {
      const entry = snapshot.entries.get(key);
      if (entry !== last.entries.get(key)) change(key, entry);
      if (changes.length > limit) return undefined;
    }
  } else {
    for (const [key, entry] of snapshot.entries) {
      if (last.entries.get(key) !== entry) change(key, entry);
      if (changes.length > limit) return undefined;
    }
    for (const key of last.entries.keys()) if (!snapshot.entries.has(key)) change(key, undefined);
    if (changes.length > limit) return undefined;
  }

  const nat = new Map<string, readonly Rule[] | undefined>();
  const natRules = (name: string) => (nat.has(name) ? nat.get(name) : last.plan.tables.nat.get(name));
  const leaves = new Map(last.leaves);
  const touched = new Set<number>();
  const nodePortLeaves = new Map(last.nodePortLeaves);
  const touchedNodePorts = new Set<string>();
  const hairpin = new Map<string, readonly string[] | undefined>();
  const gate = new Map<string, readonly string[] | undefined>();
  let filterChanged = false;
  for (const [key, before, after] of changes) {
    const kept = new Set(after?.chains.map(([name]) => name));
    for (const [name] of before?.chains ?? []) if (!kept.has(name)) nat.set(name, undefined);
    for (const [name, rules] of after?.chains ?? []) nat.set(name, rules);
    for (const byte of new Set(before?.dispatchBytes)) touched.add(moveLeaf(leaves, byte, key, 'leave'));
    for (const byte of new Set(after?.dispatchBytes)) touched.add(moveLeaf(leaves, byte, key, 'join'));
    if ((before?.gate.length ?? 0) > 0 || (after?.gate.length ?? 0) > 0) gate.set(key, after && after.gate.length > 0 ? after.gate : undefined);
    if (before?.nodePort) touchedNodePorts.add(moveLeaf(nodePortLeaves, nodePortLeaf(before.nodePort), key, 'leave'));
    if (after?.nodePort) touchedNodePorts.add(moveLeaf(nodePortLeaves, nodePortLeaf(after.nodePort), key, 'join'));
    if ((before?.hairpin.length ?? 0) > 0 || (after?.hairpin.length ?? 0) > 0) hairpin.set(key, after && after.hairpin.length > 0 ? after.hairpin : undefined);
    if ((before && addsFilterRules(before)) || (after && addsFilterRules(after))) filterChanged = true;
  }

  let shape = false;
  for (const byte of touched) {
    const keys = leaves.get(byte)!;
    shape ||= keys.length === 0 || !last.leaves.has(byte);
    if (keys.length === 0) leaves.delete(byte);
    nat.set(leafChainName(byte), keys.length === 0 ? undefined : leafRules(byte, keys, ports));
  }
  if (shape) {
    // A leaf appeared or emptied: the root and branches are rebuilt (at most 17 chains).
    const tree = treeChains(new Map([...leaves.keys()].map((byte) => [byte, natRules(leafChainName(byte))!])), options.family);
    const names = new Set(tree.map(([name]) => name));
    for (const [name] of treeChains(new Map([...last.leaves.keys()].map((byte) => [byte, []])), options.family)) if (!names.has(name)) nat.set(name, undefined);
    for (const [name, rules] of tree) nat.set(name, rules);
  }
  let nodePortShape = false;
  for (const leaf of touchedNodePorts) {
    const keys = nodePortLeaves.get(leaf)!;
    nodePortShape ||= keys.length === 0 || !last.nodePortLeaves.has(leaf);
    if (keys.length === 0) nodePortLeaves.delete(leaf);
    nat.set(nodePortLeafChain(leaf), keys.length === 0 ? undefined : nodePortLeafRules(keys, ports));
  }
  if (nodePortShape) {
    // A node-port leaf appeared or emptied: the levels above the leaves are rebuilt (a few chains).
    const tree = nodePortTree(new Map([...nodePortLeaves.keys()].map((leaf) => [leaf, natRules(nodePortLeafChain(leaf))!])));
    const names = new Set(tree.map(([name]) => name));
    for (const [name] of nodePortTree(new Map([...last.nodePortLeaves.keys()].map((leaf) => [leaf, []])))) if (!names.has(name)) nat.set(name, undefined);
    for (const [name, rules] of tree) nat.set(name, rules);
    // KUBE-SERVICES leads to KUBE-NODEPORTS only while it holds a rule, and only for the root's blocks.
    const services = [...gateRules(options.family, options.comments), ...nodePortsDispatch(options, nodePortLeaves.size > 0, nodePortBlocks(nodePortLeaves.keys()))];
    if (services.join('\n') !== last.plan.tables.nat.get(KUBE_SERVICES)?.join('\n')) nat.set(KUBE_SERVICES, services);
  }
  let filter = last.plan.tables.filter;
  if (filterChanged) {
    const rebuilt = new Map(filter);
    for (const [name, rules] of filterChains(snapshot.entries.keys(), ports, options)) rebuilt.set(name, rules);
    filter = rebuilt;
  }
  const hairpinOwners = hairpin.size > 0 ? OverlayMap.over(last.hairpin).patch(hairpin) : last.hairpin;
  const gateOwners = gate.size > 0 ? OverlayMap.over(last.gate).patch(gate) : last.gate;
  const ipsets = hairpin.size > 0 || gate.size > 0 ? planIpsets(options, hairpinOwners, gateOwners) : last.plan.ipsets;
  const plan = { ...last.plan, tables: { filter, nat: OverlayMap.over(last.plan.tables.nat).patch(nat) }, ipsets };
  return { entries: snapshot.entries, plan, leaves, nodePortLeaves, hairpin: hairpinOwners, gate: gateOwners };
}

/**
 * A Service port leaves or joins the leaf of `byte` (copy on write: the last plan's lists stay as they were).
 * Joining keeps the leaf in snapshot order, which the assembler sorts by key.
 */
function moveLeaf<K>(leaves: Map<K, readonly string[]>, byte: K, key: string, move: 'leave' | 'join'): K {
  const keys = [...(leaves.get(byte) ?? [])];
  if (move === 'leave') {
    const at = keys.indexOf(key);
    if (at >= 0) keys.splice(at, 1);
  } else {
    if (keys.includes(key)) return byte;
    let at = keys.length;
    while (at > 0 && keys[at - 1]! > key) at--;
    keys.splice(at, 0, key);
  }
  leaves.set(byte, keys);
  return byte;
}

/** The options this snapshot is planned with: the Node's zone, and no comments in a large cluster. */
function effectiveOptions(snapshot: Snapshot, planned: PlannerOptions, endpoints: number): PlannerOptions {
  // The Node object's zone, when the source follows it, wins over the configured one (topology hints).
  const zone = snapshot.node?.zone || planned.zone;
  // kube-proxy's largeClusterEndpointsThreshold: comments cost memory and restore time at scale.
  const comments = planned.comments && endpoints <= planned.commentsEndpointThreshold;
  const localTraffic = resolveLocalTraffic(planned.localTraffic, snapshot.node);
  // The load-balancer firewall lets the node itself through when its address is in the source ranges.
  const nodeIP = planned.nodeIP || (snapshot.node?.addresses.find((ip) => ip.includes(':') === (planned.family === 6)) ?? '');
  if (zone === planned.zone && comments === planned.comments && localTraffic === planned.localTraffic && nodeIP === planned.nodeIP) return planned;
  return { ...planned, zone, comments, localTraffic, nodeIP };
}

/** How many endpoints the entries hold: from the last count and the changed keys when the snapshots share a lineage. */
function countEndpoints(entries: ReadonlyMap<ServicePortKey, ServiceEntry>, last: IptablesPlanMemo['counted']): number {
  const changed = last && OverlayMap.changedKeys(last.entries, entries);
  let endpoints = changed ? last.endpoints : 0;
  if (changed) for (const key of changed) endpoints += (entries.get(key)?.endpoints.length ?? 0) - (last.entries.get(key)?.endpoints.length ?? 0);
  else for (const entry of entries.values()) endpoints += entry.endpoints.length;
  return endpoints;
}

/** The whole plan as one iptables-restore input: what `hybrid-proxy plan` prints and the golden files hold. */
export function renderPlan(plan: IptablesPlan): string {
  const sets = plan.ipsets.flatMap((set) => [`# ipset create ${set.name} ${set.type}`, ...set.entries.map((entry) => `# ipset add ${set.name} ${entry}`)]);
  return (sets.length > 0 ? sets.join('\n') + '\n' : '') + renderRestoreInput(TABLES.map((table) => ({ table, write: plan.tables[table], remove: [] })));
}
