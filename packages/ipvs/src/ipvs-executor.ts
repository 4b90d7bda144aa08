import { runChecked, StandbyPool, type CommandRunner } from '@hybrid-proxy/exec';
import { IptablesExecutor, ipsetChanges, ipsetOwners, lostSetMembers, MemberLedger, parseIpsetSave, type IpsetPlan, type IptablesVariant, type SavedIpsets } from '@hybrid-proxy/iptables';
import { cidrContains, OverlayMap, type IPFamily } from '@hybrid-proxy/model';
import { addressChanges, addressLine, managedAddresses } from './address-changes.js';
import { drainedReals, drainingKey, gracefulOperations, withDraining, type DrainingReal } from './graceful-termination.js';
import { ipvsChanges, operationLine, parseIpvsadmList, parseIpvsadmSave, serviceArgs, type IpvsOperation, type ListedReal } from './ipvsadm-text.js';
import { DUMMY_INTERFACE, virtualServerId, type IpvsPlan, type VirtualServer } from './ipvs-plan.js';
import { ipvsSetName, type IpvsSetKey } from './ipvs-sets.js';
import { savedDigest, serversDigest } from './state-digest.js';

/** Tool input in chunks of lines, rendered as they are sent: no one string of the whole input is ever held. */
function* chunked<T>(items: readonly T[], line: (item: T) => string = String): Generator<string> {
  for (let at = 0; at < items.length; at += CHUNK_LINES) yield items.slice(at, at + CHUNK_LINES).map(line).join('\n') + '\n';
}
const CHUNK_LINES = 2048;

/** The tools a partial sync feeds, started ahead of it (options.standby). */
const STANDBY_COMMANDS = [
  ['ipvsadm', ['-R']],
  ['ipset', ['restore', '-exist']],
  ['ip', ['-batch', '-']],
] as const;

/** How many virtual servers a failed partial sync reads back to say what it left. */
const MAX_READ_BACK = 32;

/** The sets that say which node ports are this proxy's, by protocol. */
const NODE_PORT_SET_KEYS: readonly (readonly [VirtualServer['protocol'], IpvsSetKey])[] = [
  ['tcp', 'nodePortTCP'],
  ['udp', 'nodePortUDP'],
  ['sctp', 'nodePortSCTP'],
];

/** Which virtual servers a proxy owns: those on kube-ipvs0's addresses, and those on the node ports its sets list. */
type Ownership = (vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>) => boolean;

/** No set read from the kernel: ownership by the plan's node-port sets alone. */
const NO_SAVED_SETS: SavedIpsets = parseIpsetSave('');

export interface IpvsExecutorOptions {
  readonly runner: CommandRunner;
  readonly family: IPFamily;
  readonly iptablesVariant?: IptablesVariant | 'auto';
  /** kube-proxy's --ipvs-strict-arp: do not answer ARP for the VIPs on kube-ipvs0 from other interfaces. */
  readonly strictARP?: boolean;
  /** kube-proxy's --ipvs-exclude-cidrs: virtual servers and kube-ipvs0 addresses in these ranges are never cleaned up. */
  readonly excludeCIDRs?: readonly string[];
  /** Start `ipvsadm -R`, `ipset restore` and `ip -batch` ahead of the next partial sync, which then skips their start-up. */
  readonly standby?: boolean;
}

export interface IpvsApplyResult {
  readonly ipvsCommands: number;
  readonly ipsetCommands: number;
  readonly addressCommands: number;
  readonly rulesPerTable: Readonly<Record<string, number>>;
  /** performance.now() once the change serves: its virtual and real servers are in, removals may still follow. */
  readonly servedAt: number;
}

/** A kernel feature the IPVS mode needs is missing; the message names it. */
export class IpvsUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpvsUnavailableError';
  }
}

/** IPVS did not take the change; `remaining` is what still differs from the plan, when the kernel was read back. */
export class IpvsRestoreError extends Error {
  constructor(
    readonly stderr: string,
    readonly remaining: readonly string[],
  ) {
    super(`ipvsadm -R did not apply the change${stderr ? `: ${stderr.split('\n').slice(0, 3).join('; ')}` : ''}${remaining.length ? ` (${remaining.length} differences remain, e.g. ${remaining[0]})` : ''}`);
    this.name = 'IpvsRestoreError';
  }
}

