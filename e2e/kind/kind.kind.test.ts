import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * hybrid-proxy replacing kube-proxy in a real kind cluster (kube-proxy disabled by kind-config.yaml). Needs Docker,
 * kind and kubectl; run with `npm run test:kind`. It is not part of `npm test`: machines without a Docker engine
 * (this project's CI among them) cannot run it.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLUSTER = 'hybrid-proxy';
const kubectl = (args: string[]) => execa('kubectl', ['--context', `kind-${CLUSTER}`, ...args], { cwd: ROOT });

async function requireTool(tool: string, args: string[]): Promise<void> {
  const result = await execa(tool, args, { reject: false });
  if (result.exitCode !== 0) throw new Error(`the kind suite needs ${tool} (${[tool, ...args].join(' ')} failed: ${result.stderr || result.shortMessage})`);
}

/** Asks the Service `count` times from a client Pod; returns the answers (Pod names). */
async function ask(count: number): Promise<string[]> {
  const script = `for i in $(seq ${count}); do wget -qO- -T 2 http://web.default.svc.cluster.local/hostname; echo; done`;
  const result = await kubectl(['run', `client-${Date.now()}`, '--rm', '-i', '--restart=Never', '--image=busybox:1.36', '--', 'sh', '-c', script]);
  return result.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('web-'));
}

/** The nodes' InternalIPs, by node name. */
async function nodeIPs(): Promise<Map<string, string>> {
  const result = await kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.addresses[?(@.type=="InternalIP")].address}{"\\n"}{end}']);
  return new Map(result.stdout.trim().split('\n').map((line) => line.split('=') as [string, string]));
}

/** One GET from this host (outside the cluster) to a node's address: the status and the body, or the failure. */
async function fromOutside(ip: string, port: number, path: string): Promise<{ status: number; body: string } | { error: string }> {
  try {
    const res = await fetch(`http://${ip}:${port}${path}`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: (await res.text()).trim() };
  } catch (err) {
    return { error: (err as Error).name };
  }
}

describe('hybrid-proxy in a kind cluster without kube-proxy', () => {
  beforeAll(async () => {
    await requireTool('docker', ['info']);
    await requireTool('kind', ['version']);
    await requireTool('kubectl', ['version', '--client']);
    await execa('kind', ['delete', 'cluster', '--name', CLUSTER], { reject: false });
    await execa('kind', ['create', 'cluster', '--name', CLUSTER, '--config', 'kind-config.yaml', '--wait', '0s'], { cwd: ROOT });
    await execa('docker', ['build', '-f', 'e2e/kind/Dockerfile', '-t', 'hybrid-proxy:e2e', '.'], { cwd: ROOT });
    await execa('kind', ['load', 'docker-image', 'hybrid-proxy:e2e', '--name', CLUSTER], { cwd: ROOT });
    await kubectl(['apply', '-f', 'e2e/kind/manifests/hybrid-proxy.yaml']);
    await kubectl(['-n', 'kube-system', 'rollout', 'status', 'daemonset/hybrid-proxy', '--timeout=300s']);
    // CoreDNS only becomes ready once Service traffic works: the first proof that the proxy programs the nodes.
    await kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=300s']);
    await kubectl(['apply', '-f', 'e2e/kind/manifests/workload.yaml']);
    await kubectl(['rollout', 'status', 'deployment/web', '--timeout=300s']);
  }, 900_000);

  afterAll(async () => {
    await execa('kind', ['delete', 'cluster', '--name', CLUSTER], { reject: false });
  }, 300_000);

  it('resolves the Service through CoreDNS and spreads requests over every replica', async () => {
    const answers = await ask(60);
    expect(answers).toHaveLength(60);
    expect(new Set(answers).size).toBe(3);
  }, 300_000);

  it('follows a scale-down: traffic goes only to the remaining replica', async () => {
    await kubectl(['scale', 'deployment/web', '--replicas=1']);
    await kubectl(['wait', '--for=delete', 'pod', '-l', 'app=web', '--field-selector=status.phase!=Running', '--timeout=120s']).catch(() => undefined);
    await kubectl(['rollout', 'status', 'deployment/web', '--timeout=120s']);
    await new Promise((r) => setTimeout(r, 5000));
    const answers = await ask(20);
    expect(answers).toHaveLength(20);
    expect(new Set(answers).size).toBe(1);
  }, 300_000);

  it('external traffic: a Cluster node port answers on every node; a Local one only where the replica runs, with the client address kept', async () => {
    const nodes = await nodeIPs();
    const replicaNode = (await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].spec.nodeName}'])).stdout.trim();
    const replica = (await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}'])).stdout.trim();
    for (const [name, ip] of nodes) {
      expect(await fromOutside(ip, 30080, '/hostname'), name).toEqual({ status: 200, body: replica });
      const local = await fromOutside(ip, 30081, '/clientip');
      const health = await fromOutside(ip, 30082, '/healthz');
      if (name === replicaNode) {
        // netexec's /clientip is the source address the Pod saw: this host's, not a node's.
        expect(local, name).toMatchObject({ status: 200 });
        expect([...nodes.values()]).not.toContain((local as { body: string }).body.replace(/:\d+$/, ''));
        expect(health, name).toMatchObject({ status: 200 });
        expect(JSON.parse((health as { body: string }).body)).toMatchObject({ service: { namespace: 'default', name: 'web-local' }, localEndpoints: 1 });
      } else {
        expect(local, name).toEqual({ error: 'TimeoutError' });
        expect(health, name).toMatchObject({ status: 503 });
      }
    }
  }, 120_000);

  it('serves health on every node', async () => {
    const pods = await kubectl(['-n', 'kube-system', 'get', 'pods', '-l', 'app=hybrid-proxy', '-o', 'jsonpath={.items[*].status.containerStatuses[0].ready}']);
    expect(pods.stdout.split(' ')).toEqual(['true', 'true', 'true']);
  }, 60_000);
});
