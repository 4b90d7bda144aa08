import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ToolMissingError, type CommandRunner } from '@hybrid-proxy/exec';
import type { Snapshot } from '@hybrid-proxy/model';
import { ensureBpffs } from './bpffs.js';
import { deleteCommand, readCounters, readIndex, runBatch, slotKey, updateCommand, ZERO_COUNTER, type Counter } from './bpftool-maps.js';
import { u32Hex } from './flow-key.js';
import { flowTargets, type FlowLabels } from './flow-targets.js';
import { planIndex } from './index-plan.js';
import { MAX_BACKENDS, MAX_VIPS, MISS_SLOT } from './map-layout.js';
import { attach, detach, loadPrograms, pinLayout, unpin, type AttachMode, type AttachRequest, type PinLayout } from './program-loader.js';

/**
 * The object the package ships, built from bpf/ (see bpf/build.sh). Resolved through the package's own export, not
 * relative to this file, so that the CLI's single-file bundle (which inlines this module) still finds it.
 */
export const COUNTER_OBJECT = fileURLToPath(import.meta.resolve('@hybrid-proxy/xdp/bpf/hp_counters.o'));

export interface XdpCountersOptions {
  readonly runner: CommandRunner;
  /** A bpffs (mounted here if it is not one yet) under which the programs and maps are pinned. */
  readonly bpffs: string;
  readonly interfaces: readonly string[];
  readonly mode?: AttachRequest;
  readonly objectPath?: string;
}

export interface CountedFlow {
  readonly labels: FlowLabels;
  readonly packets: bigint;
  readonly bytes: bigint;
}

export interface CounterReading {
  readonly at: number;
  readonly vips: readonly CountedFlow[];
  readonly backends: readonly CountedFlow[];
  /** Packets whose destination (VIP map) or source (backend map) is in no index. */
  readonly misses: { readonly vip: Counter; readonly backend: Counter };
  /** Flows that found no free index slot. */
  readonly overflow: { readonly vips: number; readonly backends: number };
}

/** A counter feature that cannot work here, with the reason; the proxy goes on without counters. */
export class CountersUnavailableError extends Error {
  constructor(reason: string) {
    super(`traffic counters are off: ${reason}`);
    this.name = 'CountersUnavailableError';
  }
}

interface IndexState {
  slots: ReadonlyMap<string, number>;
  labels: Map<number, FlowLabels[]>;
  overflow: number;
}

/** Loads, attaches and feeds the counter program, and reads its counters. */
export class XdpCounters {
  readonly pins: PinLayout;
  readonly attached = new Map<string, AttachMode>();
  private vipIndex: IndexState | undefined;
  private backendIndex: IndexState | undefined;
  loadResult: 'loaded' | 'reused-maps' | 'reused' | undefined;

  constructor(private readonly options: XdpCountersOptions) {
    this.pins = pinLayout(options.bpffs);
  }

  /** Checks bpftool, BTF and the object; mounts the bpffs; loads (or reuses) the program; attaches it. */
  async start(): Promise<void> {
    const { runner } = this.options;
    const object = this.options.objectPath ?? COUNTER_OBJECT;
    try {
      await runner.run('bpftool', ['version']);
    } catch (err) {
      if (err instanceof ToolMissingError) throw new CountersUnavailableError(err.message);
      throw err;
    }
    if (!existsSync('/sys/kernel/btf/vmlinux')) throw new CountersUnavailableError('this kernel has no BTF (/sys/kernel/btf/vmlinux); it needs CONFIG_DEBUG_INFO_BTF');
    if (!existsSync(object)) throw new CountersUnavailableError(`the program object ${object} is missing; rebuild it with bash bpf/build.sh`);
    await ensureBpffs(runner, this.options.bpffs);
    try {
      this.loadResult = await loadPrograms(runner, object, this.pins);
    } catch (err) {
      throw new CountersUnavailableError((err as Error).message);
    }
    for (const ifname of this.options.interfaces) this.attached.set(ifname, await attach(runner, this.pins, ifname, this.options.mode ?? 'auto'));
  }

  /** Keeps the index maps in step with the snapshot. Slots of flows that stay are kept, so counters run on. */
  async syncIndex(snapshot: Snapshot): Promise<void> {
    const targets = flowTargets(snapshot);
    this.vipIndex = await this.syncOne(this.pins.map('vipIndex'), this.pins.map('vipStats'), this.vipIndex, new Map([...targets.vips].map(([k, v]) => [k, [v]])), MAX_VIPS);
    this.backendIndex = await this.syncOne(this.pins.map('backendIndex'), this.pins.map('backendStats'), this.backendIndex, targets.backends, MAX_BACKENDS);
  }

  private async syncOne(indexPath: string, statsPath: string, state: IndexState | undefined, desired: ReadonlyMap<string, readonly FlowLabels[]>, capacity: number): Promise<IndexState> {
    const current = state?.slots ?? (await readIndex(this.options.runner, indexPath));
    const plan = planIndex(current, desired.keys(), capacity);
    await runBatch(this.options.runner, [
      ...plan.remove.map((key) => deleteCommand(indexPath, key)),
      ...plan.add.flatMap(([key, slot]) => [updateCommand(statsPath, slotKey(slot), ZERO_COUNTER), updateCommand(indexPath, key, u32Hex(slot))]),
    ]);
    const labels = new Map<number, FlowLabels[]>();
    for (const [key, slot] of plan.slots) labels.set(slot, [...(desired.get(key) ?? [])]);
    return { slots: plan.slots, labels, overflow: plan.overflow.length };
  }

  /** Reads every indexed counter and the miss slots, with per-CPU values summed. */
  async read(): Promise<CounterReading> {
    const readOne = async (path: string, state: IndexState | undefined) => {
      const slots = [MISS_SLOT, ...(state?.labels.keys() ?? [])];
      const counters = await readCounters(this.options.runner, path, slots);
      const flows: CountedFlow[] = [];
      for (const [slot, labels] of state?.labels ?? []) {
        const counter = counters.get(slot) ?? { packets: 0n, bytes: 0n };
        for (const label of labels) flows.push({ labels: label, ...counter });
      }
      return { flows, miss: counters.get(MISS_SLOT) ?? { packets: 0n, bytes: 0n } };
    };
    const vips = await readOne(this.pins.map('vipStats'), this.vipIndex);
    const backends = await readOne(this.pins.map('backendStats'), this.backendIndex);
    return {
      at: Date.now(),
      vips: vips.flows,
      backends: backends.flows,
      misses: { vip: vips.miss, backend: backends.miss },
      overflow: { vips: this.vipIndex?.overflow ?? 0, backends: this.backendIndex?.overflow ?? 0 },
    };
  }

  /** Detaches from every interface and unpins programs and maps (cleanup; a restart keeps them instead). */
  async cleanup(): Promise<void> {
    for (const ifname of this.options.interfaces) await detach(this.options.runner, ifname);
    unpin(this.pins);
    this.attached.clear();
  }
}