/** What the last apply left in the kernel, as this executor wrote it: what a partial sync diffs against. */
interface Ledger {
  /** Virtual servers by owner (a Service port). */
  readonly virtualServers: ReadonlyMap<string, readonly VirtualServer[]>;
  /** A member ledger per set of the plan (for partial syncs). */
  readonly members: ReadonlyMap<string, MemberLedger>;
  /** kube-ipvs0's addresses by owner, counted (Service ports share ClusterIPs). */
  readonly addresses: MemberLedger;
  /** The plan the ledger is of: its flat lists, for lostState. */
  readonly plan: IpvsPlan;
}

/** The plan's kube-ipvs0 addresses by owner; all under one owner for a plan built without groups. */
const addressGroupsOf = (plan: IpvsPlan): ReadonlyMap<string, readonly string[]> => plan.addressGroups ?? new Map([['', plan.addresses]]);

/**
 * The plan's virtual servers by owner. A plan's own groups are taken when its flat list is theirs (the planner's
 * plans), so that the next partial sync skips every owner whose array it keeps; otherwise they are grouped afresh.
 */
function groupsOf(plan: IpvsPlan): ReadonlyMap<string, readonly VirtualServer[]> {
  const groups = plan.virtualServerGroups;
  // The planner's plans derive their flat list from the groups (a getter): they agree by construction.
  if (groups && Object.getOwnPropertyDescriptor(plan, 'virtualServers')?.get) return groups;
  const flat = plan.virtualServers;
  if (groups) {
    let i = 0;
    const same = [...groups.values()].every((list) => list.every((vs) => vs === flat[i++])) && i === flat.length;
    if (same) return groups;
  }
  const byOwner = new Map<string, VirtualServer[]>();
  for (const vs of flat) byOwner.set(vs.service, [...(byOwner.get(vs.service) ?? []), vs]);
  return byOwner;
}

/** The virtual servers of the owners whose arrays differ between the ledger and the plan: before and after. */
function changedVirtualServers(before: ReadonlyMap<string, readonly VirtualServer[]>, after: ReadonlyMap<string, readonly VirtualServer[]>): [VirtualServer[], VirtualServer[]] {
  const was: VirtualServer[] = [];
  const now: VirtualServer[] = [];
  // Groups of one lineage of plans name the owners that may have changed; otherwise every owner is compared.
  const candidates = OverlayMap.changedKeys(before, after);
  for (const owner of candidates ?? after.keys()) {
    const old = before.get(owner);
    const list = after.get(owner);
    if (old === list) continue;
    if (old) was.push(...old);
    if (list) now.push(...list);
  }
  if (!candidates) for (const [owner, old] of before) if (!after.has(owner)) was.push(...old);
  return [was, now];
}

/** Applies the IPVS, ipset and kube-ipvs0 state of a plan: a full sync against the kernel, partial ones against a ledger. */
export class IpvsExecutor {
  readonly iptables: IptablesExecutor;
  private ledger: Ledger | undefined;
  /** Real servers draining at weight 0 (graceful termination), by virtual server and real. */
  private draining = new Map<string, DrainingReal>();
  private readonly standbys: StandbyPool;

  constructor(private readonly options: IpvsExecutorOptions) {
    this.iptables = new IptablesExecutor({ runner: options.runner, family: options.family, variant: options.iptablesVariant ?? 'auto' });
    this.standbys = new StandbyPool(options.runner);
  }

  /** How many real servers are draining (weight 0, connections left). */
  get drainingReals(): number {
    return this.draining.size;
  }

  /** Fails early, naming what is missing: the IPVS module, the dummy interface type, or a tool. */
  async preflight(): Promise<void> {
    const { runner } = this.options;
    const ipvs = await runner.run('ipvsadm', ['-Ln']);
    if (ipvs.exitCode !== 0) {
      throw new IpvsUnavailableError(`this kernel has no IPVS (ipvsadm: ${ipvs.stderr.trim()}): load the ip_vs modules (modprobe ip_vs ip_vs_rr ...) or use a kernel built with CONFIG_IP_VS; --mode iptables works without it`);
    }
    await this.ensureDummy();
    await runChecked(runner, 'ipset', ['version']);
  }

