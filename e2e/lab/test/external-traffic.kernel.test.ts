import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRunner, runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { LAB_ADDRESSES, LabNode } from '@hybrid-proxy/lab';

const FIXTURES = fileURLToPath(new URL('./fixtures/external', import.meta.url));
const POD_CIDR_V6 = 'fd00:18:1::/64';
/** Where the node's masquerade leaves external traffic: its address on the Pod links. */
const NODE_ON_POD_LINK = { 4: LAB_ADDRESSES.podGatewayIPv4, 6: LAB_ADDRESSES.podGatewayIPv6 } as const;
/** A second address of the client, inside the `fw` Service's loadBalancerSourceRanges (198.18.60.0/24). */
const CLIENT_IN_RANGE = '198.18.60.7';

/**
 * `mode` or `mode/dispatch`: by default both iptables layouts, the gated tree (node ports in a port tree) and
 * kube-proxy's linear lists. The VM lane adds `ipvs`, which needs a kernel with IPVS.
 */
const CASES = (process.env['HP_EXTERNAL_CASES'] ?? 'iptables/tree,iptables/linear').split(',').map((name) => {
  const [mode, dispatch] = name.split('/') as ['iptables' | 'ipvs', string | undefined];
  return { name, mode, dispatch };
});

interface Answer {
  /** The Pod that answered, or the failure (`timeout`, `refused`, `http 503`). */
  readonly name: string;
  /** The source address the Pod saw. */
  readonly source?: string;
}

/** One HTTP request with curl from a namespace: what answered and the source the Pod saw. `from`: the source address. */
async function ask(run: CommandRunner, host: string, port: number, from?: string): Promise<Answer> {
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/source`;
  const result = await run.run('curl', ['-s', '--max-time', '2', ...(from ? ['--interface', from] : []), '-w', '\\n%{http_code}', url]);
  if (result.exitCode === 28) return { name: 'timeout' };
  if (result.exitCode === 7) return { name: 'refused' };
  const [body, code] = result.stdout.split('\n') as [string, string];
  if (code !== '200') return { name: `http ${code} (curl ${result.exitCode})` };
  return JSON.parse(body) as Answer;
}

/** `count` requests: every answering Pod and every source it saw, with failures named. */
async function askMany(run: CommandRunner, host: string, port: number, count: number, from?: string): Promise<{ names: string[]; sources: string[] }> {
  const answers: Answer[] = [];
  for (let i = 0; i < count; i++) answers.push(await ask(run, host, port, from));
  return { names: [...new Set(answers.map((a) => a.name))].sort(), sources: [...new Set(answers.flatMap((a) => (a.source ? [a.source] : [])))].sort() };
}

/** The health check node port's answer, as a load balancer reads it. */
async function healthCheck(run: CommandRunner, port: number): Promise<{ code: number; body: Record<string, unknown> }> {
  const result = await runChecked(run, 'curl', ['-s', '--max-time', '2', '-w', '\n%{http_code}', `http://${LAB_ADDRESSES.nodeIPv4}:${port}/healthz`]);
  const [body, code] = result.stdout.split('\n') as [string, string];
  return { code: Number(code), body: JSON.parse(body) as Record<string, unknown> };
}

/**
 * Traffic from outside the node: a client namespace that is no Pod reaches node ports, external IPs and
 * load-balancer IPs through the real `hybrid-proxy run`, in both families; the Pods say which source they saw.
 */
