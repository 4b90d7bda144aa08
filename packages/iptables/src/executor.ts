import { runChecked, StandbyPool, ToolMissingError, type CommandRunner } from '@hybrid-proxy/exec';
import type { IPFamily } from '@hybrid-proxy/model';
import { canonicalRule } from './saved-rule.js';
import { fullChanges, isNoChange, missingJumps, partialChanges, serveFirstChanges, staleJumps, type AppliedState } from './chain-diff.js';
import { isPerServiceChain, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_LOCALNET_FIREWALL, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_FIREWALL, KUBE_SERVICES } from './chain-names.js';
import { gateSetName, hairpinSetName } from './dispatch-tree.js';
import { builtinJumps } from './fixed-chains.js';
import { createSetLine, ipsetOwners, ipsetSteps, MemberLedger, parseIpsetSave, type IpsetPlan, type MemberChanges, type SavedIpsets } from './ipset-text.js';
import { iptablesTools, type IptablesTools, type IptablesVariant } from './iptables-tools.js';
import { renderRestoreInput, restoreInputChunks, type TableChange } from './restore-text.js';
import { RestoreError } from './restore-error.js';
import { kubeProxyLeftovers } from './kube-proxy-leftovers.js';
import { countRules, TABLES, type BuiltinJump, type IptablesPlan, type Table } from './rule-plan.js';
import { chainNames, parseSave, type SavedTable } from './save-parser.js';
import { detectVariant } from './variant-detection.js';

export interface IptablesExecutorOptions {
  readonly runner: CommandRunner;
  readonly family: IPFamily;
  /** `auto` (default) detects the variant the node uses. */
  readonly variant?: IptablesVariant | 'auto';
  /** Seconds to wait for the xtables lock. */
  readonly lockWaitSeconds?: number;
  /**
   * Rules per COMMIT for large inputs (see RenderOptions). Default: 2000 on nft, where one large transaction is
   * super-linear; unlimited on legacy, where every COMMIT rewrites the whole table.
   */
  readonly maxRulesPerCommit?: number;
  /**
   * Keep the next `iptables-restore` and `ipset restore` started and waiting for their input, so that a partial
   * sync does not pay their start-up (about 7 ms of a 60 ms change on nft at 10k × 10: a fifth of it beyond the
   * commit itself). The waiting tools hold no lock and no cache: they read the kernel when their input arrives.
   * `close()` ends them. Default: off.
   */
  readonly standby?: boolean;
  /**
   * On nf_tables, a partial sync serves its change in a first commit of additions only, then writes the chains in
   * place in a second (see serveFirstChanges): a commit that deletes any rule waits for an RCU grace period, which
   * at 10k × 10 made a one-endpoint change 1.15-1.3× the cost of a commit that adds a rule. `apply` still resolves
   * once the kernel holds exactly the plan; `servedAt` says when the new rules took effect. Default: off.
   */
  readonly serveFirst?: boolean;
}

const NFT_RULES_PER_COMMIT = 2000;

export interface ApplyResult {
  readonly kind: 'full' | 'partial' | 'unchanged';
  readonly chainsWritten: number;
  readonly chainsRemoved: number;
  /** Rules per table in the desired plan, for kubeproxy_sync_proxy_rules_iptables_total. */
  readonly rulesPerTable: Readonly<Record<Table, number>>;
  /** The restore input, for logs and debugging (empty when unchanged). */
  readonly input: string;
  /** `ipset restore` lines run for the plan's sets (gate membership). */
  readonly ipsetCommands: number;
  /** When (performance.now()) the new rules took effect: the first commit of a serve-first sync, else the restore's end. */
  readonly servedAt: number;
}

/** Each restore of an apply, as the changes it was rendered from: its text is rendered again only when read. */
type SentRestores = readonly (readonly TableChange[])[];

const NOTHING_SENT: SentRestores = [];