  private async ensureDummy(): Promise<void> {
    const { runner } = this.options;
    const exists = await runner.run('ip', ['link', 'show', 'dev', DUMMY_INTERFACE]);
    if (exists.exitCode === 0) return;
    const created = await runner.run('ip', ['link', 'add', DUMMY_INTERFACE, 'type', 'dummy']);
    if (created.exitCode !== 0) {
      throw new IpvsUnavailableError(`cannot create the ${DUMMY_INTERFACE} dummy interface (${created.stderr.trim()}): this kernel needs the dummy module (CONFIG_DUMMY)`);
    }
  }

  /** The sysctls kube-proxy sets for IPVS. */
  async setSysctls(): Promise<void> {
    const settings = ['net.ipv4.vs.conntrack=1', 'net.ipv4.vs.expire_nodest_conn=1', 'net.ipv4.vs.expire_quiescent_template=1', 'net.ipv4.ip_forward=1'];
    if (this.options.strictARP) settings.push('net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2');
    await runChecked(this.options.runner, 'sysctl', ['-qw', ...settings]);
  }

  /**
   * kube-proxy's --ipvs-tcp-timeout, --ipvs-tcpfin-timeout and --ipvs-udp-timeout, in seconds: `ipvsadm --set`,
   * where 0 keeps the kernel's value. They are per network namespace, not per family: set them once.
   */
  async setTimeouts(timeouts: { readonly tcp: number; readonly tcpFin: number; readonly udp: number }): Promise<void> {
    if (timeouts.tcp + timeouts.tcpFin + timeouts.udp === 0) return;
    await runChecked(this.options.runner, 'ipvsadm', ['--set', String(timeouts.tcp), String(timeouts.tcpFin), String(timeouts.udp)]);
  }

  /**
   * Full (the first time, when asked, and after any failure): reads the kernel's virtual servers, sets and kube-ipvs0
   * addresses and applies the differences. Partial: diffs the plan against the ledger of what
   * the last apply left, so a change costs what it changes and reads nothing back; someone else's edits to our state
   * are found by lostState(), once per sync period, and repaired by a full sync.
   */
  async apply(plan: IpvsPlan, options: { full?: boolean } = {}): Promise<IpvsApplyResult> {
    try {
      const ledger = this.ledger;
      const virtualServers = groupsOf(plan);
      // A set the ledger does not know (a new kind of set after an upgrade) takes a full sync as well.
      const partial = !options.full && ledger && plan.ipsets.every((set) => ledger.members.has(set.name));
      const result = partial ? await this.applyPartial(plan, virtualServers, ledger) : await this.applyFull(plan, options);
      const members = partial ? ledger.members : new Map(plan.ipsets.map((set) => [set.name, new MemberLedger(ipsetOwners(set))]));
      const addresses = partial ? ledger.addresses : new MemberLedger(addressGroupsOf(plan));
      this.ledger = { virtualServers, members, addresses, plan };
      return result;
    } catch (err) {
      this.ledger = undefined;
      throw err;
    } finally {
      if (this.options.standby) this.standbys.prepare(STANDBY_COMMANDS);
    }
  }

  /** Ends the tools started ahead (options.standby); the kernel state stays as it is. */
  async close(): Promise<void> {
    await Promise.all([this.standbys.close(), this.iptables.close()]);
  }

  /**
   * Deletes the draining reals that have no connection left (kube-proxy checks once a minute), reading only their
   * virtual servers. Returns how many it deleted.
   */
  async deleteDrainedReals(): Promise<number> {
    if (this.draining.size === 0) return 0;
    const servers = new Map([...this.draining.values()].map(({ vs }) => [virtualServerId(vs), vs]));
    const listed = await this.listServers([...servers.values()]);
    const { drained, gone } = drainedReals(this.draining, listed);
    for (const key of gone) this.draining.delete(key);
    if (drained.length === 0) return 0;
    await this.restoreIpvs(drained.map(({ vs, real }) => ({ op: 'delete-real', vs, real }) as const));
    for (const { vs, real } of drained) this.draining.delete(drainingKey(vs, real));
    return drained.length;
  }

