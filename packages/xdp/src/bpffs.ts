import { existsSync, mkdirSync, statfsSync } from 'node:fs';
import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';

const BPF_FS_MAGIC = 0xcafe4a11;

export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Makes sure `path` is a bpffs mount, mounting one if needed. Use a path of its own (under /run, say): inside
 * `ip netns exec`, /sys is remounted, so a bpffs at /sys/fs/bpf there is private and its pins vanish with the command.
 */
export async function ensureBpffs(runner: CommandRunner, path: string): Promise<void> {
  if (isBpffs(path)) return;
  if (!existsSync(path)) mkdirSync(path, { recursive: true });
  await runChecked(runner, 'mount', ['-t', 'bpf', 'bpf', path]);
  if (!isBpffs(path)) throw new Error(`${path} is not a bpffs after mounting one there`);
}