/** Fixed chains that always hold rules, checked for drift: one per table, in either mode. */
const CANARY_CHAINS: Readonly<Record<Table, readonly string[]>> = { nat: [KUBE_POSTROUTING], filter: [KUBE_FORWARD] };

/** Chains either mode (iptables or IPVS) creates, which cleanup removes. */
const FIXED_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ],
  filter: [KUBE_SERVICES, KUBE_FORWARD, 'KUBE-IPVS-FILTER', KUBE_EXTERNAL_SERVICES, KUBE_PROXY_FIREWALL, KUBE_NODEPORTS, KUBE_LOCALNET_FIREWALL],
};

/** The only part of the iptables backend that touches the kernel. */
export class IptablesExecutor {
  private tools: IptablesTools | undefined;
  private applied: { readonly tables: AppliedState; readonly sets: Map<string, MemberLedger>; readonly jumps: readonly BuiltinJump[] } | undefined;
  private readonly wait: string[];
  /** Restore tools started ahead for the next apply (options.standby). */
  private readonly standbys: StandbyPool;

  constructor(private readonly options: IptablesExecutorOptions) {
    this.wait = ['-w', String(options.lockWaitSeconds ?? 5)];
    this.standbys = new StandbyPool(options.runner);
  }

  async resolveTools(): Promise<IptablesTools> {
    if (!this.tools) {
      const wanted = this.options.variant ?? 'auto';
      const variant = wanted === 'auto' ? await detectVariant(this.options.runner, this.options.family) : wanted;
      this.tools = iptablesTools(this.options.family, variant);
    }
    return this.tools;
  }

  /** Forgets what was applied, so the next apply is a full sync. */
  invalidate(): void {
    this.applied = undefined;
  }

  get hasAppliedState(): boolean {
    return this.applied !== undefined;
  }

  /**
   * Applies a plan. Partial when the previous apply succeeded and `full` is not asked for: only changed chains
   * are rewritten. Any failure forgets the applied state, so the retry is a full sync.
   */
  async apply(plan: IptablesPlan, options: { full?: boolean } = {}): Promise<ApplyResult> {
    const tools = await this.resolveTools();
    const full = options.full === true || this.applied === undefined;
    try {
      let changes: TableChange[];
      let setSteps: { before: string[] } & MemberChanges;
      // Where the jumps from the built-in chains go on a full sync. nf_tables: last, so that on a fresh node no
      // commit below is reachable from a hook and none re-validates the growing ruleset (a third of a 10k full
      // sync). legacy: first, since each -I rewrites the whole table, cheap while it is still empty.
      const jumpsFirst = tools.variant === 'legacy';
      let saved: Map<string, SavedTable> | undefined;
      if (full) {
        if (jumpsFirst) await this.ensureJumps(tools, plan.jumps);
        saved = await this.savedTables(tools);
        changes = fullChanges(plan, { filter: chainNames(saved, 'filter'), nat: chainNames(saved, 'nat') });
        setSteps = ipsetSteps(await this.savedSets(plan.ipsets), plan.ipsets);
      } else {
        changes = partialChanges(plan, this.applied!.tables);
        setSteps = this.memberChanges(plan.ipsets, this.applied!.sets);
      }
      // Sets exist before the rules that name them.
      await this.restoreSets(setSteps.before);
      const split = !full && this.serveFirst(tools, changes) ? serveFirstChanges(changes, this.applied!.tables) : undefined;
      const serving = isNoChange(changes) ? Promise.resolve(NOTHING_SENT) : this.restoreRules(tools, split?.serve ?? changes);
      let servedAt = performance.now();
      const rulesApplied = serving.then(async (served) => {
        servedAt = performance.now();
        // Off the serving path: the chains written in place, the stand-ins and the chains that went away removed.
        return split && !isNoChange(split.tidy) ? served.concat(await this.restoreRules(tools, split.tidy, false)) : served;
      });
      // Removals wait for the new rules to serve: from then on, nothing leads to an old member.
      const [rules, members] = await Promise.allSettled([rulesApplied, this.changeMembers(setSteps, serving)]);
      if (rules.status === 'rejected') throw rules.reason;
      if (members.status === 'rejected') throw members.reason;
      const sent = rules.value;
      const maxRulesPerCommit = this.rulesPerCommit(tools);
      // (On a restart the jumps exist already, and the rules they lead to were replaced commit by commit.)
      if (full && !jumpsFirst) {
        await this.insertMissingJumps(tools, plan.jumps, saved!);
        servedAt = performance.now(); // on a fresh node, traffic reaches the new rules once the jumps exist
      }
      if (full) await this.removeStaleJumps(tools, plan.jumps, saved!);
      this.applied = { tables: plan.tables, sets: full ? ledgersOf(plan.ipsets) : this.applied!.sets, jumps: plan.jumps };
      const ipsetCommands = setSteps.before.length + setSteps.adds.length + setSteps.removals.length;
      return {
        kind: full ? 'full' : sent.length > 0 || ipsetCommands > 0 ? 'partial' : 'unchanged',
        chainsWritten: changes.reduce((n, c) => n + c.write.size, 0),
        chainsRemoved: changes.reduce((n, c) => n + c.remove.length, 0),
        rulesPerTable: { filter: countRules(plan.tables.filter), nat: countRules(plan.tables.nat) },
        // Rendered again when read (the same changes render the same text): at 10k Services a full sync's input is
        // over 10 MB, and the sync itself never reads it.
        get input() {
          return sent.map((changes) => renderRestoreInput(changes, { maxRulesPerCommit })).join('');
        },
        ipsetCommands,
        servedAt,
      };
    } catch (err) {
      this.applied = undefined;
      throw err;
    } finally {
      if (this.options.standby) this.standbys.prepare([[tools.restore, [...this.wait, '--noflush']], ...(plan.ipsets.length > 0 ? [['ipset', ['restore', '-exist']] as const] : [])]);
    }
  }