  /** `ipvsadm -Ln` of each of these virtual servers: its reals with their connections (undefined: not in the kernel). */
  private async listServers(servers: readonly VirtualServer[]): Promise<Map<string, readonly ListedReal[] | undefined>> {
    const listed = new Map<string, readonly ListedReal[] | undefined>();
    for (const vs of servers) {
      const result = await this.options.runner.run('ipvsadm', ['-Ln', ...serviceArgs(vs)]);
      listed.set(virtualServerId(vs), result.exitCode === 0 ? parseIpvsadmList(result.stdout)[0]?.reals : undefined);
    }
    return listed;
  }

  /** The next apply is a full one (after a failure elsewhere, or to start afresh). */
  invalidate(): void {
    this.ledger = undefined;
    this.iptables.invalidate();
  }

  private async applyFull(plan: IpvsPlan, options: { full?: boolean }): Promise<IpvsApplyResult> {
    const { runner } = this.options;
    await this.ensureDummy();
    // Sets first: the iptables rules match on them. What they held before says which node ports were ours.
    const sets = parseIpsetSave((await runChecked(runner, 'ipset', ['save'])).stdout);
    const ipsetLines = ipsetChanges(sets, plan.ipsets);
    if (ipsetLines.length > 0) await runChecked(runner, 'ipset', ['restore', '-exist'], { input: chunked(ipsetLines) });
    const rules = await this.iptables.apply(plan.iptables, { ...options, full: true });
    const bound = managedAddresses(await this.boundAddresses(), plan.addresses, this.options.excludeCIDRs ?? []);
    const addressLines = addressChanges(bound, plan.addresses);
    if (addressLines.length > 0) await runChecked(runner, 'ip', ['-batch', '-'], { input: addressLines.join('\n') + '\n' });
    const owns = this.ownership([...bound, ...plan.addresses.map((a) => a.split('/')[0]!)], sets, plan);
    // The kernel's reals at weight 0 that the plan does not have are draining (from before a restart, too).
    const { operations, draining } = gracefulOperations(await this.ownVirtualServers(owns), plan.virtualServers, this.draining);
    if (operations.length > 0) await this.restoreIpvs(operations, { expect: () => withDraining(plan.virtualServers, draining), owns });
    this.draining = draining;
    return { ipvsCommands: operations.length, ipsetCommands: ipsetLines.length, addressCommands: addressLines.length, rulesPerTable: rules.rulesPerTable, servedAt: performance.now() };
  }

  /**
   * Only what changed since the ledger, additions first: new set members and kube-ipvs0 addresses are written at
   * once, IPVS takes its additions and then its removals (ipvsOperations), and member and address removals follow
   * once IPVS has its change (not at all if it failed). So a change never opens a window without a backend, and the
   * tools run side by side, in processes started ahead (options.standby). A failure reads back what it touched.
   */
  private async applyPartial(plan: IpvsPlan, virtualServers: ReadonlyMap<string, readonly VirtualServer[]>, ledger: Ledger): Promise<IpvsApplyResult> {
    let adds: string[] = [];
    let removals: string[] = [];
    for (const set of plan.ipsets) {
      const changes = ledger.members.get(set.name)!.update(ipsetOwners(set), set.name);
      adds = adds.concat(changes.adds);
      removals = removals.concat(changes.removals);
    }
    const bound = ledger.addresses.diff(addressGroupsOf(plan));
    const [was, now] = changedVirtualServers(ledger.virtualServers, virtualServers);
    const { operations, draining } = gracefulOperations(was, now, this.draining);
    const rules = await this.iptables.apply(plan.iptables);
    // The change serves once IPVS has it, and the addresses it binds (written in the same run as its removals).
    let servedAt = 0;
    const ipvs = (operations.length > 0 ? this.restoreIpvs(operations, { touched: [...now, ...was], expect: () => now }) : Promise.resolve()).then(() => {
      if (bound.added.length === 0) servedAt = performance.now();
    });
    const steps = await Promise.allSettled([
      ipvs,
      this.standbys.runPhased('ipset', ['restore', '-exist'], adds, removals, ipvs),
      this.standbys.runPhased('ip', ['-batch', '-'], bound.added.map((ip) => addressLine('add', ip)), bound.removed.map((ip) => addressLine('del', ip)), ipvs),
    ]);
    servedAt ||= performance.now();
    const failed = steps.find((step) => step.status === 'rejected');
    if (failed) throw failed.reason;
    this.draining = draining;
    return { ipvsCommands: operations.length, ipsetCommands: adds.length + removals.length, addressCommands: bound.added.length + bound.removed.length, rulesPerTable: rules.rulesPerTable, servedAt };
  }

