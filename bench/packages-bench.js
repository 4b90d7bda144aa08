// What each published package weighs: its tarball, and what `npm install <it>` alone puts in node_modules. Published
// by the release's own step (nx release publish) into a local verdaccio, installed from there into empty projects.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { installInto, publishWorkspace, PUBLISHED_PACKAGES, startLocalRegistry, treeBytes, workspaceVersion } from '@hybrid-proxy/lab';

const kib = (bytes) => (bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`);

/** The packages an install holds (scoped ones counted one by one). */
function packagesIn(modules) {
  return readdirSync(modules, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .reduce((n, entry) => n + (entry.name.startsWith('@') ? readdirSync(join(modules, entry.name)).length : 1), 0);
}

export async function packagesSection() {
  const registry = await startLocalRegistry();
  const rows = [];
  try {
    await publishWorkspace(registry);
    for (const dir of PUBLISHED_PACKAGES) {
      const name = `@hybrid-proxy/${dir}`;
      const version = workspaceVersion(dir);
      const tarball = await registry.tarball(name, version);
      const listing = await execa('tar', ['-tvz'], { input: tarball });
      const unpacked = listing.stdout.split('\n').reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[2] ?? 0), 0);
      const project = await installInto(registry, [name]);
      try {
        const modules = join(project, 'node_modules');
        rows.push({ name, version, packed: tarball.length, unpacked, installed: treeBytes(modules), packages: packagesIn(modules) });
      } finally {
        rmSync(project, { recursive: true, force: true });
      }
    }
  } finally {
    await registry.stop();
  }
  console.log('packages', JSON.stringify(rows));
  return [
    '## Packages: tarballs and installs',
    '',
    'Each package as `nx release publish` sends it (to a local verdaccio), and what `npm install <package>` alone puts',
    'in an empty project\'s node_modules (apparent file sizes, every dependency included). client-node is installed',
    'only with the watcher; core carries the part of it that it uses in its bundle.',
    '',
    '| package | tarball | unpacked | installed alone | packages installed |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| \`${r.name}@${r.version}\` | ${kib(r.packed)} | ${kib(r.unpacked)} | ${kib(r.installed)} | ${r.packages} |`),
    '',
  ];
}
