import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(await readFile(`${packageDir}/package.json`, 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  exports: Record<string, unknown>;
  dependencies: Record<string, string>;
};
const BUNDLE_DIR = `${packageDir}/dist/bundle`;
const BUNDLE = `${BUNDLE_DIR}/hybrid-proxy.mjs`;
const UNBUNDLED = `${packageDir}/dist/cli.js`;
const EXAMPLES = fileURLToPath(new URL('../../../examples/lab', import.meta.url));

/** Imports the bundle may leave to run time besides Node builtins and core's dependencies: the lab (a checkout's, for
 * `hybrid-proxy lab`) and the optional native accelerators that ws and node-fetch try to load inside a try/catch. */
const LEFT_TO_RUN_TIME = new Set(['@hybrid-proxy/lab', 'bufferutil', 'utf-8-validate', 'encoding']);

function importedSpecifiers(code: string): string[] {
  const patterns = [/^import\s[^;]*?from\s+"([^"]+)"/gm, /^import\s+"([^"]+)"/gm, /\bimport\(\s*"([^"]+)"\s*\)/g, /\b__require\(\s*"([^"]+)"\s*\)/g];
  return [...new Set(patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((m) => m[1]!)))];
}

describe('the hybrid-proxy executable', () => {
  it('is the bundle, as the bin, as the cli export and as the library entry', () => {
    expect(manifest.bin['hybrid-proxy']).toBe('./dist/bundle/hybrid-proxy.mjs');
    expect(manifest.exports['./cli']).toBe('./dist/bundle/hybrid-proxy.mjs');
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/bundle/core.mjs' });
  });

  it('bundles client-node and does not install it: the bundle imports only builtins and what core depends on', async () => {
    expect(Object.keys(manifest.dependencies)).not.toContain('@kubernetes/client-node');
    expect(Object.keys(manifest.dependencies)).not.toContain('@hybrid-proxy/watcher');
    const files = (await readdir(BUNDLE_DIR)).filter((f) => f.endsWith('.mjs'));
    const code = await Promise.all(files.map((f) => readFile(`${BUNDLE_DIR}/${f}`, 'utf8')));
    const specifiers = importedSpecifiers(code.join('\n')).filter((s) => !s.startsWith('./'));
    expect(specifiers.length).toBeGreaterThan(10);
    const declared = (s: string) => Object.keys(manifest.dependencies).some((dep) => s === dep || s.startsWith(`${dep}/`));
    expect(specifiers.filter((s) => !isBuiltin(s) && !LEFT_TO_RUN_TIME.has(s) && !declared(s))).toEqual([]);
    // client-node is in there, once: its KubeConfig is defined in exactly one chunk.
    expect(code.filter((text) => /\bclass KubeConfig\b/.test(text))).toHaveLength(1);
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