  /**
   * What someone else removed since the last apply, in words; empty when all is in place (or nothing was applied:
   * the next apply is a full sync anyway). A partial sync trusts the ledger, so a firewall reload or an
   * `iptables -t nat -F` would go unrepaired until the next full sync; the sync loop asks this once per sync
   * period, as kube-proxy checks its KUBE-PROXY-CANARY chains, and more: a flushed table or chain, a deleted jump
   * or an emptied set shows, not only a deleted canary. It lists only the small chains: the built-in chains our jumps
   * sit in, and one fixed chain per table that always holds rules, so it stays cheap at any scale.
   */
  async lostState(): Promise<string[]> {
    const applied = this.applied;
    if (!applied) return [];
    const tools = await this.resolveTools();
    const { family } = this.options;
    const lost: string[] = [];
    for (const table of TABLES) {
      const canaries = CANARY_CHAINS[table].filter((chain) => (applied.tables[table].get(chain)?.length ?? 0) > 0);
      const builtins = [...new Set(applied.jumps.filter((jump) => jump.table === table).map((jump) => jump.chain))];
      const lines: string[] = [`*${table}`];
      for (const chain of [...builtins, ...canaries]) {
        const listed = await this.options.runner.run(tools.iptables, [...this.wait, '-t', table, '-S', chain]);
        if (listed.exitCode !== 0) lost.push(`chain ${table}/${chain} is gone`);
        else lines.push(listed.stdout);
      }
      const saved = parseSave(lines.join('\n'));
      for (const change of missingJumps(applied.jumps.filter((jump) => jump.table === table), saved, family)) {
        for (const [chain, rule] of change.insert ?? []) lost.push(`jump ${table}/${chain} ${rule} is gone`);
      }
      for (const chain of canaries) {
        const kernel = saved.get(table)?.chains.get(chain);
        const want = applied.tables[table].get(chain)!;
        if (kernel && (kernel.length !== want.length || kernel.some((rule, i) => canonicalRule(rule, family) !== canonicalRule(want[i]!, family)))) lost.push(`chain ${table}/${chain} holds ${kernel.length} rules, not the ${want.length} applied`);
      }
    }
    lost.push(...(await lostSetMembers(this.options.runner, [...applied.sets].map(([name, ledger]) => [name, ledger.size]))));
    return lost;
  }

