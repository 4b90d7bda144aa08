import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { IptablesExecutor, ipsetChanges, ipsetOwners, MemberLedger, parseIpsetSave, type IpsetPlan, type IptablesVariant, type SavedIpsets } from '@hybrid-proxy/iptables';
import { cidrContains, type IPFamily } from '@hybrid-proxy/model';
import { addressChanges, managedAddresses } from './address-changes.js';
import { ipvsChanges, parseIpvsadmSave } from './ipvsadm-text.js';
import { DUMMY_INTERFACE, type IpvsPlan, type VirtualServer } from './ipvs-plan.js';
import { ipvsSetName, type IpvsSetKey } from './ipvs-sets.js';

/** The sets that say which node ports are this proxy's, by protocol. */
const NODE_PORT_SET_KEYS: readonly (readonly [VirtualServer['protocol'], IpvsSetKey])[] = [
  ['tcp', 'nodePortTCP'],
  ['udp', 'nodePortUDP'],
  ['sctp', 'nodePortSCTP'],
];

/** Which virtual servers a proxy owns: those on kube-ipvs0's addresses, and those on the node ports its sets list. */
type Ownership = (vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>) => boolean;

export interface IpvsExecutorOptions {
  readonly runner: CommandRunner;
  readonly family: IPFamily;
  readonly iptablesVariant?: IptablesVariant | 'auto';
  /** kube-proxy's --ipvs-strict-arp: do not answer ARP for the VIPs on kube-ipvs0 from other interfaces. */
  readonly strictARP?: boolean;
  /** kube-proxy's --ipvs-exclude-cidrs: virtual servers and kube-ipvs0 addresses in these ranges are never cleaned up. */
  readonly excludeCIDRs?: readonly string[];
}

export interface IpvsApplyResult {
  readonly ipvsCommands: number;
  readonly ipsetCommands: number;
  readonly addressCommands: number;
  readonly rulesPerTable: Readonly<Record<string, number>>;
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
  /** The last plan's sets (their members, for lostState) and a member ledger per set (for partial syncs). */
  readonly ipsets: readonly IpsetPlan[];
  readonly members: ReadonlyMap<string, MemberLedger>;
  readonly addresses: readonly string[];
}

/**
 * The plan's virtual servers by owner. A plan's own groups are taken when its flat list is theirs (the planner's
 * plans), so that the next partial sync skips every owner whose array it keeps; otherwise they are grouped afresh.
 */
function groupsOf(plan: IpvsPlan): ReadonlyMap<string, readonly VirtualServer[]> {
  const groups = plan.virtualServerGroups;
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
  for (const [owner, list] of after) {
    const old = before.get(owner);
    if (old === list) continue;
    if (old) was.push(...old);
    now.push(...list);
  }
  for (const [owner, old] of before) if (!after.has(owner)) was.push(...old);
  return [was, now];
}

/** Applies the IPVS, ipset and kube-ipvs0 state of a plan: a full sync against the kernel, partial ones against a ledger. */
export class IpvsExecutor {
  readonly iptables: IptablesExecutor;
  private ledger: Ledger | undefined;

