import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { COUNTER_BYTES } from './map-layout.js';
import { hexBytes, keyHex, readU32, readU64, u32Hex } from './flow-key.js';

export interface Counter {
  readonly packets: bigint;
  readonly bytes: bigint;
}

interface DumpEntry {
  key: string[];
  value?: string[];
  values?: { cpu: number; value: string[] }[];
}

/** Sums a per-CPU counter: the one place per-CPU values are added up. */
export function sumPerCpu(values: readonly { value: readonly string[] }[]): Counter {
  let packets = 0n;
  let bytes = 0n;
  for (const { value } of values) {
    const raw = hexBytes(value);
    if (raw.length < COUNTER_BYTES) continue;
    packets += readU64(raw, 0);
    bytes += readU64(raw, 8);
  }
  return { packets, bytes };
}

/** An index map as the kernel holds it: key hex → slot. */
export async function readIndex(runner: CommandRunner, path: string): Promise<Map<string, number>> {
  const { stdout } = await runChecked(runner, 'bpftool', ['-j', 'map', 'dump', 'pinned', path]);
  const entries = JSON.parse(stdout || '[]') as DumpEntry[];
  return new Map(entries.map((e) => [keyHex(hexBytes(e.key)), readU32(hexBytes(e.value ?? []))]));
}

/** Runs map commands through `bpftool batch`: one process for any number of updates. */
export async function runBatch(runner: CommandRunner, commands: readonly string[]): Promise<unknown[]> {
  if (commands.length === 0) return [];
  const { stdout } = await runChecked(runner, 'bpftool', ['-j', 'batch', 'file', '-'], { input: commands.join('\n') + '\n' });
  return JSON.parse(stdout || '[]') as unknown[];
}

export const updateCommand = (path: string, keyHexText: string, valueHex: string) => `map update pinned ${path} key hex ${keyHexText} value hex ${valueHex}`;
export const deleteCommand = (path: string, keyHexText: string) => `map delete pinned ${path} key hex ${keyHexText}`;
export const slotKey = (slot: number) => u32Hex(slot);
export const ZERO_COUNTER = Array<string>(COUNTER_BYTES).fill('00').join(' ');

/** Reads the counters of the given slots (per-CPU values summed). */
export async function readCounters(runner: CommandRunner, path: string, slots: readonly number[]): Promise<Map<number, Counter>> {
  const results = (await runBatch(runner, slots.map((slot) => `map lookup pinned ${path} key hex ${slotKey(slot)}`))) as { output: DumpEntry | null }[];
  const counters = new Map<number, Counter>();
  results.forEach((result, i) => {
    if (result.output?.values) counters.set(slots[i]!, sumPerCpu(result.output.values));
  });
  return counters;
}