  /**
   * What someone else changed of the state the last apply left (virtual servers, set members, kube-ipvs0 addresses,
   * the iptables rules), in words; empty when all is as applied. Reads the kernel: asked once per sync period.
   */
  async lostState(): Promise<string[]> {
    const lost = await this.iptables.lostState();
    const ledger = this.ledger;
    if (!ledger) return lost;
    // Set headers only: a member count costs the same at 100k members as at 10.
    lost.push(...(await lostSetMembers(this.options.runner, ledger.plan.ipsets.map((set) => [set.name, set.entries.length]))));
    const exists = (await this.options.runner.run('ip', ['link', 'show', 'dev', DUMMY_INTERFACE])).exitCode === 0;
    const bound = new Set(exists ? await this.boundAddresses() : []);
    const planned = ledger.plan.addresses;
    const unbound = planned.filter((ip) => !bound.has(ip.split('/')[0]!));
    if (!exists) lost.push(`${DUMMY_INTERFACE} is gone`);
    else if (unbound.length > 0) lost.push(`${unbound.length} addresses left ${DUMMY_INTERFACE}, e.g. ${unbound[0]}`);
    // Addresses in --ipvs-exclude-cidrs are someone else's, and so are their virtual servers: not ours to miss.
    const managed = managedAddresses([...bound], planned, this.options.excludeCIDRs ?? []);
    const applied = [...ledger.virtualServers.values()].flat();
    // The node-port sets as applied: a node port an earlier run left is the next full sync's to remove.
    const owns = this.ownership([...managed, ...planned], NO_SAVED_SETS, { ipsets: ledger.plan.ipsets, virtualServers: applied });
    const expected = withDraining(applied, this.draining);
    const saved = (await runChecked(this.options.runner, 'ipvsadm-save', ['-n'])).stdout;
    // Digests first, so that the usual answer (all as applied) builds no object per server; only a difference is named.
    if (savedDigest(saved, owns).equals(serversDigest(expected))) return lost;
    const differences = ipvsChanges(parseIpvsadmSave(saved).filter(owns), expected);
    if (differences.length > 0) lost.push(`${differences.length} virtual or real servers differ from the applied ones, e.g. ${differences[0]}`);
    return lost;
  }

  /**
   * A virtual server is this proxy's when it is on an address the proxy binds to kube-ipvs0, or on a node port that
   * its node-port sets list, in the kernel (from an earlier run) or in the plan: so a node port whose Service is
   * gone is removed after a restart too. Addresses in --ipvs-exclude-cidrs that the plan does not use are never ours.
   */
  private ownership(addresses: readonly string[], sets: SavedIpsets, plan?: Pick<IpvsPlan, 'ipsets' | 'virtualServers'>): Ownership {
    const onDummy = new Set(addresses);
    const nodePorts = new Set<string>();
    for (const [protocol, key] of NODE_PORT_SET_KEYS) {
      const name = ipvsSetName(key, this.options.family);
      const inPlan: IpsetPlan | undefined = plan?.ipsets.find((set) => set.name === name);
      for (const member of [...(sets.sets.get(name)?.entries ?? []), ...(inPlan?.entries ?? [])]) nodePorts.add(`${protocol}:${member.split(':').pop()}`);
    }
    const planned = new Set((plan?.virtualServers ?? []).map((vs) => vs.address));
    const excluded = (address: string) => !planned.has(address) && (this.options.excludeCIDRs ?? []).some((cidr) => cidrContains(cidr, address));
    // Node ports are the same numbers in both families: each executor owns its own family's virtual servers only.
    const v6 = this.options.family === 6;
    return (vs) => onDummy.has(vs.address) || (vs.address.includes(':') === v6 && nodePorts.has(`${vs.protocol}:${vs.port}`) && !excluded(vs.address));
  }

