import { describe, expect, it } from 'vitest';
import { countNoLocalEndpoints, syncEachFamily } from '@hybrid-proxy/core';
import { buildSnapshot } from '@hybrid-proxy/model';

const svc = (name: string, ip: string[], spec: object) => ({ kind: 'Service', metadata: { name, namespace: 'ns' }, spec: { clusterIPs: ip, clusterIP: ip[0], ipFamilyPolicy: ip.length > 1 ? 'PreferDualStack' : 'SingleStack', ports: [{ port: 80 }], ...spec } });
const eps = (name: string, addressType: string, endpoints: { ip: string; node: string; ready?: boolean; serving?: boolean; terminating?: boolean }[]) => ({
  kind: 'EndpointSlice',
  metadata: { name: `${name}-${addressType.toLowerCase()}`, namespace: 'ns', labels: { 'kubernetes.io/service-name': name } },
  addressType,
  ports: [{ port: 8080 }],
  endpoints: endpoints.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true, serving: e.serving ?? true, terminating: e.terminating ?? false } })),
});

describe('syncEachFamily', () => {
  it('sums the families\' rules, keeps each family\'s own kind, and names a failing family before rethrowing', async () => {
    const outcome = await syncEachFamily(
      [
        { family: 4, apply: async () => ({ kind: 'partial', rulesPerTable: { nat: 10, filter: 2 } }) },
        { family: 6, apply: async () => ({ kind: 'unchanged', rulesPerTable: { nat: 4, filter: 2 } }) },
      ],
      () => expect.unreachable(),
    );
    expect(outcome).toMatchObject({ kind: 'partial', rulesPerTable: { nat: 14, filter: 4 }, families: [{ family: 4, kind: 'partial' }, { family: 6, kind: 'unchanged' }] });
    const failed: number[] = [];
    const refused = syncEachFamily(
      [
        { family: 4, apply: async () => ({ kind: 'full', rulesPerTable: {} }) },
        { family: 6, apply: async () => Promise.reject(new Error('ip6tables-restore: line 3 failed')) },
      ],
      (family) => failed.push(family),
    );
    await expect(refused).rejects.toThrow('line 3');
    expect(failed).toEqual([6]);
  });
});

describe('countNoLocalEndpoints', () => {
  it('counts Local Service ports whose endpoints are all elsewhere, per family and per policy', () => {
    const snapshot = buildSnapshot(
      [
        svc('elsewhere', ['198.19.0.1', 'fd00:19::1'], { internalTrafficPolicy: 'Local' }),
        svc('here', ['198.19.0.2'], { internalTrafficPolicy: 'Local' }),
        svc('draining-here', ['198.19.0.3'], { internalTrafficPolicy: 'Local' }),
        svc('none-at-all', ['198.19.0.4'], { internalTrafficPolicy: 'Local' }),
        svc('nodeport-elsewhere', ['198.19.0.5'], { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30080 }] }),
        svc('cluster-elsewhere', ['198.19.0.6'], {}),
      ],
      [
        eps('elsewhere', 'IPv4', [{ ip: '198.18.1.1', node: 'node-b' }]),
        eps('elsewhere', 'IPv6', [{ ip: 'fd00:18::1', node: 'node-a' }]),
        eps('here', 'IPv4', [{ ip: '198.18.1.2', node: 'node-a' }]),
        eps('draining-here', 'IPv4', [{ ip: '198.18.1.3', node: 'node-a', ready: false, terminating: true }, { ip: '198.18.1.4', node: 'node-b' }]),
        eps('nodeport-elsewhere', 'IPv4', [{ ip: '198.18.1.5', node: 'node-b' }]),
        eps('cluster-elsewhere', 'IPv4', [{ ip: '198.18.1.6', node: 'node-b' }]),
      ],
    );
    expect(countNoLocalEndpoints(snapshot, [4, 6], { nodeName: 'node-a', zone: '' })).toEqual([
      { family: 4, internal: 1, external: 1 },
      { family: 6, internal: 0, external: 0 },
    ]);
  });
});

describe('IpvsMode counts a refused ipvsadm -R as a restore failure of its family', () => {
  it('kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family="IPv4"} goes up, and the sync fails', async () => {
    const { FakeRunner } = await import('@hybrid-proxy/exec');
    const { createProxyMetrics, IpvsMode, silentLogger } = await import('@hybrid-proxy/core');
    // The IPVS executor's dependencies, as an empty kernel answers, except that ipvsadm -R complains.
    const runner = new FakeRunner((call) => {
      if (call.file === 'ipvsadm' && call.args[0] === '-R') return { stderr: 'Memory allocation problem\n' };
      if (call.file === 'ip' && call.args.includes('-j')) return { stdout: '[{"addr_info":[]}]' };
      return undefined;
    });
    const metrics = createProxyMetrics();
    const mode = new IpvsMode({
      runner,
      logger: silentLogger,
      metrics,
      families: [4],
      iptablesVariant: 'nft',
      strictARP: false,
      timeouts: { tcpMs: 0, tcpFinMs: 0, udpMs: 0 },
      excludeCIDRs: [],
      planner: { scheduler: 'rr', localTraffic: { mode: 'None' }, masqueradeAll: false, masqueradeBit: 14, nodeName: 'node-a', zone: '' },
    });
    const snapshot = buildSnapshot([svc('web', ['198.19.0.10'], {})], [eps('web', 'IPv4', [{ ip: '198.18.1.1', node: 'node-a' }])]);
    await expect(mode.sync(snapshot, { full: true })).rejects.toThrow(/ipvsadm -R did not apply the change: Memory allocation problem/);
    expect((await metrics.restoreFailures.get()).values).toEqual([expect.objectContaining({ value: 1, labels: { ip_family: 'IPv4' } })]);
  });
});
