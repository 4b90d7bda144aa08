import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(await readFile(`${packageDir}/package.json`, 'utf8')) as { version: string; bin: Record<string, string>; exports: Record<string, unknown> };
const BUNDLE = `${packageDir}/dist/hybrid-proxy.mjs`;
const UNBUNDLED = `${packageDir}/dist/cli.js`;
const EXAMPLES = fileURLToPath(new URL('../../../examples/lab', import.meta.url));

/** Imports the bundle may leave to run time: the lab (a checkout's, for `hybrid-proxy lab`) and the optional native
 * accelerators that ws and node-fetch try to load inside a try/catch. Everything else is a Node builtin. */
const LEFT_TO_RUN_TIME = new Set(['@hybrid-proxy/lab', 'bufferutil', 'utf-8-validate', 'encoding']);

function importedSpecifiers(code: string): string[] {
  const patterns = [/^import\s[^;]*?from\s+"([^"]+)"/gm, /^import\s+"([^"]+)"/gm, /\bimport\(\s*"([^"]+)"\s*\)/g, /\b__require\(\s*"([^"]+)"\s*\)/g];
  return [...new Set(patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((m) => m[1]!)))];
}

describe('the hybrid-proxy executable', () => {
  it('is the one-file bundle, as the bin and as the cli export', () => {
    expect(manifest.bin['hybrid-proxy']).toBe('./dist/hybrid-proxy.mjs');
    expect(manifest.exports['./cli']).toBe('./dist/hybrid-proxy.mjs');
  });

  it('carries its dependencies: only Node builtins are imported at run time', async () => {
    const specifiers = importedSpecifiers(await readFile(BUNDLE, 'utf8'));
    expect(specifiers.length).toBeGreaterThan(10);
    expect(specifiers.filter((s) => !isBuiltin(s) && !LEFT_TO_RUN_TIME.has(s))).toEqual([]);
  });

  it('prints the version of its package.json, bundled or not', async () => {
    for (const file of [BUNDLE, UNBUNDLED]) expect((await run(process.execPath, [file, 'version'])).stdout).toBe(`hybrid-proxy ${manifest.version}\n`);
  });

  it('plans exactly what the unbundled CLI plans', async () => {
    const args = ['plan', '--manifests', EXAMPLES, '--ip-families', '4,6', '--hostname-override', 'lab-node'];
    const [bundled, unbundled] = await Promise.all([run(process.execPath, [BUNDLE, ...args]), run(process.execPath, [UNBUNDLED, ...args])]);
    expect(bundled.stdout).toContain('-j KUBE-SVC-');
    expect(bundled.stdout).toBe(unbundled.stdout);
  });
});
