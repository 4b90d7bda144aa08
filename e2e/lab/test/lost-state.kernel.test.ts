import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '@hybrid-proxy/exec';
import { LabNode, type TrafficTarget } from '@hybrid-proxy/lab';
import { fetchIn, metricValue } from './fetch-in.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/traffic', import.meta.url));
const WEB: TrafficTarget = { key: 'test/web:http', protocol: 'TCP', ip: '198.19.1.10', port: 80 };
const SYNC_PERIOD_MS = 3000;

/**
 * Someone else removes the proxy's state under steady traffic (a firewall reload, `iptables -t nat -F`, an
 * emptied set): connections fail, the proxy notices within one sync period, and traffic comes back before the
 * next one ends, long before the hourly full sync.
 */
describe.each(['nft', 'legacy'] as const)('lost kernel state is restored within a sync period (iptables-%s)', (variant) => {
  let node: LabNode;
  beforeAll(async () => {
    node = await LabNode.start({ manifests: FIXTURES, counters: 'off', proxyArgs: ['--iptables-variant', variant, '--sync-period', `${SYNC_PERIOD_MS}ms`] });
  });
  afterAll(async () => node?.destroy());

  /** One request every 100 ms until one is answered; how long that took, and how many failed first. */
  const untilServed = async (limitMs: number) => {
    const start = Date.now();
    let failed = 0;
    while (Date.now() - start < limitMs) {
      const [result] = await node.traffic.burst([WEB], { count: 1, concurrency: 1, timeoutMs: 300 });
      if (result!.ok === 1) return { afterMs: Date.now() - start, failed };
      failed++;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { afterMs: Number.POSITIVE_INFINITY, failed };
  };
  const repairs = async () => metricValue((await fetchIn(node, 'node', 'http://127.0.0.1:10249/metrics')).body, 'hybrid_proxy_lost_state_repairs_total');

  const iptables = `iptables-${variant}`;
  it.each([
    ['the nat table is flushed', [[iptables, '-t', 'nat', '-F']]],
    ['a firewall reload: every table flushed and its chains deleted', [[iptables, '-t', 'nat', '-F'], [iptables, '-t', 'nat', '-X'], [iptables, '-t', 'filter', '-F'], [iptables, '-t', 'filter', '-X']]],
    ['the dispatch gate set is emptied', [['ipset', 'flush', 'KUBE-SVC-GATE']]],
  ] as const)('%s: traffic fails, then is served again before the next sync period ends', async (_name, commands) => {
    expect((await untilServed(2000)).failed).toBe(0);
    const before = await repairs();
    // Break right after a periodic check, so that the next one is a whole sync period away: otherwise a check
    // landing between the commands (a loaded CI machine) repairs before the breakage can be seen.
    const mark = node.logMark;
    await node.proxy!.waitForLine((line) => line.includes('"msg":"synced"'), 2 * SYNC_PERIOD_MS, mark);
    for (const [tool, ...args] of commands) await runChecked(node.topology.node.run, tool, args);
    const [broken] = await node.traffic.burst([WEB], { count: 1, concurrency: 1, timeoutMs: 300 });
    expect(broken!.failed).toBe(1);
    const served = await untilServed(2 * SYNC_PERIOD_MS + 1000);
    expect(served.failed).toBeGreaterThan(0);
    expect(served.afterMs).toBeLessThan(2 * SYNC_PERIOD_MS);
    expect(await repairs()).toBe(before + 1);
    const [after] = await node.traffic.burst([WEB], { count: 60, concurrency: 4 });
    expect(after!.failed).toBe(0);
    expect(Object.keys(after!.backends).sort()).toEqual(['web-a', 'web-b', 'web-c']);
  });
});