  /**
   * `ipvsadm -R`, not the `ipvsadm-restore` script: that script runs `ipvsadm -C` first, which would wipe every virtual
   * server (and its connections' scheduling state) before a diff that only names what changed. The input is rendered
   * as it is sent, in chunks (a full sync is 110k lines at 10k Services × 10). ipvsadm goes on after a refused line
   * and says so on stderr, so any complaint fails the sync; only then is the kernel read back, to say what differs
   * from `expect`: all of our servers (`owns`, full syncs) or those the change `touched`. A sync that ipvsadm took
   * whole reads nothing back: lostState() compares the kernel with the ledger once per sync period.
   */
  private async restoreIpvs(operations: readonly IpvsOperation[], check?: { expect: () => readonly VirtualServer[]; owns?: Ownership; touched?: readonly VirtualServer[] }): Promise<void> {
    const result = await this.standbys.run('ipvsadm', ['-R'], chunked(operations, operationLine));
    if (result.exitCode === 0 && result.stderr.trim() === '') return;
    let left: string[] = [];
    if (check?.owns) left = ipvsChanges(await this.ownVirtualServers(check.owns), check.expect());
    else if (check?.touched) left = await this.touchedDifferences(check.touched, check.expect());
    throw new IpvsRestoreError(result.stderr.trim() || `exit ${result.exitCode}`, left);
  }

  /** What differs between the kernel and `expected` among the virtual servers a failed change touched (a few read back). */
  private async touchedDifferences(touched: readonly VirtualServer[], expected: readonly VirtualServer[]): Promise<string[]> {
    const servers = [...new Map(touched.map((vs) => [virtualServerId(vs), vs])).values()].slice(0, MAX_READ_BACK);
    const listed = await this.listServers(servers);
    const kernel = servers.flatMap((vs) => {
      const reals = listed.get(virtualServerId(vs));
      return reals ? [{ ...vs, reals: reals.map(({ address, port, weight }) => ({ address, port, weight })) }] : [];
    });
    const ids = new Set(servers.map(virtualServerId));
    return ipvsChanges(kernel, withDraining(expected.filter((vs) => ids.has(virtualServerId(vs))), this.draining));
  }

  /** The virtual servers this proxy owns (see ownership). Others on the node (a load balancer's, an operator's) are never touched. */
  private async ownVirtualServers(owns: Ownership) {
    return (await this.virtualServers()).filter(owns);
  }

  async virtualServers() {
    return parseIpvsadmSave((await runChecked(this.options.runner, 'ipvsadm-save', ['-n'])).stdout);
  }

  async boundAddresses(): Promise<string[]> {
    const { stdout } = await runChecked(this.options.runner, 'ip', ['-j', 'addr', 'show', 'dev', DUMMY_INTERFACE]);
    const [link] = JSON.parse(stdout || '[]') as { addr_info?: { local: string; family: string }[] }[];
    return (link?.addr_info ?? []).filter((a) => (a.family === 'inet6') === (this.options.family === 6)).map((a) => a.local);
  }

  /** Removes what the IPVS mode created: its virtual servers (those on kube-ipvs0 addresses), kube-ipvs0, rules, sets. */
  async cleanup(plan: Pick<IpvsPlan, 'iptables' | 'ipsets'>): Promise<void> {
    const { runner } = this.options;
    const bound = (await runner.run('ip', ['link', 'show', 'dev', DUMMY_INTERFACE])).exitCode === 0 ? await this.boundAddresses() : [];
    const sets = parseIpsetSave((await runner.run('ipset', ['save'])).stdout);
    const lines = ipvsChanges(await this.ownVirtualServers(this.ownership(bound, sets)), []);
    if (lines.length > 0) await runChecked(runner, 'ipvsadm', ['-R'], { input: lines.join('\n') + '\n' });
    await runner.run('ip', ['link', 'del', 'dev', DUMMY_INTERFACE]);
    await this.iptables.cleanup(plan.iptables.jumps);
    for (const set of plan.ipsets) await runner.run('ipset', ['destroy', set.name]);
  }
}
