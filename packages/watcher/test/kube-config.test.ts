import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiServerDouble } from '@hybrid-proxy/lab';
import type { Snapshot } from '@hybrid-proxy/model';
import { KubernetesApiSource, loadKubeConfig } from '@hybrid-proxy/watcher';

const kubeconfig = (server: string) => `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}" } }]
users: [{ name: u, user: {} }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hp-kubeconfig-'));
  await mkdir(join(dir, 'home', '.kube'), { recursive: true });
  await writeFile(join(dir, 'flag.yaml'), kubeconfig('https://198.18.9.1:6443'));
  await writeFile(join(dir, 'env.yaml'), kubeconfig('https://198.18.9.2:6443'));
  await writeFile(join(dir, 'home', '.kube', 'config'), kubeconfig('https://198.18.9.3:6443'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const server = (source: ReturnType<typeof loadKubeConfig>) => source.config.getCurrentCluster()?.server;

describe('loadKubeConfig: kube-proxy\'s order', () => {
  it('--kubeconfig first, then $KUBECONFIG, then ~/.kube/config', () => {
    const env = { KUBECONFIG: join(dir, 'env.yaml'), HOME: join(dir, 'home') };
    expect(server(loadKubeConfig(join(dir, 'flag.yaml'), env))).toBe('https://198.18.9.1:6443');
    const saved = process.env['KUBECONFIG'];
    process.env['KUBECONFIG'] = env.KUBECONFIG; // client-node reads the real environment for $KUBECONFIG
    try {
      expect(server(loadKubeConfig(undefined, env))).toBe('https://198.18.9.2:6443');
    } finally {
      if (saved === undefined) delete process.env['KUBECONFIG'];
      else process.env['KUBECONFIG'] = saved;
    }
    expect(server(loadKubeConfig(undefined, { HOME: join(dir, 'home') }))).toBe('https://198.18.9.3:6443');
  });

  it('fails clearly when there is nothing to load, instead of a silent localhost', () => {
    expect(() => loadKubeConfig(undefined, { HOME: join(dir, 'nowhere') })).toThrow(/pass --kubeconfig PATH, set KUBECONFIG/);
    expect(() => loadKubeConfig(join(dir, 'missing.yaml'), {})).toThrow(/no such file/);
  });
});

describe('loadKubeConfig: a kubeconfig that can never work fails at once, with the reason', () => {
  const file = async (name: string, text: string) => {
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };

  it.each([
    ['an unknown current-context', kubeconfig('https://198.18.9.1:6443').replace('current-context: x', 'current-context: prod'), /current-context "prod" is not among its contexts \(x\)/],
    ['no current-context', kubeconfig('https://198.18.9.1:6443').replace('current-context: x', ''), /names no current-context/],
    ['a context naming a missing cluster', kubeconfig('https://198.18.9.1:6443').replace('cluster: c,', 'cluster: gone,'), /names cluster "gone", which the kubeconfig does not define/],
    ['a server that is not a URL', kubeconfig('198.18.9.1:6443'), /server "198\.18\.9\.1:6443", not an http:\/\/ or https:\/\/ URL/],
    ['a missing certificate authority', kubeconfig('https://198.18.9.1:6443').replace('server: "https://198.18.9.1:6443"', 'server: "https://198.18.9.1:6443", certificate-authority: ca.crt'), /certificate-authority .*ca\.crt: no such file/],
    ['a file that is not YAML', 'clusters: [unclosed', /not a kubeconfig/],
  ])('%s', async (_name, text, error) => {
    expect(() => loadKubeConfig(join(dir, 'flag.yaml'), {})).not.toThrow();
    expect(() => loadKubeConfig(undefined, { KUBECONFIG: `${join(dir, 'nope.yaml')}:${join(dir, 'nope2.yaml')}` })).toThrow(/\$KUBECONFIG .*: no such file/);
    const path = await file('bad.yaml', text);
    expect(() => loadKubeConfig(path, {})).toThrow(error);
  });

  it('$KUBECONFIG merges its files as kubectl does: missing ones skipped, the first current-context wins', async () => {
    const second = await file('second.yaml', kubeconfig('https://198.18.9.5:6443').replaceAll('name: c', 'name: c2').replace('cluster: c,', 'cluster: c2,').replaceAll(' x', ' y'));
    const source = loadKubeConfig(undefined, { KUBECONFIG: [join(dir, 'missing.yaml'), join(dir, 'env.yaml'), second].join(':') });
    expect(server(source)).toBe('https://198.18.9.2:6443');
    expect(source.config.contexts.map((c) => c.name)).toEqual(['x', 'y']);
  });
});

describe('loadKubeConfig: plain http, as kubectl proxy serves it', () => {
  let api: ApiServerDouble;
  afterEach(async () => api?.stop());

  it('lists and watches an http:// server without insecure-skip-tls-verify, and warns when credentials would travel in clear', async () => {
    api = new ApiServerDouble({ bookmarkIntervalMs: 100 });
    await api.start();
    api.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '198.19.0.10', ports: [{ port: 80 }] } });
    const path = await file(kubeconfig(api.url));
    const source = loadKubeConfig(path, {});
    expect(source.warnings).toEqual([]);
    const snapshots: Snapshot[] = [];
    const watcher = new KubernetesApiSource({ kubeConfig: source.config, nodeName: 'node-a', logger: { info() {}, warn() {}, error() {} } });
    try {
      await watcher.start((snapshot) => snapshots.push(snapshot));
    } finally {
      await watcher.stop();
    }
    expect([...snapshots[0]!.entries.keys()]).toEqual(['shop/web']);
    const withToken = loadKubeConfig(await file(kubeconfig(api.url).replace('user: {}', 'user: { token: abc }')), {});
    expect(withToken.warnings).toEqual([expect.stringMatching(/plain http: the credentials of user "u" travel unencrypted/)]);
  });

  const file = async (text: string) => {
    const path = join(dir, `http-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(path, text);
    return path;
  };
});

