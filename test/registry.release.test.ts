import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  installInto,
  mountLabBpffs,
  namespacePrefix,
  publishWorkspace,
  PUBLISHED_PACKAGES,
  startLocalRegistry,
  treeBytes,
  unmountLabBpffs,
  workspaceVersion,
  WORKSPACE_ROOT,
  type LocalRegistry,
} from '@hybrid-proxy/lab';

/**
 * The release rehearsed end to end: `nx release publish` into a real registry (verdaccio on 127.0.0.1), then what a
 * user does with the packages, in empty projects that know nothing of this workspace.
 */
const MIB = 2 ** 20;
const PLAN_ARGS = ['plan', '--manifests', join(WORKSPACE_ROOT, 'examples/lab'), '--ip-families', '4,6', '--hostname-override', 'lab-node'];
/** The README's library example, between its markers. */
const README_EXAMPLE = /<!-- example: iptables-library -->\n```js\n([\s\S]*?)```/;

let registry: LocalRegistry;
let coreProject: string;
let iptablesProject: string;

beforeAll(async () => {
  registry = await startLocalRegistry();
  await publishWorkspace(registry);
  // Each install is its own empty project: core as a node gets it, and the iptables planner alone, as a library.
  [coreProject, iptablesProject] = await Promise.all([installInto(registry, ['@hybrid-proxy/core']), installInto(registry, ['@hybrid-proxy/iptables'])]);
}, 600_000);

afterAll(async () => {
  for (const dir of [coreProject, iptablesProject]) if (dir) rmSync(dir, { recursive: true, force: true });
  await registry?.stop();
});

const run = (cwd: string, file: string, args: readonly string[]) => execa(file, args, { cwd, reject: false, all: true });

