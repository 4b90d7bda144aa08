// core as it is published: the `hybrid-proxy` executable and the library entry, built from tsc's output. client-node
// (with the watcher, its one user) is bundled, never installed: its generated API (every group, every model) is
// hundreds of modules that a node keeps resident, about 70 MiB at start, though the proxy calls two list endpoints
// and one watch; tree-shaken into one chunk, the process starts smaller and sooner (BENCHMARKS.md, packages/core
// README). What core lists as a dependency stays external and is installed with it: the small planners and prom-client.
// Not minified: stack traces in logs keep their names.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { defineConfig } from 'rolldown';

const manifest = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const installed = Object.keys(manifest.dependencies ?? {});
// The lab is the repository's, imported only by `hybrid-proxy lab` from a checkout.
const external = new Set([...installed, '@hybrid-proxy/lab', ...builtinModules]);
const isExternal = (id) => id.startsWith('node:') || external.has(id) || [...external].some((name) => id.startsWith(`${name}/`));

export default defineConfig({
  input: {
    'hybrid-proxy': new URL('./dist/cli.js', import.meta.url).pathname,
    core: new URL('./dist/index.js', import.meta.url).pathname,
  },
  platform: 'node',
  external: isExternal,
  output: {
    dir: new URL('./dist/bundle', import.meta.url).pathname,
    format: 'esm',
    entryFileNames: '[name].mjs',
    chunkFileNames: 'chunk-[name].mjs',
    // A chunk of an earlier build must not ride along into the tarball.
    cleanDir: true,
  },
});