describe.each(CASES)('external traffic, $name', ({ mode, dispatch }) => {
  const ipvs = mode === 'ipvs';
  /**
   * Where kube-proxy's IPVS mode differs, so does ours: a virtual server without real servers answers with ICMP
   * port unreachable (refused) where the iptables mode drops (timeout).
   */
  const noLocalEndpoint = ipvs ? 'refused' : 'timeout';
  let dir: string;
  let node: LabNode;
  let client: CommandRunner;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hp-external-'));
    await cp(FIXTURES, dir, { recursive: true });
    node = await LabNode.start({
      manifests: dir,
      counters: 'off',
      mode,
      proxyArgs: [...(dispatch ? ['--dispatch', dispatch] : []), '--ip-families', '4,6', '--cluster-cidr', `${LAB_ADDRESSES.podCIDRv4},${POD_CIDR_V6}`, '--service-cidr', `${LAB_ADDRESSES.serviceCIDRv4},${LAB_ADDRESSES.serviceCIDRv6}`],
    });
    client = node.topology.client.run;
    // The client reaches the external and load-balancer IPs through the node, as a router upstream would send them.
    await runChecked(client, 'ip', ['route', 'add', '198.18.50.0/24', 'via', LAB_ADDRESSES.nodeIPv4]);
    await runChecked(client, 'ip', ['route', 'add', '198.18.70.0/24', 'via', LAB_ADDRESSES.nodeIPv4]);
    await runChecked(client, 'ip', ['-6', 'route', 'add', 'fd00:18:70::/64', 'via', LAB_ADDRESSES.nodeIPv6]);
    await runChecked(client, 'ip', ['addr', 'add', `${CLIENT_IN_RANGE}/32`, 'dev', 'eth0']);
  });

  afterAll(async () => {
    await node?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('NodePort, Cluster policy: every endpoint, masqueraded to the node, in both families', async () => {
    const v4 = await askMany(client, LAB_ADDRESSES.nodeIPv4, 30080, 24);
    expect(v4).toEqual({ names: ['np-a', 'np-b'], sources: [NODE_ON_POD_LINK[4]] });
    const v6 = await askMany(client, LAB_ADDRESSES.nodeIPv6, 30080, 24);
    expect(v6).toEqual({ names: ['np6-a', 'np6-b'], sources: [NODE_ON_POD_LINK[6]] });
  });

  it('NodePort on 127.0.0.1 from the node itself (route_localnet), and not on ::1; IPVS serves neither, as kube-proxy', async () => {
    const v4 = await askMany(node.topology.node.run, '127.0.0.1', 30080, 12);
    expect(v4.names).toEqual(ipvs ? ['refused'] : ['np-a', 'np-b']);
    expect(await ask(node.topology.node.run, '::1', 30080)).toEqual({ name: 'refused' });
  });

  it('LoadBalancer and external IP, Local policy: only this node\'s endpoint, with the client\'s address kept', async () => {
    expect(await askMany(client, '198.18.70.1', 80, 12)).toEqual({ names: ['lb-a'], sources: [LAB_ADDRESSES.clientIPv4] });
    expect(await askMany(client, '198.18.50.1', 80, 12)).toEqual({ names: ['lb-a'], sources: [LAB_ADDRESSES.clientIPv4] });
    expect(await askMany(client, LAB_ADDRESSES.nodeIPv4, 30081, 12)).toEqual({ names: ['lb-a'], sources: [LAB_ADDRESSES.clientIPv4] });
    expect(await askMany(client, 'fd00:18:70::1', 80, 12)).toEqual({ names: ['lb6-a'], sources: [LAB_ADDRESSES.clientIPv6] });
    expect(await askMany(client, LAB_ADDRESSES.nodeIPv6, 30081, 12)).toEqual({ names: ['lb6-a'], sources: [LAB_ADDRESSES.clientIPv6] });
  });

  it('Local policy: the ClusterIP of the same Service still uses every endpoint', async () => {
    const pod = node.topology.pods.get('np-a')!;
    const fromPod = await askMany(createRunner({ netns: pod.namespace }), '198.19.2.20', 80, 24);
    expect(fromPod.names).toEqual(['lb-a', 'lb-b']);
  });

  it('Local policy: a Pod of this node reaching the LB IP short-circuits to every endpoint (iptables), with its own address', async () => {
    const pod = node.topology.pods.get('np-b')!;
    const answers = await askMany(createRunner({ netns: pod.namespace }), '198.18.70.1', 80, 24);
    // IPVS matches on the destination alone: the Pod reaches the LB virtual server, this node's endpoints.
    expect(answers).toEqual({ names: ipvs ? ['lb-a'] : ['lb-a', 'lb-b'], sources: [pod.ip] });
  });

  it('Local policy without a local endpoint: external traffic fails, the ClusterIP still answers', async () => {
    expect((await ask(client, '198.18.70.3', 80)).name).toBe(noLocalEndpoint);
    expect((await ask(client, LAB_ADDRESSES.nodeIPv4, 30083)).name).toBe(noLocalEndpoint);
    const pod = node.topology.pods.get('np-a')!;
    expect((await askMany(createRunner({ netns: pod.namespace }), '198.19.2.40', 80, 4)).names).toEqual(['far-a']);
  });

  it('loadBalancerSourceRanges: a client inside reaches the LB IP, one outside does not', async () => {
    expect((await askMany(client, '198.18.70.2', 80, 12, CLIENT_IN_RANGE)).names).toEqual(['fw-a', 'fw-b']);
    expect((await ask(client, '198.18.70.2', 80)).name).toBe('timeout');
    // The ranges guard the LB IP; the node port stays open, as in kube-proxy.
    expect((await askMany(client, LAB_ADDRESSES.nodeIPv4, 30082, 12)).names).toEqual(['fw-a', 'fw-b']);
  });

  it('a Service without endpoints rejects its node port and external IP at once, never a silent timeout', async () => {
    expect(await ask(client, LAB_ADDRESSES.nodeIPv4, 30084)).toEqual({ name: 'refused' });
    expect(await ask(client, '198.18.50.5', 80)).toEqual({ name: 'refused' });
  });

  it('health check node ports answer 200 with local endpoints and 503 without, as endpoints move on and off the node', async () => {
    const lb = await healthCheck(client, 32001);
    expect(lb).toEqual({ code: 200, body: { service: { namespace: 'ext', name: 'lb' }, localEndpoints: 2, serviceProxyHealthy: true } });
    expect(await healthCheck(client, 32003)).toEqual({ code: 503, body: { service: { namespace: 'ext', name: 'far' }, localEndpoints: 0, serviceProxyHealthy: true } });
    // The endpoints move: lb's leave this node, far's arrive.
    const file = join(dir, 'services.yaml');
    const text = await readFile(file, 'utf8');
    const moved = text
      .replace('{ addresses: [198.18.1.43], nodeName: lab-node', '{ addresses: [198.18.1.43], nodeName: elsewhere')
      .replace('{ addresses: ["fd00:18:1::43"], nodeName: lab-node', '{ addresses: ["fd00:18:1::43"], nodeName: elsewhere')
      .replace('{ addresses: [198.18.1.47], nodeName: elsewhere', '{ addresses: [198.18.1.47], nodeName: lab-node');
    expect(moved).not.toBe(text);
    const from = node.proxy!.lines.length;
    await writeFile(file, moved);
    await node.waitForSync(from);
    await expect.poll(async () => (await healthCheck(client, 32001)).code, { timeout: 10_000 }).toBe(503);
    await expect.poll(async () => (await healthCheck(client, 32003)).code, { timeout: 10_000 }).toBe(200);
    // And the traffic follows: far's LB IP now serves from this node, with the client's address.
    expect(await askMany(client, '198.18.70.3', 80, 6)).toEqual({ names: ['far-a'], sources: [LAB_ADDRESSES.clientIPv4] });
    expect((await ask(client, '198.18.70.1', 80)).name).toBe(noLocalEndpoint);
    await writeFile(file, text);
    await node.waitForSync(node.proxy!.lines.length);
    await expect.poll(async () => (await healthCheck(client, 32001)).code, { timeout: 10_000 }).toBe(200);
  });

  it('the proxy\'s own /healthz reports nodeEligible, and no sync failed', async () => {
    const health = await runChecked(client, 'curl', ['-s', '--max-time', '2', `http://${LAB_ADDRESSES.nodeIPv4}:10256/healthz`]);
    expect(JSON.parse(health.stdout)).toMatchObject({ nodeEligible: true });
    expect(node.proxy!.lines.filter((line) => line.includes('"level":"error"'))).toEqual([]);
  });
});
