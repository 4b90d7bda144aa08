import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRunner } from '@hybrid-proxy/exec';

/** Where lab runs mount their bpffs, in the host's mount namespace: `ip netns exec` gives the proxy a copy of it. */
export const LAB_BPFFS_ROOT = '/run/hybrid-proxy-lab';

const host = createRunner();

/** A bpffs for one lab run, so the proxy's pinned counters outlive a proxy restart (the test of that needs it). */
export async function mountLabBpffs(prefix: string): Promise<string> {
  const path = join(LAB_BPFFS_ROOT, prefix);
  mkdirSync(path, { recursive: true });
  const mounted = await host.run('mount', ['-t', 'bpf', 'bpf', path]);
  if (mounted.exitCode !== 0) throw new Error(`cannot mount a bpffs at ${path}: ${mounted.stderr.trim()}`);
  return path;
}

export async function unmountLabBpffs(path: string): Promise<void> {
  await host.run('umount', [path]);
  rmSync(path, { recursive: true, force: true });
}

/** The bpffs mounts of lab runs whose prefix names a process that is gone. */
export function labBpffsOf(isStale: (name: string) => boolean): string[] {
  if (!existsSync(LAB_BPFFS_ROOT)) return [];
  return readdirSync(LAB_BPFFS_ROOT).filter(isStale).map((name) => join(LAB_BPFFS_ROOT, name));
}
