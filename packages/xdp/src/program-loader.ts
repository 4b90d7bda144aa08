import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { MAP_NAMES, PROGRAM_NAMES } from './map-layout.js';

export type AttachMode = 'native' | 'generic' | 'tc';
export type AttachRequest = AttachMode | 'auto';

/** Where the pinned programs and maps live under a bpffs. */
export function pinLayout(root: string) {
  const progs = join(root, 'progs');
  const maps = join(root, 'maps');
  return {
    root,
    progs,
    maps,
    program: (name: keyof typeof PROGRAM_NAMES) => join(progs, PROGRAM_NAMES[name]),
    map: (name: keyof typeof MAP_NAMES) => join(maps, MAP_NAMES[name]),
  };
}
export type PinLayout = ReturnType<typeof pinLayout>;

/** A load the verifier (or the kernel) refused, with bpftool's own words. */
export class ProgramLoadError extends Error {
  constructor(detail: string) {
    super(`the kernel refused the counter program: ${detail}`);
    this.name = 'ProgramLoadError';
  }
}

/**
 * Loads the object with `bpftool prog loadall`, pinning its programs and maps. When the maps are already pinned
 * (a proxy restart), they are reused, so the counters run on; when the programs are pinned too, nothing is loaded.
 */
export async function loadPrograms(runner: CommandRunner, objectPath: string, pins: PinLayout): Promise<'loaded' | 'reused-maps' | 'reused'> {
  const mapsPinned = Object.keys(MAP_NAMES).every((name) => existsSync(pins.map(name as keyof typeof MAP_NAMES)));
  const progsPinned = Object.keys(PROGRAM_NAMES).every((name) => existsSync(pins.program(name as keyof typeof PROGRAM_NAMES)));
  if (mapsPinned && progsPinned) return 'reused';
  rmSync(pins.progs, { recursive: true, force: true });
  mkdirSync(pins.root, { recursive: true });
  const reuse = mapsPinned ? Object.values(MAP_NAMES).flatMap((name) => ['map', 'name', name, 'pinned', join(pins.maps, name)]) : [];
  if (!mapsPinned) rmSync(pins.maps, { recursive: true, force: true });
  const args = ['prog', 'loadall', objectPath, pins.progs, ...reuse, ...(mapsPinned ? [] : ['pinmaps', pins.maps])];
  try {
    await runChecked(runner, 'bpftool', args);
  } catch (err) {
    if (err instanceof CommandError) throw new ProgramLoadError(err.result.stderr.trim().split('\n').slice(-12).join('\n'));
    throw err;
  }
  return mapsPinned ? 'reused-maps' : 'loaded';
}

/** The tc filter's fixed priority and handle, so that attaching again replaces it instead of adding another. */
const TC_PREF = '49';
const TC_HANDLE = '0x1';

/** The link kind (`veth`, `bridge`, ...), or '' for a plain device such as a physical NIC. */
async function linkKind(runner: CommandRunner, ifname: string): Promise<string> {
  const result = await runner.run('ip', ['-j', '-d', 'link', 'show', 'dev', ifname]);
  if (result.exitCode !== 0) return '';
  const [link] = JSON.parse(result.stdout || '[]') as { linkinfo?: { info_kind?: string } }[];
  return link?.linkinfo?.info_kind ?? '';
}

/**
 * The order `auto` tries. On a veth, native XDP switches the peer to NAPI and turns off its TSO/GRO: measured here
 * (BENCHMARKS.md), TCP through the lab path fell to 0.16× while tc ingress cost nothing measurable. So veths get tc
 * first; other devices get native XDP, then generic XDP, then tc.
 */
async function autoOrder(runner: CommandRunner, ifname: string): Promise<AttachMode[]> {
  return (await linkKind(runner, ifname)) === 'veth' ? ['tc', 'native', 'generic'] : ['native', 'generic', 'tc'];
}

/** Attaches to an interface's ingress; `auto` tries modes in a device-dependent order and reports what it got. */
export async function attach(runner: CommandRunner, pins: PinLayout, ifname: string, request: AttachRequest): Promise<AttachMode> {
  const order: AttachMode[] = request === 'auto' ? await autoOrder(runner, ifname) : [request];
  const errors: string[] = [];
  for (const mode of order) {
    const result =
      mode === 'tc'
        ? await attachTc(runner, pins, ifname)
        : await runner.run('bpftool', ['net', 'attach', mode === 'native' ? 'xdpdrv' : 'xdpgeneric', 'pinned', pins.program('xdp'), 'dev', ifname, 'overwrite']);
    if (result.exitCode === 0) return mode;
    errors.push(`${mode}: ${result.stderr.trim().split('\n').at(-1)}`);
    // Native and generic XDP cannot both be active: clear a leftover before the next try.
    await detachXdp(runner, ifname);
  }
  throw new Error(`cannot attach the counter program to ${ifname} (${errors.join('; ')})`);
}

async function attachTc(runner: CommandRunner, pins: PinLayout, ifname: string) {
  // replace, not add: an existing clsact (ours from before, or another program's) is kept as it is.
  const qdisc = await runner.run('tc', ['qdisc', 'replace', 'dev', ifname, 'clsact']);
  if (qdisc.exitCode !== 0) return qdisc;
  return runner.run('tc', ['filter', 'replace', 'dev', ifname, 'ingress', 'pref', TC_PREF, 'handle', TC_HANDLE, 'bpf', 'da', 'pinned', pins.program('tc')]);
}

async function detachXdp(runner: CommandRunner, ifname: string): Promise<void> {
  await runner.run('bpftool', ['net', 'detach', 'xdp', 'dev', ifname]);
}

/** Removes the program from an interface, whichever way it was attached. */
export async function detach(runner: CommandRunner, ifname: string): Promise<void> {
  await detachXdp(runner, ifname);
  await runner.run('tc', ['filter', 'del', 'dev', ifname, 'ingress', 'pref', TC_PREF]);
}

/** Unpins programs and maps: with nothing attached, the kernel frees them. */
export function unpin(pins: PinLayout): void {
  rmSync(pins.progs, { recursive: true, force: true });
  rmSync(pins.maps, { recursive: true, force: true });
}
