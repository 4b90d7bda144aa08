// The `hybrid-proxy` executable as one file. client-node's generated API (every group, every model) is hundreds of
// modules; a node keeps each module's source and code resident, about 70 MiB at start, though the proxy calls two
// list endpoints and one watch. Tree-shaken into one module, the process starts smaller and peaks lower (BENCHMARKS.md).
// Not minified: stack traces in logs keep their names.
import { defineConfig } from 'rolldown';

export default defineConfig({
  input: new URL('./dist/cli.js', import.meta.url).pathname,
  platform: 'node',
  // The lab is the repository's, imported only by `hybrid-proxy lab` from a checkout.
  external: ['@hybrid-proxy/lab'],
  output: {
    file: new URL('./dist/hybrid-proxy.mjs', import.meta.url).pathname,
    format: 'esm',
    codeSplitting: false,
  },
});
