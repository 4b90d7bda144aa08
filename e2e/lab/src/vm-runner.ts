import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/**
 * The real-kernel lane: boots Debian's own kernel (which has IPVS, ip_set and dummy as modules) under qemu with TCG
 * (/dev/kvm exists here but cannot boot it), over this machine's own root filesystem, and runs one command in it.
 */
/** e2e/vm: the image builder and the guest's init (this file runs from e2e/lab/dist). */
const VM_DIR = fileURLToPath(new URL('../../vm/', import.meta.url));

export interface VmResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly console: string;
  /** The results share, for files the command left there; removed by cleanup(). */
  readonly resultsDir: string;
  cleanup(): Promise<void>;
}

export interface VmOptions {
  /** Working directory inside the guest (the host's path: the guest sees the host's root). */
  readonly cwd: string;
  readonly timeoutMs?: number;
  readonly memoryMiB?: number;
  readonly cpus?: number;
  /** Extra environment for the command in the guest. */
  readonly env?: Readonly<Record<string, string>>;
  /** Called with the guest command's output as it is written (the results share is live on the host). */
  readonly onOutput?: (chunk: string) => void;
}

/** Builds (or reuses) the cached kernel and initramfs; returns the cache directory. */
export async function vmImage(): Promise<string> {
  const { stdout } = await execa('bash', [join(VM_DIR, 'build-image.sh')]);
  return stdout.trim().split('\n').at(-1)!;
}

export async function runInVm(command: readonly string[], options: VmOptions): Promise<VmResult> {
  const cache = await vmImage();
  const version = (await readFile(join(cache, 'version'), 'utf8')).trim();
  const results = await mkdtemp(join(tmpdir(), 'hp-vm-'));
  await copyFile(join(VM_DIR, 'guest-init.sh'), join(results, 'guest-init.sh'));
  await copyFile(join(VM_DIR, 'launch.mjs'), join(results, 'launch.mjs'));
  await writeFile(join(results, 'command.json'), JSON.stringify(command));
  await writeFile(join(results, 'env.json'), JSON.stringify(options.env ?? {}));
  await writeFile(join(results, 'cwd'), options.cwd);
  await writeFile(join(results, 'modules'), join(cache, 'root', 'lib', 'modules'));
  let shown = 0;
  const follow = options.onOutput
    ? setInterval(() => {
        void readFile(join(results, 'stdout'), 'utf8').then(
          (text) => {
            if (text.length > shown) options.onOutput!(text.slice(shown));
            shown = Math.max(shown, text.length);
          },
          () => undefined,
        );
      }, 500)
    : undefined;
  const qemu = await execa(
    'qemu-system-x86_64',
    [
      '-accel', 'tcg', '-cpu', 'max',
      '-m', String(options.memoryMiB ?? 3072),
      '-smp', String(options.cpus ?? 2),
      '-nographic', '-no-reboot',
      '-kernel', join(cache, 'vmlinuz'),
      '-initrd', join(cache, 'initrd'),
      // panic=-1 with -no-reboot: a guest that panics ends qemu instead of hanging.
      '-append', 'console=ttyS0 panic=-1 quiet',
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap,id=hostroot',
      '-virtfs', `local,path=${results},mount_tag=results,security_model=none,id=results`,
    ],
    { reject: false, timeout: options.timeoutMs ?? 900_000, killSignal: 'SIGKILL', stdin: 'ignore' },
  ).finally(() => clearInterval(follow));
  const read = (name: string) => readFile(join(results, name), 'utf8').catch(() => '');
  if (options.onOutput) {
    const rest = (await read('stdout')).slice(shown);
    if (rest) options.onOutput(rest);
  }
  const exitText = (await read('exit-code')).trim();
  return {
    exitCode: exitText === '' ? -1 : Number(exitText),
    stdout: await read('stdout'),
    stderr: await read('stderr'),
    console: `${qemu.stdout}\n${qemu.stderr}${qemu.timedOut ? `\n(qemu killed after ${options.timeoutMs ?? 900_000} ms; kernel ${version})` : ''}`,
    resultsDir: results,
    cleanup: () => rm(results, { recursive: true, force: true }),
  };
}