describe('a release, published to a real registry and installed from it', () => {
  it.each(PUBLISHED_PACKAGES)('publishes @hybrid-proxy/%s with its LICENSE, README and built code, and no source, tests or maps', async (dir) => {
    const tarball = await registry.tarball(`@hybrid-proxy/${dir}`, workspaceVersion(dir));
    const listed = await execa('tar', ['-tz'], { input: tarball });
    const files = listed.stdout.split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.d.ts']));
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.map') || f.endsWith('.tsbuildinfo'))).toEqual([]);
  });

  it('installs @hybrid-proxy/core without client-node, and its hybrid-proxy plans what the workspace plans', async () => {
    expect(existsSync(join(coreProject, 'node_modules/@kubernetes/client-node'))).toBe(false);
    const bin = join(coreProject, 'node_modules/.bin/hybrid-proxy');
    expect((await run(coreProject, bin, ['version'])).stdout).toBe(`hybrid-proxy ${workspaceVersion('core')}`);
    const [installed, workspace] = await Promise.all([run(coreProject, bin, PLAN_ARGS), run(WORKSPACE_ROOT, process.execPath, [join(WORKSPACE_ROOT, 'packages/core/dist/cli.js'), ...PLAN_ARGS])]);
    expect(installed.exitCode, installed.all).toBe(0);
    expect(installed.stdout).toContain('-j KUBE-SVC-');
    expect(installed.stdout).toBe(workspace.stdout);
    // What a node installs: core's bundle and the small packages it depends on, not an API client's 60 MB.
    expect(treeBytes(join(coreProject, 'node_modules'))).toBeLessThan(20 * MIB);
  });

  it('imports every package in ESM, each with the surface recorded in review (test/exports/)', async () => {
    // The watcher is the one package core does not bring along (core bundles what it uses of it).
    const project = await installInto(registry, ['@hybrid-proxy/core', '@hybrid-proxy/watcher']);
    try {
      for (const dir of PUBLISHED_PACKAGES) {
        const script = `const m = await import('@hybrid-proxy/${dir}'); console.log(Object.entries(m).map(([k, v]) => k + ': ' + typeof v).sort().join('\\n'));`;
        const imported = await run(project, process.execPath, ['--input-type=module', '-e', script]);
        expect(imported.exitCode, imported.all).toBe(0);
        expect(imported.stdout + '\n', dir).toBe(readFileSync(join(WORKSPACE_ROOT, 'test/exports', `${dir}.txt`), 'utf8'));
      }
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it("typechecks a TypeScript consumer of the planners' public types under nodenext, and rejects a wrong one", async () => {
    const consumer = join(coreProject, 'consumer');
    mkdirSync(consumer, { recursive: true });
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: [] }, include: ['*.ts'] }),
    );
    const good = [
      "import { buildSnapshot, type Snapshot } from '@hybrid-proxy/model';",
      "import { defaultPlannerOptions, planIptables, renderPlan, type IptablesPlan, type PlannerOptions } from '@hybrid-proxy/iptables';",
      "import { defaultIpvsPlannerOptions, planIpvs, type IpvsPlan } from '@hybrid-proxy/ipvs';",
      'const snapshot: Snapshot = buildSnapshot([], []);',
      "const options: PlannerOptions = { ...defaultPlannerOptions, family: 6, localTraffic: { mode: 'ClusterCIDR', cidrs: ['fd00:1::/64'] } };",
      'const plan: IptablesPlan = planIptables(snapshot, options);',
      'const ipvs: IpvsPlan = planIpvs(snapshot, { ...defaultIpvsPlannerOptions, scheduler: "wrr" });',
      'export const text: string = renderPlan(plan) + ipvs.virtualServers.length;',
    ];
    writeFileSync(join(consumer, 'consumer.ts'), good.join('\n') + '\n');
    const tsc = join(WORKSPACE_ROOT, 'node_modules/typescript/bin/tsc');
    const checked = await run(consumer, process.execPath, [tsc, '-p', '.']);
    expect(checked.all).toBe('');
    expect(checked.exitCode).toBe(0);
    // The check has teeth: a family that is neither 4 nor 6 is a type error.
    writeFileSync(join(consumer, 'wrong.ts'), "import { defaultPlannerOptions } from '@hybrid-proxy/iptables';\nexport const wrong = { ...defaultPlannerOptions, family: 5 } satisfies typeof defaultPlannerOptions;\n");
    const rejected = await run(consumer, process.execPath, [tsc, '-p', '.']);
    expect(rejected.exitCode).not.toBe(0);
    expect(rejected.stdout).toContain('wrong.ts');
  });

  it("loads the xdp package's BPF object through its export", async () => {
    const resolve = "import { COUNTER_OBJECT } from '@hybrid-proxy/xdp'; console.log(JSON.stringify([COUNTER_OBJECT, new URL(import.meta.resolve('@hybrid-proxy/xdp/bpf/hp_counters.o')).pathname]));";
    const resolved = await run(coreProject, process.execPath, ['--input-type=module', '-e', resolve]);
    const [object, exported] = JSON.parse(resolved.stdout) as [string, string];
    expect(exported).toBe(object);
    expect(object.startsWith(join(coreProject, 'node_modules/@hybrid-proxy/xdp/'))).toBe(true);
    const bpffs = await mountLabBpffs(`${namespacePrefix()}registry`);
    try {
      const loaded = await run(coreProject, 'bpftool', ['prog', 'loadall', object, join(bpffs, 'progs')]);
      expect(loaded.exitCode, loaded.all).toBe(0);
      const shown = await run(coreProject, 'bpftool', ['-j', 'prog', 'show', 'pinned', join(bpffs, 'progs', 'hp_xdp_count')]);
      expect(JSON.parse(shown.stdout)).toMatchObject({ type: 'xdp', name: 'hp_xdp_count' });
    } finally {
      await unmountLabBpffs(bpffs);
    }
  });

  it("installs @hybrid-proxy/iptables alone, small, and the README's library example prints there what it prints here", async () => {
    expect(existsSync(join(iptablesProject, 'node_modules/@kubernetes/client-node'))).toBe(false);
    expect(treeBytes(join(iptablesProject, 'node_modules'))).toBeLessThan(5 * MIB);
    const example = README_EXAMPLE.exec(readFileSync(join(WORKSPACE_ROOT, 'README.md'), 'utf8'))?.[1];
    expect(example, 'the README has its library example').toBeDefined();
    expect(example!.trim().split('\n').length).toBeLessThanOrEqual(12);
    const here = join(WORKSPACE_ROOT, 'e2e/lab/dist/readme-example.mjs');
    writeFileSync(join(iptablesProject, 'example.mjs'), example!);
    writeFileSync(here, example!);
    try {
      const [installed, workspace] = await Promise.all([run(iptablesProject, process.execPath, ['example.mjs']), run(WORKSPACE_ROOT, process.execPath, [here])]);
      expect(installed.exitCode, installed.all).toBe(0);
      expect(installed.stdout).toContain('-j DNAT --to-destination 198.18.1.11:8080');
      expect(installed.stdout).toContain('-j DNAT --to-destination 198.18.1.12:8080');
      expect(installed.stdout).toBe(workspace.stdout);
    } finally {
      rmSync(here, { force: true });
    }
  });
});
