import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const published = readdirSync(join(root, 'packages')).sort();

describe.each(published)('@hybrid-proxy/%s', (dir) => {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));

  it('is publishable: ESM, typed exports first, no tests in files, a README', () => {
    expect(manifest.name).toBe(`@hybrid-proxy/${dir}`);
    expect(manifest.type).toBe('module');
    expect(manifest.sideEffects).toBe(false);
    expect(manifest.engines.node).toBe('>=20.19');
    expect(Object.keys(manifest.exports['.'])[0]).toBe('types');
    expect(manifest.files).toContain('dist');
    expect(manifest.files.some((f: string) => f.includes('test'))).toBe(false);
    expect(existsSync(join(root, 'packages', dir, 'README.md'))).toBe(true);
  });

  it('keeps its workspace dependencies at the versions in the workspace', () => {
    for (const [dep, version] of Object.entries<string>(manifest.dependencies ?? {})) {
      if (!dep.startsWith('@hybrid-proxy/')) continue;
      const other = JSON.parse(readFileSync(join(root, 'packages', dep.split('/')[1]!, 'package.json'), 'utf8'));
      expect(version, dep).toBe(other.version);
    }
  });

  it('exports the surface recorded in review (test/exports/)', async () => {
    const surface = Object.entries(await import(`@hybrid-proxy/${dir}`))
      .map(([name, value]) => `${name}: ${typeof value}`)
      .sort()
      .join('\n');
    await expect(surface + '\n').toMatchFileSnapshot(`./exports/${dir}.txt`);
  });
});
