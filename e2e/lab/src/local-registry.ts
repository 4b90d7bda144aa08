import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

/** The workspace this module belongs to: where `nx release publish` runs. */
export const WORKSPACE_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** The packages a release publishes, by directory under packages/. */
export const PUBLISHED_PACKAGES = ['model', 'exec', 'watcher', 'iptables', 'ipvs', 'xdp', 'core'] as const;
const SCOPE = '@hybrid-proxy';

/**
 * A verdaccio on 127.0.0.1 with its storage in a temporary folder, serving only the @hybrid-proxy scope (no uplinks:
 * every other package comes from the machine's usual registry). `env` points npm at it, with a token, for publishes
 * and installs alike, and turns provenance off (only a CI with an OIDC token can attest it).
 */
export interface LocalRegistry {
  readonly url: string;
  readonly env: Readonly<Record<string, string>>;
  /** The tarball a version was published as. */
  tarball(name: string, version: string): Promise<Buffer>;
  stop(): Promise<void>;
}

export async function startLocalRegistry(): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'hp-registry-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // JSON is YAML: verdaccio reads this as its config.yaml.
  const config = {
    storage: join(dir, 'storage'),
    auth: { htpasswd: { file: join(dir, 'htpasswd'), max_users: 1 } },
    web: { enable: false },
    uplinks: {},
    packages: { [`${SCOPE}/*`]: { access: '$all', publish: '$authenticated' } },
    listen: `127.0.0.1:${port}`,
    log: { type: 'stdout', format: 'pretty', level: 'warn' },
  };
  writeFileSync(join(dir, 'config.yaml'), JSON.stringify(config, null, 2));
  const bin = createRequire(import.meta.url).resolve('verdaccio/bin/verdaccio');
  const server: ResultPromise = execa(process.execPath, [bin, '--config', join(dir, 'config.yaml')], { reject: false, all: true });
  const stop = async () => {
    server.kill('SIGTERM');
    await server;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPing(url, server);
    const token = await addUser(url);
    writeFileSync(join(dir, 'npmrc'), [...userNpmrcLines(), `${SCOPE}:registry=${url}/`, `//127.0.0.1:${port}/:_authToken=${token}`, ''].join('\n'));
  } catch (err) {
    await stop();
    throw err;
  }
  const env = { NPM_CONFIG_USERCONFIG: join(dir, 'npmrc'), npm_config_provenance: 'false', npm_config_audit: 'false', npm_config_fund: 'false', NX_DAEMON: 'false' };
  return {
    url,
    env,
    async tarball(name, version) {
      const response = await fetch(`${url}/${name}/-/${name.split('/')[1]}-${version}.tgz`);
      if (!response.ok) throw new Error(`${name}@${version}: the registry answers ${response.status}`);
      return Buffer.from(await response.arrayBuffer());
    },
    stop,
  };
}

/** The release's own publish step (`nx release publish`), against the local registry; its output. */
export async function publishWorkspace(registry: LocalRegistry): Promise<string> {
  const published = await execa('npx', ['nx', 'release', 'publish', '--registry', `${registry.url}/`], { cwd: WORKSPACE_ROOT, env: registry.env, reject: false, all: true });
  if (published.exitCode !== 0) throw new Error(`nx release publish failed:\n${published.all}`);
  return published.all;
}

/** An empty project with these packages installed from the registries; its directory (remove it when done). */
export async function installInto(registry: LocalRegistry, specs: readonly string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'hp-consumer-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
  const installed = await execa('npm', ['install', '--prefer-offline', '--no-package-lock', ...specs], { cwd: dir, env: registry.env, reject: false, all: true });
  if (installed.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`npm install ${specs.join(' ')} failed:\n${installed.all}`);
  }
  return dir;
}

/** Bytes of every file under `dir` (apparent sizes, symlinks not followed): what an install puts on disk. */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(path);
    else if (entry.isFile()) total += lstatSync(path).size;
  }
  return total;
}

/** The workspace's version of a published package. */
export function workspaceVersion(dir: (typeof PUBLISHED_PACKAGES)[number]): string {
  return (JSON.parse(readFileSync(join(WORKSPACE_ROOT, 'packages', dir, 'package.json'), 'utf8')) as { version: string }).version;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function waitForPing(url: string, server: ResultPromise): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) break;
    const ok = await fetch(`${url}/-/ping`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  server.kill('SIGTERM');
  const result = await server;
  throw new Error(`verdaccio did not answer on ${url}:\n${String(result.all ?? '')}`);
}

/** Registers the registry's one user; its token. */
async function addUser(url: string): Promise<string> {
  const response = await fetch(`${url}/-/user/org.couchdb.user:release`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'release', password: 'rehearsal-only' }),
  });
  const body = (await response.json()) as { token?: string; error?: string };
  if (!body.token) throw new Error(`verdaccio refused a user: ${body.error ?? response.status}`);
  return body.token;
}

/** The user's own npm settings (a mirror, a cache), kept under the registry's. */
function userNpmrcLines(): string[] {
  const file = process.env.NPM_CONFIG_USERCONFIG ?? join(process.env.HOME ?? '/root', '.npmrc');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() && !line.includes(SCOPE)) : [];
}
