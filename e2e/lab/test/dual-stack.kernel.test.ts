import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '@hybrid-proxy/exec';
import { LAB_ADDRESSES, LabNode, type TrafficTarget } from '@hybrid-proxy/lab';
import { fetchIn } from './fetch-in.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/dual-stack', import.meta.url));
const WEB4: TrafficTarget = { key: 'test/web:http', protocol: 'TCP', ip: '198.19.1.20', port: 80 };
const WEB6: TrafficTarget = { key: 'test/web:http', protocol: 'TCP', ip: 'fd00:19::20', port: 80 };
const POD_CIDR_V6 = 'fd00:18:1::/64';

/** Both families at once, with kube-proxy's `--cluster-cidr v4,v6`: each family gets its own CIDR, never the other's. */
/** iptables here; the VM lane, whose kernel has IPVS, runs it in ipvs mode as well. */
const MODES = (process.env['HP_DUAL_STACK_MODES'] ?? 'iptables').split(',') as ('iptables' | 'ipvs')[];

describe.each(MODES)('dual-stack in %s mode, --cluster-cidr v4,v6', (mode) => {
  let node: LabNode;
  beforeAll(async () => {
    node = await LabNode.start({
      manifests: FIXTURES,
      counters: 'off',
      mode,
      // Later flags win: these replace the lab's IPv4-only defaults.
      proxyArgs: ['--ip-families', '4,6', '--cluster-cidr', `${LAB_ADDRESSES.podCIDRv4},${POD_CIDR_V6}`, '--service-cidr', `${LAB_ADDRESSES.serviceCIDRv4},${LAB_ADDRESSES.serviceCIDRv6}`],
    });
  });
  afterAll(async () => node?.destroy());

  it('serves the IPv4 VIP from the IPv4 endpoints and the IPv6 VIP from the IPv6 ones, every one of them', async () => {
    const [v4, v6] = await node.traffic.burst([WEB4, WEB6], { count: 120, concurrency: 4 });
    expect(v4!.failed, JSON.stringify(v4!.errors)).toBe(0);
    expect(v6!.failed, JSON.stringify(v6!.errors)).toBe(0);
    expect(Object.keys(v4!.backends).sort()).toEqual(['web4-a', 'web4-b']);
    expect(Object.keys(v6!.backends).sort()).toEqual(['web6-a', 'web6-b', 'web6-c']);
  });

  it('writes each family\'s own cluster CIDR, and no sync fails', async () => {
    const v4 = (await runChecked(node.topology.node.run, 'iptables-save', [])).stdout;
    const v6 = (await runChecked(node.topology.node.run, 'ip6tables-save', [])).stdout;
    expect(v4).toContain(`! -s ${LAB_ADDRESSES.podCIDRv4}`);
    expect(v6).toContain(`! -s ${POD_CIDR_V6}`);
    expect(v6).not.toMatch(/\b198\.1[89]\./);
    expect(v4).not.toMatch(/fd00:/);
    expect(node.proxy!.lines.filter((line) => line.includes('"level":"error"'))).toEqual([]);
    const health = await fetchIn(node, 'client', `http://${LAB_ADDRESSES.nodeIPv4}:10256/healthz`);
    expect(health.status).toBe(200);
  });
});