  /** Ends the commands kept waiting for the next apply (options.standby); the rules stay as they are. */
  async close(): Promise<void> {
    await this.standbys.close();
  }

  /** A partial sync goes serve-first on nf_tables when asked to, and when each of its commits stays one commit. */
  private serveFirst(tools: IptablesTools, changes: readonly TableChange[]): boolean {
    if (!this.options.serveFirst || tools.variant !== 'nft') return false;
    return changes.reduce((rules, change) => rules + countRules(change.write), 0) <= this.rulesPerCommit(tools);
  }

  /**
   * Streams the restore input to the tool, so it parses and commits while the rest is rendered. The text is not
   * kept: held for the whole restore, a full sync's 10+ MB outlived the young generation. An error renders it again
   * (the same changes render the same text) for the failing line. `standby`: may go to the restore started ahead
   * (the serving path); false starts one for itself.
   */
  private async restoreRules(tools: IptablesTools, changes: readonly TableChange[], standby = true): Promise<SentRestores> {
    const options = { maxRulesPerCommit: this.rulesPerCommit(tools) };
    const chunks = restoreInputChunks(changes, options);
    const args = [...this.wait, '--noflush'];
    const result = await (standby ? this.standbys.run(tools.restore, args, chunks) : this.options.runner.run(tools.restore, args, { input: chunks }));
    if (result.exitCode !== 0) throw RestoreError.fromOutput(result.stderr || result.stdout, renderRestoreInput(changes, options));
    return [changes];
  }

  /** A partial sync's set changes: by owner, against the ledgers (which move on to the plan). */
  private memberChanges(sets: readonly IpsetPlan[], ledgers: Map<string, MemberLedger>): { before: string[] } & MemberChanges {
    const before: string[] = [];
    // concat, not push(...lines): a change of every Service is 100k lines, past what a call's arguments can hold.
    let adds: string[] = [];
    let removals: string[] = [];
    for (const set of sets) {
      const ledger = ledgers.get(set.name);
      if (ledger) {
        const changes = ledger.update(ipsetOwners(set), set.name);
        adds = adds.concat(changes.adds);
        removals = removals.concat(changes.removals);
        continue;
      }
      // A set the last sync did not have: create it (-exist keeps one left from an older run) and fill it.
      before.push(createSetLine(set));
      adds = adds.concat(set.entries.map((entry) => `add ${set.name} ${entry}`));
      ledgers.set(set.name, new MemberLedger(ipsetOwners(set)));
    }
    return { before, adds, removals };
  }

  /** The kernel's members of the plan's sets (a set that does not exist yet reads as absent). */
  private async savedSets(sets: readonly IpsetPlan[]): Promise<SavedIpsets> {
    const texts: string[] = [];
    for (const set of sets) {
      const saved = await this.options.runner.run('ipset', ['save', set.name]);
      if (saved.exitCode === 0) texts.push(saved.stdout);
    }
    return parseIpsetSave(texts.join('\n'));
  }

  /**
   * Member changes, in one `ipset restore` that runs alongside the rule restore, so its start-up is not on the
   * sync's path. Additions are written at once: a gate member whose leaf rule is not loaded yet lets traffic fall
   * through as it did before the sync, and a hairpin member is inert until its DNAT rule exists. Removals are
   * written only once the rules are in (and not at all if they failed): a member never leads into nothing.
   */
  private changeMembers({ adds, removals }: MemberChanges, rulesApplied: Promise<unknown>): Promise<void> {
    return this.standbys.runPhased('ipset', ['restore', '-exist'], adds, removals, rulesApplied);
  }

