import { randomBytes } from 'node:crypto';
import { createRunner, runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { labBpffsOf, unmountLabBpffs } from './lab-bpffs.js';

const host = createRunner();

/**
 * Every namespace (and bpffs mount) a lab or test run creates is named `hp-<pid>-<tag>[-<role>]`: the pid lets a
 * later run find the leftovers of a dead one.
 */
const OWNER = /^hp-(\d+)-/;

export function namespacePrefix(): string {
  return `hp-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export async function listNamespaces(): Promise<string[]> {
  const result = await runChecked(host, 'ip', ['netns', 'list']);
  return result.stdout
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter(Boolean);
}

export async function addNamespace(name: string): Promise<CommandRunner> {
  await runChecked(host, 'ip', ['netns', 'add', name]);
  const runner = createRunner({ netns: name });
  await runChecked(runner, 'ip', ['link', 'set', 'lo', 'up']);
  return runner;
}

/** Kills the processes inside (they were started by a lab or test run), then removes the namespace. */
export async function deleteNamespace(name: string): Promise<void> {
  const pids = await host.run('ip', ['netns', 'pids', name]);
  for (const pid of pids.stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await host.run('ip', ['netns', 'del', name]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(name: string): boolean {
  const pid = Number(OWNER.exec(name)?.[1]);
  return Number.isInteger(pid) && pid !== process.pid && !isAlive(pid);
}

/**
 * Removes what lab or test runs whose process has died (a crash, a kill -9) left: their namespaces (with every
 * rule, route, interface and process in them) and their bpffs mounts. Returns the namespaces' names.
 */
export async function removeStaleNamespaces(): Promise<string[]> {
  const stale = (await listNamespaces()).filter(isStale);
  for (const name of stale) await deleteNamespace(name);
  for (const path of labBpffsOf(isStale)) await unmountLabBpffs(path);
  return stale;
}
