import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '@hybrid-proxy/watcher';

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