  constructor(private readonly options: IpvsExecutorOptions) {
    this.iptables = new IptablesExecutor({ runner: options.runner, family: options.family, variant: options.iptablesVariant ?? 'auto' });
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
   * addresses, applies the differences and reads the servers back. Partial: diffs the plan against the ledger of what
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
      this.ledger = { virtualServers, ipsets: plan.ipsets, members, addresses: plan.addresses };
      return result;
    } catch (err) {
      this.ledger = undefined;
      throw err;
    }
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
    if (ipsetLines.length > 0) await runChecked(runner, 'ipset', ['restore', '-exist'], { input: ipsetLines.join('\n') + '\n' });
    const rules = await this.iptables.apply(plan.iptables, { ...options, full: true });
    const bound = managedAddresses(await this.boundAddresses(), plan.addresses, this.options.excludeCIDRs ?? []);
    const addressLines = addressChanges(bound, plan.addresses);
    if (addressLines.length > 0) await runChecked(runner, 'ip', ['-batch', '-'], { input: addressLines.join('\n') + '\n' });
    const owns = this.ownership([...bound, ...plan.addresses.map((a) => a.split('/')[0]!)], sets, plan);
    const ipvsLines = ipvsChanges(await this.ownVirtualServers(owns), plan.virtualServers);
    if (ipvsLines.length > 0) await this.restoreIpvs(ipvsLines, { plan, owns });
    return { ipvsCommands: ipvsLines.length, ipsetCommands: ipsetLines.length, addressCommands: addressLines.length, rulesPerTable: rules.rulesPerTable };
  }

  /** Only what changed since the ledger: set members first (removals, then additions), addresses, then servers. */
  private async applyPartial(plan: IpvsPlan, virtualServers: ReadonlyMap<string, readonly VirtualServer[]>, ledger: Ledger): Promise<IpvsApplyResult> {
    const { runner } = this.options;
    const removals: string[] = [];
    const adds: string[] = [];
    for (const set of plan.ipsets) {
      const changes = ledger.members.get(set.name)!.update(ipsetOwners(set), set.name);
      removals.push(...changes.removals);
      adds.push(...changes.adds);
    }
    const ipsetLines = [...removals, ...adds];
    if (ipsetLines.length > 0) await runChecked(runner, 'ipset', ['restore', '-exist'], { input: ipsetLines.join('\n') + '\n' });
    const rules = await this.iptables.apply(plan.iptables);
    const addressLines = addressChanges(ledger.addresses, plan.addresses);
    if (addressLines.length > 0) await runChecked(runner, 'ip', ['-batch', '-'], { input: addressLines.join('\n') + '\n' });
    const ipvsLines = ipvsChanges(...changedVirtualServers(ledger.virtualServers, virtualServers));
    if (ipvsLines.length > 0) await this.restoreIpvs(ipvsLines);
    return { ipvsCommands: ipvsLines.length, ipsetCommands: ipsetLines.length, addressCommands: addressLines.length, rulesPerTable: rules.rulesPerTable };
  }

  /**
   * What someone else changed of the state the last apply left (virtual servers, set members, kube-ipvs0 addresses,
   * the iptables rules), in words; empty when all is as applied. Reads the kernel: asked once per sync period.
   */
  async lostState(): Promise<string[]> {
    const lost = await this.iptables.lostState();
    const ledger = this.ledger;
    if (!ledger) return lost;
    const sets = parseIpsetSave((await this.options.runner.run('ipset', ['save'])).stdout);
    for (const set of ledger.ipsets) {
      const present = sets.sets.get(set.name)?.entries;
      const missing = set.entries.filter((e) => !present?.has(e));
      if (!present) lost.push(`set ${set.name} is gone`);
      else if (missing.length > 0 || present.size !== set.entries.length) lost.push(`set ${set.name} holds ${present.size} members, not the ${set.entries.length} applied${missing.length ? `, e.g. without ${missing[0]}` : ''}`);
    }
    const exists = (await this.options.runner.run('ip', ['link', 'show', 'dev', DUMMY_INTERFACE])).exitCode === 0;
    const bound = new Set(exists ? await this.boundAddresses() : []);
    const unbound = ledger.addresses.filter((ip) => !bound.has(ip.split('/')[0]!));
    if (!exists) lost.push(`${DUMMY_INTERFACE} is gone`);
    else if (unbound.length > 0) lost.push(`${unbound.length} addresses left ${DUMMY_INTERFACE}, e.g. ${unbound[0]}`);
    // Addresses in --ipvs-exclude-cidrs are someone else's, and so are their virtual servers: not ours to miss.
    const managed = managedAddresses([...bound], ledger.addresses, this.options.excludeCIDRs ?? []);
    const applied = [...ledger.virtualServers.values()].flat();
    const differences = ipvsChanges(await this.ownVirtualServers(this.ownership([...managed, ...ledger.addresses], sets, { ipsets: ledger.ipsets, virtualServers: applied })), applied);
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
   * server (and its connections' scheduling state) before a diff that only names what changed. ipvsadm goes on after a
   * refused line, so any complaint fails the sync. `verify` (full syncs): the kernel is read back and must match.
   */
  private async restoreIpvs(lines: readonly string[], verify?: { plan: IpvsPlan; owns: Ownership }): Promise<void> {
    const result = await this.options.runner.run('ipvsadm', ['-R'], { input: lines.join('\n') + '\n' });
    const left = verify ? ipvsChanges(await this.ownVirtualServers(verify.owns), verify.plan.virtualServers) : [];
    if (result.exitCode !== 0 || result.stderr.trim() !== '' || left.length > 0) {
      throw new IpvsRestoreError(result.stderr.trim() || (result.exitCode !== 0 ? `exit ${result.exitCode}` : ''), left);
    }
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