  private async restoreSets(lines: readonly string[]): Promise<void> {
    if (lines.length > 0) await runChecked(this.options.runner, 'ipset', ['restore', '-exist'], { input: lines.join('\n') + '\n' });
  }

  private rulesPerCommit(tools: IptablesTools): number {
    return this.options.maxRulesPerCommit ?? (tools.variant === 'legacy' ? Number.POSITIVE_INFINITY : NFT_RULES_PER_COMMIT);
  }

  /** iptables-save of one table, as the kernel holds it now. */
  async save(table: Table): Promise<string> {
    const tools = await this.resolveTools();
    return (await runChecked(this.options.runner, tools.save, ['-t', table])).stdout;
  }

  /**
   * Removes every jump, chain and set hybrid-proxy creates, and nothing else. `jumps`: the mode's (default: the
   * iptables mode's); `sets`: destroyed once no rule refers to them (default: the dispatch gate and the hairpin set).
   */
  async cleanup(jumps: readonly BuiltinJump[] = builtinJumps(true), sets: readonly string[] = [gateSetName(this.options.family), hairpinSetName(this.options.family)]): Promise<void> {
    await this.close();
    const tools = await this.resolveTools();
    for (const jump of jumps) {
      // A jump may have been inserted more than once by an older run: delete until none is left.
      for (let i = 0; i < 10; i++) {
        const deleted = await this.options.runner.run(tools.iptables, [...this.wait, '-t', jump.table, '-D', jump.chain, ...jump.match, '-j', jump.target]);
        if (deleted.exitCode !== 0) break;
      }
    }
    const existing = await this.existingChains(tools);
    const changes: TableChange[] = TABLES.map((table) => ({
      table,
      write: new Map(),
      remove: existing[table].filter((chain) => FIXED_CHAINS[table].includes(chain) || isPerServiceChain(chain)),
    }));
    await this.restoreOnce(tools, changes);
    for (const set of sets) {
      // A set that is absent (never created, or no ipset tool at all) leaves nothing to remove.
      const listed = await this.options.runner.run('ipset', ['list', '-n', set]).catch((err: unknown) => {
        if (err instanceof ToolMissingError) return { exitCode: 1 };
        throw err;
      });
      if (listed.exitCode === 0) await runChecked(this.options.runner, 'ipset', ['destroy', set]);
    }
    this.applied = undefined;
  }

  /**
   * Removes what kube-proxy left on the node (its chains, the jumps into them, and `sets`: its IPVS-mode sets of this
   * family, as the IPVS package names them), so that a node switched from kube-proxy carries no rules that nobody
   * updates. Returns what it removed, in words.
   */
  async cleanupKubeProxy(sets: readonly string[] = []): Promise<string[]> {
    const tools = await this.resolveTools();
    const saved = await this.savedTables(tools);
    const input = kubeProxyLeftovers(saved);
    const removed: string[] = [];
    if (input) {
      const result = await this.options.runner.run(tools.restore, [...this.wait, '--noflush'], { input });
      if (result.exitCode !== 0) throw RestoreError.fromOutput(result.stderr || result.stdout, input);
      removed.push(...input.split('\n').filter((line) => line.startsWith('-X ') || line.startsWith('-D ')));
    }
    for (const set of sets) {
      const listed = await this.options.runner.run('ipset', ['list', '-n', set]).catch((err: unknown) => {
        if (err instanceof ToolMissingError) return { exitCode: 1 };
        throw err;
      });
      if (listed.exitCode !== 0) continue;
      await runChecked(this.options.runner, 'ipset', ['destroy', set]);
      removed.push(`ipset ${set}`);
    }
    return removed;
  }

  private async savedTables(tools: IptablesTools): Promise<Map<string, SavedTable>> {
    return parseSave((await runChecked(this.options.runner, tools.save, [])).stdout);
  }

