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

  it('takes its workspace dependencies by caret range from the versions in the workspace (independent versions)', () => {
    for (const [dep, range] of Object.entries<string>(manifest.dependencies ?? {})) {
      if (!dep.startsWith('@hybrid-proxy/')) continue;
      const other = JSON.parse(readFileSync(join(root, 'packages', dep.split('/')[1]!, 'package.json'), 'utf8'));
      expect(range, dep).toBe(`^${other.version}`);
    }
  });

  it('carries what a public registry and provenance need, and its license', () => {
    expect(manifest.license).toBe('Apache-2.0');
    expect(manifest.publishConfig).toEqual({ access: 'public' });
    // Provenance is the repository's npm config, so that a rehearsal can opt out (a publishConfig cannot be overridden).
    expect(readFileSync(join(root, '.npmrc'), 'utf8')).toMatch(/^provenance=true$/m);
    expect(manifest.repository).toEqual({ type: 'git', url: 'git+https://github.com/hybrid-proxy/hybrid-proxy.git', directory: `packages/${dir}` });
    expect(manifest.homepage).toBe(`https://github.com/hybrid-proxy/hybrid-proxy/tree/main/packages/${dir}#readme`);
    expect(manifest.bugs).toEqual({ url: 'https://github.com/hybrid-proxy/hybrid-proxy/issues' });
    expect(manifest.keywords.length).toBeGreaterThan(2);
    expect(manifest.files).toContain('LICENSE');
    expect(readFileSync(join(root, 'packages', dir, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    // Source maps would point at src/, which is not shipped.
    expect(manifest.files).toContain('!dist/**/*.map');
  });

  it('exports the surface recorded in review (test/exports/)', async () => {
    const surface = Object.entries(await import(`@hybrid-proxy/${dir}`))
      .map(([name, value]) => `${name}: ${typeof value}`)
      .sort()
      .join('\n');
    await expect(surface + '\n').toMatchFileSnapshot(`./exports/${dir}.txt`);
  });
});
