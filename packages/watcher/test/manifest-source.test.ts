import { mkdir, mkdtemp, rm, symlink, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProxyMetrics, InvalidObjectReporter, silentLogger, type Logger } from '@hybrid-proxy/core';
import { ManifestDirectorySource, parseManifestText } from '@hybrid-proxy/watcher';
import type { Snapshot } from '@hybrid-proxy/model';

const SERVICE = (name: string, ip: string) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  clusterIP: ${ip}
  ports: [{ name: http, port: 80 }]
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hp-manifests-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function waitFor(snapshots: Snapshot[], test: (s: Snapshot) => boolean): Promise<Snapshot> {
  for (let i = 0; i < 100; i++) {
    const hit = snapshots.findLast(test);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no matching snapshot');
}

describe('ManifestDirectorySource', () => {
  it('reads multi-document YAML and List objects, ignoring other kinds', () => {
    const objects = parseManifestText(`${SERVICE('a', '198.19.0.1')}---\nkind: Deployment\nmetadata: { name: d }\n---\nkind: List\nitems:\n  - ${JSON.stringify({ kind: 'Service', metadata: { name: 'b' } })}\n`);
    expect(objects.map((o) => (o as { kind: string }).kind)).toEqual(['Service', 'Deployment', 'Service']);
  });

  it('reads a ConfigMap volume: files are symlinks into a hidden ..data directory, each read once', async () => {
    await mkdir(join(dir, '..2026_11_26_10_00_00.123'));
    await writeFile(join(dir, '..2026_11_26_10_00_00.123', 'web.yaml'), SERVICE('web', '198.19.0.1'));
    await symlink('..2026_11_26_10_00_00.123', join(dir, '..data'));
    await symlink(join('..data', 'web.yaml'), join(dir, 'web.yaml'));
    await symlink(join(dir, 'missing.yaml'), join(dir, 'dangling.yaml'));
    const snapshot = await new ManifestDirectorySource({ dir, logger: silentLogger, watch: false }).load();
    expect([...snapshot.entries.keys()]).toEqual(['shop/web:http']);
  });

  it('follows edits, additions and deletions, and keeps the last good content of a broken file', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (msg) => warnings.push(msg) };
    await writeFile(join(dir, 'a.yaml'), SERVICE('a', '198.19.0.1'));
    const source = new ManifestDirectorySource({ dir, logger, debounceMs: 20 });
    const seen: Snapshot[] = [];
    await source.start((s) => seen.push(s));
    try {
      expect([...seen[0]!.entries.keys()]).toEqual(['shop/a:http']);
      await writeFile(join(dir, 'b.yaml'), SERVICE('b', '198.19.0.2'));
      await waitFor(seen, (s) => s.entries.has('shop/b:http'));
      await writeFile(join(dir, 'a.yaml'), 'kind: Service\nmetadata: { name: a\n  broken: [');
      await waitFor(seen, () => warnings.length > 0);
      expect(seen.at(-1)!.entries.has('shop/a:http')).toBe(true);
      await unlink(join(dir, 'a.yaml'));
      const last = await waitFor(seen, (s) => !s.entries.has('shop/a:http'));
      expect([...last.entries.keys()]).toEqual(['shop/b:http']);
    } finally {
      await source.stop();
    }
  });
});

describe('InvalidObjectReporter', () => {
  it('counts and logs each invalid object once, and again only if it comes back', async () => {
    const metrics = createProxyMetrics();
    const logged: unknown[] = [];
    const reporter = new InvalidObjectReporter({ ...silentLogger, warn: (_m, f) => logged.push(f) }, metrics);
    const bad = { entries: new Map(), invalid: [{ kind: 'Service' as const, ref: 'shop/x', reason: 'invalid-port', message: 'port 0' }] };
    reporter.report(bad);
    reporter.report(bad);
    reporter.report({ entries: new Map(), invalid: [] });
    reporter.report(bad);
    const values = (await metrics.invalidObjects.get()).values;
    expect(values).toEqual([expect.objectContaining({ labels: { kind: 'Service', reason: 'invalid-port' }, value: 2 })]);
    expect(logged).toHaveLength(2);
  });
});
