import { describe, expect, it } from 'vitest';
import { addressChanges, defaultIpvsPlannerOptions, managedAddresses, ipvsChanges, parseIpvsadmSave, planIpvs, renderIpvsPlan, type VirtualServer } from '@hybrid-proxy/ipvs';
import { buildSnapshot } from '@hybrid-proxy/model';

const snapshot = buildSnapshot(
  [
    { kind: 'Service', metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: '198.19.0.10', clusterIPs: ['198.19.0.10', 'fd00:19::10'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    { kind: 'Service', metadata: { name: 'sticky', namespace: 'ns' }, spec: { clusterIP: '198.19.0.20', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } }, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] } },
  ],
  [
    { kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['198.18.1.1'] }, { addresses: ['198.18.1.2'], conditions: { ready: false, serving: true, terminating: true } }] },
    { kind: 'EndpointSlice', metadata: { name: 'web-6', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv6', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['fd00:18:1::1'] }] },
    { kind: 'EndpointSlice', metadata: { name: 'sticky-1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'sticky' } }, addressType: 'IPv4', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: [{ addresses: ['198.18.1.3'] }] },
  ],
);

describe('planIpvs', () => {
  it('matches the golden plan (IPv4, cluster CIDR masquerade)', async () => {
    await expect(renderIpvsPlan(planIpvs(snapshot, { ...defaultIpvsPlannerOptions, localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] } }))).toMatchFileSnapshot('./golden/basic.v4.txt');
  });

  it('matches the golden plan (IPv6, sh scheduler, masquerade-all)', async () => {
    await expect(renderIpvsPlan(planIpvs(snapshot, { ...defaultIpvsPlannerOptions, family: 6, scheduler: 'sh', masqueradeAll: true }))).toMatchFileSnapshot('./golden/basic.v6.txt');
  });

  it('masquerades by each family\'s own detector: none for IPv6 when the cluster CIDR is IPv4 only', () => {
    const masq = (family: 4 | 6, localTraffic: Parameters<typeof planIpvs>[1]['localTraffic']) =>
      planIpvs(snapshot, { ...defaultIpvsPlannerOptions, family, localTraffic }).iptables.tables.nat.get('KUBE-SERVICES')!.filter((r) => r.includes('KUBE-MARK-MASQ'));
    const v4Only = { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] } as const;
    expect(masq(6, v4Only)).toEqual([]);
    expect(masq(4, v4Only)).toEqual([expect.stringMatching(/^! -s 198\.18\.1\.0\/24 -m comment .* -j KUBE-MARK-MASQ$/)]);
    expect(masq(6, { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24', 'fd00:18:1::/64'] })).toEqual([expect.stringMatching(/^! -s fd00:18:1::\/64 .*KUBE-CLUSTER-IP-6 dst,dst -j KUBE-MARK-MASQ$/)]);
    expect(masq(6, { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' })).toEqual([expect.stringMatching(/^! -i veth\+ -m comment/)]);
    expect(masq(4, { mode: 'BridgeInterface', bridgeInterface: 'cbr0' })).toEqual([expect.stringMatching(/^! -i cbr0 -m comment/)]);
  });

  it('drains terminating endpoints with weight 0 and maps ClientIP affinity to persistence', () => {
    const plan = planIpvs(snapshot, defaultIpvsPlannerOptions);
    const web = plan.virtualServers.find((vs) => vs.port === 80)!;
    expect(web.reals).toEqual([{ address: '198.18.1.1', port: 8080, weight: 1 }, { address: '198.18.1.2', port: 8080, weight: 0 }]);
    expect(plan.virtualServers.find((vs) => vs.port === 53)).toMatchObject({ protocol: 'udp', persistence: 300, scheduler: 'rr' });
  });

  it('keeps the iptables rules fixed, whatever the number of Services', () => {
    const many = buildSnapshot(Array.from({ length: 500 }, (_, i) => ({ kind: 'Service', metadata: { name: `s${i}`, namespace: 'ns' }, spec: { clusterIP: `198.19.${i >> 8}.${i & 255}`, ports: [{ port: 80 }] } })), []);
    const count = (p: ReturnType<typeof planIpvs>) => [...p.iptables.tables.nat.values(), ...p.iptables.tables.filter.values()].reduce((n, r) => n + r.length, 0);
    expect(count(planIpvs(many, defaultIpvsPlannerOptions))).toBe(count(planIpvs(snapshot, defaultIpvsPlannerOptions)));
  });
});

describe('diffs against the kernel state', () => {
  const vs = (reals: [string, number][], scheduler: VirtualServer['scheduler'] = 'rr', persistence = 0): VirtualServer => ({
    protocol: 'tcp', address: '198.19.0.10', port: 80, scheduler, persistence, service: 'ns/web:http',
    reals: reals.map(([address, weight]) => ({ address, port: 8080, weight })),
  });

  it('reads ipvsadm-save -n, IPv6 and persistence included', () => {
    const saved = ['-A -t 198.19.0.10:80 -s rr', '-a -t 198.19.0.10:80 -r 198.18.1.1:8080 -m -w 1', '-A -u [fd00:19::53]:53 -s sh -p 300', '-a -u [fd00:19::53]:53 -r [fd00:18:1::3]:5353 -m -w 0', ''].join('\n');
    expect(parseIpvsadmSave(saved)).toEqual([
      { protocol: 'tcp', address: '198.19.0.10', port: 80, scheduler: 'rr', persistence: 0, service: '', reals: [{ address: '198.18.1.1', port: 8080, weight: 1 }] },
      { protocol: 'udp', address: 'fd00:19::53', port: 53, scheduler: 'sh', persistence: 300, service: '', reals: [{ address: 'fd00:18:1::3', port: 5353, weight: 0 }] },
    ]);
  });

  it('changes only what differs: added, removed and re-weighted reals, edited schedulers, removed services', () => {
    const other: VirtualServer = { ...vs([['198.18.1.9', 1]]), port: 81 };
    expect(ipvsChanges([vs([['198.18.1.1', 1], ['198.18.1.2', 1]]), other], [vs([['198.18.1.1', 0], ['198.18.1.3', 1]], 'wrr')])).toEqual([
      '-D -t 198.19.0.10:81',
      '-E -t 198.19.0.10:80 -s wrr',
      '-d -t 198.19.0.10:80 -r 198.18.1.2:8080',
      '-e -t 198.19.0.10:80 -r 198.18.1.1:8080 -m -w 0',
      '-a -t 198.19.0.10:80 -r 198.18.1.3:8080 -m -w 1',
    ]);
    expect(ipvsChanges([vs([['198.18.1.1', 1]])], [vs([['198.18.1.1', 1]])])).toEqual([]);
  });

  it('leaves addresses inside --ipvs-exclude-cidrs to their owner unless the plan binds them', () => {
    const bound = ['198.19.0.10', '198.18.201.1', '198.18.201.2', 'fd00:19::9'];
    expect(managedAddresses(bound, ['198.19.0.10/32', '198.18.201.2/32'], ['198.18.201.0/24', 'fd00:19::/64'])).toEqual(['198.19.0.10', '198.18.201.2']);
    expect(managedAddresses(bound, [], [])).toEqual(bound);
  });

  it('binds and unbinds kube-ipvs0 addresses', () => {
    expect(addressChanges(['198.19.0.10', '198.19.0.11'], ['198.19.0.10', 'fd00:19::1'])).toEqual(['addr del 198.19.0.11/32 dev kube-ipvs0', 'addr add fd00:19::1/128 dev kube-ipvs0']);
  });
});

describe('IpvsExecutor against a recording runner', () => {
  it('diffs only the virtual servers on kube-ipvs0 addresses, with ipvsadm -R (never the clearing ipvsadm-restore)', async () => {
    const { FakeRunner } = await import('@hybrid-proxy/exec');
    const { IpvsExecutor } = await import('@hybrid-proxy/ipvs');
    const plan = planIpvs(snapshot, defaultIpvsPlannerOptions);
    // The kernel holds an operator's virtual server, and one of ours (bound) for a Service that is gone.
    let saved = '-A -t 198.18.200.1:9999 -s rr\n-A -t 198.19.0.99:80 -s rr\n';
    const runner = new FakeRunner((call) => {
      if (call.file === 'ipvsadm-save') return { stdout: saved };
      if (call.file === 'ipvsadm' && call.args[0] === '-R') {
        saved = ['-A -t 198.18.200.1:9999 -s rr', ...plan.virtualServers.flatMap((vs) => [`-A ${vs.protocol === 'tcp' ? '-t' : '-u'} ${vs.address}:${vs.port} -s ${vs.scheduler}${vs.persistence ? ` -p ${vs.persistence}` : ''}`, ...vs.reals.map((r) => `-a ${vs.protocol === 'tcp' ? '-t' : '-u'} ${vs.address}:${vs.port} -r ${r.address}:${r.port} -m -w ${r.weight}`)])].join('\n');
        return {};
      }
      if (call.file === 'ip' && call.args.includes('-j')) return { stdout: '[{"addr_info":[{"family":"inet","local":"198.19.0.99"}]}]' };
      return undefined;
    });
    await new IpvsExecutor({ runner, family: 4, iptablesVariant: 'nft' }).apply(plan);
    const restore = runner.calls.find((c) => c.file === 'ipvsadm' && c.args[0] === '-R')!;
    expect(restore.input).toContain('-D -t 198.19.0.99:80');
    expect(restore.input).not.toContain('198.18.200.1');
    expect(runner.calls.some((c) => c.file === 'ipvsadm-restore' || (c.file === 'ipvsadm' && c.args.includes('-C')))).toBe(false);
  });

  it('fails the sync when ipvsadm -R complains on stderr, even with exit code 0, or the kernel does not match', async () => {
    const { FakeRunner } = await import('@hybrid-proxy/exec');
    const { IpvsExecutor, IpvsRestoreError } = await import('@hybrid-proxy/ipvs');
    const plan = planIpvs(snapshot, defaultIpvsPlannerOptions);
    const runner = new FakeRunner((call) => {
      if (call.file === 'ipvsadm' && call.args[0] === '-R') return { exitCode: 0, stderr: 'Invalid operation.  Possibly wrong module version, address not unicast, ...\n' };
      if (call.file === 'ip' && call.args.includes('-j')) return { stdout: '[{"addr_info":[]}]' };
      if (call.file.endsWith('-save') && call.file.startsWith('iptables')) return { stdout: '' };
      return undefined; // ipvsadm-save, ipset save: empty kernel state
    });
    const executor = new IpvsExecutor({ runner, family: 4, iptablesVariant: 'nft' });
    const error = await executor.apply(plan).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IpvsRestoreError);
    expect((error as InstanceType<typeof IpvsRestoreError>).message).toMatch(/address not unicast.*differences remain/);
  });
});