  private async existingChains(tools: IptablesTools): Promise<Record<Table, string[]>> {
    const saved = await this.savedTables(tools);
    return { filter: chainNames(saved, 'filter'), nat: chainNames(saved, 'nat') };
  }

  /**
   * On nf_tables, after a full sync's rules: the jumps that the save read at its start did not show, inserted in
   * one restore, not by `-N`, `-C` and `-I` for each (21 tool runs, a quarter of a second at 10k × 10). The chains
   * they lead to were just written, and nothing else adds our jumps meanwhile.
   */
  private async insertMissingJumps(tools: IptablesTools, jumps: readonly BuiltinJump[], saved: ReadonlyMap<string, SavedTable>): Promise<void> {
    await this.restoreOnce(tools, missingJumps(jumps, saved, this.options.family));
  }

  /** A small restore off the sync's serving path, rendered whole and run by a tool of its own; none if empty. */
  private async restoreOnce(tools: IptablesTools, changes: readonly TableChange[]): Promise<void> {
    const input = renderRestoreInput(changes);
    if (!input) return;
    const result = await this.options.runner.run(tools.restore, [...this.wait, '--noflush'], { input });
    if (result.exitCode !== 0) throw RestoreError.fromOutput(result.stderr || result.stdout, input);
  }

  /** After a full sync: jumps of the other layout (or an older run) that the save at its start showed, deleted. */
  private async removeStaleJumps(tools: IptablesTools, jumps: readonly BuiltinJump[], saved: ReadonlyMap<string, SavedTable>): Promise<void> {
    // One gone meanwhile is as good as deleted: the exit status is not checked.
    for (const jump of staleJumps(jumps, saved, this.options.family)) await this.options.runner.run(tools.iptables, [...this.wait, '-t', jump.table, '-D', jump.chain, ...jump.match, '-j', jump.target]);
  }

  /** Jumps from built-in chains, ensured idempotently: create the target chain, then `-C`, and `-I` only if missing. */
  private async ensureJumps(tools: IptablesTools, jumps: readonly BuiltinJump[]): Promise<void> {
    const run = (args: string[]) => this.options.runner.run(tools.iptables, [...this.wait, ...args]);
    for (const jump of jumps) {
      const created = await run(['-t', jump.table, '-N', jump.target]);
      if (created.exitCode !== 0 && !/exists/i.test(created.stderr)) {
        await runChecked(this.options.runner, tools.iptables, [...this.wait, '-t', jump.table, '-N', jump.target]);
      }
      const spec = [jump.chain, ...jump.match, '-j', jump.target];
      const present = await run(['-t', jump.table, '-C', ...spec]);
      if (present.exitCode !== 0) await runChecked(this.options.runner, tools.iptables, [...this.wait, '-t', jump.table, '-I', ...spec]);
    }
  }
}


function ledgersOf(sets: readonly IpsetPlan[]): Map<string, MemberLedger> {
  return new Map(sets.map((set) => [set.name, new MemberLedger(ipsetOwners(set))]));
}

/**
 * The sets that are gone or hold another number of members than applied, in words: `ipset list -t` reads a set's
 * header only, so a check costs the same at 100k members as at 10 (a member swapped for another goes unseen
 * until the next full sync).
 */
export async function lostSetMembers(runner: CommandRunner, sets: Iterable<readonly [name: string, members: number]>): Promise<string[]> {
  const lost: string[] = [];
  for (const [name, members] of sets) {
    const listed = await runner.run('ipset', ['list', '-t', name]);
    const entries = /^Number of entries: (\d+)$/m.exec(listed.stdout)?.[1];
    if (listed.exitCode !== 0) lost.push(`set ${name} is gone`);
    else if (entries !== undefined && Number(entries) !== members) lost.push(`set ${name} holds ${entries} members, not the ${members} applied`);
  }
  return lost;
}
