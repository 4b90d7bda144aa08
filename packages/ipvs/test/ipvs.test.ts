import { describe, expect, it } from 'vitest';
import { addressChanges, createIpvsPlanMemo, defaultIpvsPlannerOptions, managedAddresses, ipvsChanges, parseIpvsadmSave, planIpvs, renderIpvsPlan, type VirtualServer } from '@hybrid-proxy/ipvs';
import { buildSnapshot, type NodeInfo, type Snapshot } from '@hybrid-proxy/model';

const withNode = (snapshot: Snapshot, node: NodeInfo): Snapshot => ({ ...snapshot, node });

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
      planIpvs(snapshot, { ...defaultIpvsPlannerOptions, family, localTraffic }).iptables.tables.nat.get('KUBE-SERVICES')!.filter((r) => r.includes('KUBE-MARK-MASQ') && r.includes('CLUSTER-IP'));
    const v4Only = { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24'] } as const;
    expect(masq(6, v4Only)).toEqual([]);
    expect(masq(4, v4Only)).toEqual([expect.stringMatching(/^! -s 198\.18\.1\.0\/24 -m comment .* -j KUBE-MARK-MASQ$/)]);
    expect(masq(6, { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24', 'fd00:18:1::/64'] })).toEqual([expect.stringMatching(/^! -s fd00:18:1::\/64 .*KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ$/)]);
    expect(masq(6, { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' })).toEqual([expect.stringMatching(/^! -i veth\+ -m comment/)]);
    expect(masq(4, { mode: 'BridgeInterface', bridgeInterface: 'cbr0' })).toEqual([expect.stringMatching(/^! -i cbr0 -m comment/)]);
  });

  it('drains terminating endpoints with weight 0 and maps ClientIP affinity to persistence', () => {
    const plan = planIpvs(snapshot, defaultIpvsPlannerOptions);
    const web = plan.virtualServers.find((vs) => vs.port === 80)!;
    expect(web.reals).toEqual([{ address: '198.18.1.1', port: 8080, weight: 1 }, { address: '198.18.1.2', port: 8080, weight: 0 }]);
    expect(plan.virtualServers.find((vs) => vs.port === 53)).toMatchObject({ protocol: 'udp', persistence: 300, scheduler: 'rr' });
  });

  it("keeps unchanged Service ports' virtual servers from one plan to the next (memo), and plans afresh when options change", () => {
    const memo = createIpvsPlanMemo();
    const first = planIpvs(snapshot, defaultIpvsPlannerOptions, memo);
    const touched = { ...snapshot, entries: new Map([...snapshot.entries].map(([key, entry]) => [key, key.includes('sticky') ? { ...entry } : entry])) };
    const second = planIpvs(touched, defaultIpvsPlannerOptions, memo);
    const kept = [...second.virtualServerGroups!].map(([owner, list]) => [owner, list === first.virtualServerGroups!.get(owner)]);
    expect(kept).toEqual([['ns/sticky:dns', false], ['ns/web:http', true]]);
    expect(renderIpvsPlan(second)).toBe(renderIpvsPlan(first));
    expect(planIpvs(snapshot, { ...defaultIpvsPlannerOptions, scheduler: 'lc' }, memo).virtualServers.map((vs) => vs.scheduler)).toEqual(['lc', 'lc']);
  });

  it('keeps the iptables rules fixed, whatever the number of Services', () => {
    const many = buildSnapshot(Array.from({ length: 500 }, (_, i) => ({ kind: 'Service', metadata: { name: `s${i}`, namespace: 'ns' }, spec: { clusterIP: `198.19.${i >> 8}.${i & 255}`, ports: [{ port: 80 }] } })), []);
    const count = (p: ReturnType<typeof planIpvs>) => [...p.iptables.tables.nat.values(), ...p.iptables.tables.filter.values()].reduce((n, r) => n + r.length, 0);
    expect(count(planIpvs(many, defaultIpvsPlannerOptions))).toBe(count(planIpvs(snapshot, defaultIpvsPlannerOptions)));
  });
});

const external = withNode(buildSnapshot(
  [
    { kind: 'Service', metadata: { name: 'np', namespace: 'ext' }, spec: { type: 'NodePort', clusterIP: '198.19.2.10', clusterIPs: ['198.19.2.10', 'fd00:19::2:10'], ipFamilies: ['IPv4', 'IPv6'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] } },
    {
      kind: 'Service',
      metadata: { name: 'lb', namespace: 'ext' },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32001, clusterIP: '198.19.2.20', externalIPs: ['198.18.50.1'], loadBalancerSourceRanges: ['198.18.60.0/24', '198.18.0.1/32'], ports: [{ name: 'http', port: 80, nodePort: 30081 }] },
      status: { loadBalancer: { ingress: [{ ip: '198.18.70.1' }, { ip: '198.18.70.9', ipMode: 'Proxy' }] } },
    },
    { kind: 'Service', metadata: { name: 'sctp', namespace: 'ext' }, spec: { type: 'NodePort', clusterIP: '198.19.2.30', ports: [{ name: 'assoc', protocol: 'SCTP', port: 9000, nodePort: 30900 }] } },
  ],
  [
    { kind: 'EndpointSlice', metadata: { name: 'np-4', namespace: 'ext', labels: { 'kubernetes.io/service-name': 'np' } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['198.18.1.41'], nodeName: 'n1' }, { addresses: ['198.18.1.42'], nodeName: 'n2' }] },
    { kind: 'EndpointSlice', metadata: { name: 'np-6', namespace: 'ext', labels: { 'kubernetes.io/service-name': 'np' } }, addressType: 'IPv6', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['fd00:18:1::41'], nodeName: 'n1' }] },
    {
      kind: 'EndpointSlice',
      metadata: { name: 'lb-4', namespace: 'ext', labels: { 'kubernetes.io/service-name': 'lb' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      endpoints: [{ addresses: ['198.18.1.43'], nodeName: 'n1' }, { addresses: ['198.18.1.44'], nodeName: 'n2' }, { addresses: ['198.18.1.45'], nodeName: 'n1', conditions: { ready: false, serving: true, terminating: true } }],
    },
    { kind: 'EndpointSlice', metadata: { name: 'sctp-4', namespace: 'ext', labels: { 'kubernetes.io/service-name': 'sctp' } }, addressType: 'IPv4', ports: [{ name: 'assoc', protocol: 'SCTP', port: 9000 }], endpoints: [{ addresses: ['198.18.1.46'] }] },
  ],
), { name: 'n1', zone: '', addresses: ['198.18.0.1', 'fd00:18::1'], podCIDRs: [], goingAway: false });
const externalOptions = { ...defaultIpvsPlannerOptions, nodeName: 'n1', localTraffic: { mode: 'ClusterCIDR', cidrs: ['198.18.1.0/24', 'fd00:18:1::/64'] } } as const;

describe('planIpvs, external traffic', () => {
  it('matches the golden plans: node ports, external and load-balancer IPs, source ranges, Local policy', async () => {
    await expect(renderIpvsPlan(planIpvs(external, { ...externalOptions, nodePortAddresses: ['198.18.0.1', '198.18.1.1'] }))).toMatchFileSnapshot('./golden/external.v4.txt');
    await expect(renderIpvsPlan(planIpvs(external, { ...externalOptions, family: 6, nodePortAddresses: ['fd00:18::1'] }))).toMatchFileSnapshot('./golden/external.v6.txt');
  });

  const plan = planIpvs(external, { ...externalOptions, nodePortAddresses: ['198.18.0.1', '198.18.1.1'] });
  const reals = (address: string, port: number) => plan.virtualServers.find((vs) => vs.address === address && vs.port === port)?.reals.map((r) => `${r.address}/${r.weight}`);
  const members = (name: string) => [...plan.ipsets.find((set) => set.name === name)!.entries].sort();

  it('serves a Cluster node port on every node address with every endpoint, marked for masquerade', () => {
    expect(reals('198.18.0.1', 30080)).toEqual(['198.18.1.41/1', '198.18.1.42/1']);
    expect(reals('198.18.1.1', 30080)).toEqual(['198.18.1.41/1', '198.18.1.42/1']);
    expect(members('KUBE-NODE-PORT-TCP')).toEqual(['30080', '30081']);
    expect(plan.addresses).not.toContain('198.18.0.1');
  });

  it("Local policy: external addresses reach this node's endpoints (a draining one at weight 0), the ClusterIP every endpoint", () => {
    for (const [address, port] of [['198.18.70.1', 80], ['198.18.50.1', 80], ['198.18.0.1', 30081]] as const) expect(reals(address, port)).toEqual(['198.18.1.43/1', '198.18.1.45/0']);
    expect(reals('198.19.2.20', 80)).toEqual(['198.18.1.43/1', '198.18.1.44/1', '198.18.1.45/0']);
    expect(members('KUBE-NODE-PORT-LOCAL-TCP')).toEqual(['30081']);
    expect(members('KUBE-LOAD-BALANCER-LOCAL')).toEqual(['198.18.70.1,tcp:80']);
    expect(members('KUBE-EXTERNAL-IP-LOCAL')).toEqual(['198.18.50.1,tcp:80']);
    expect(members('KUBE-EXTERNAL-IP')).toEqual([]);
    expect(members('KUBE-HEALTH-CHECK-NODE-PORT')).toEqual(['32001']);
  });

  it('binds external and load-balancer IPs to kube-ipvs0, but not an LB IP in ipMode Proxy', () => {
    expect(plan.addresses).toEqual(['198.18.50.1', '198.18.70.1', '198.19.2.10', '198.19.2.20', '198.19.2.30']);
    expect(members('KUBE-IPVS-IPS')).toEqual(plan.addresses);
  });

  it('admits the source ranges, and the node itself when a range holds its address', () => {
    expect(members('KUBE-LOAD-BALANCER-FW')).toEqual(['198.18.70.1,tcp:80']);
    expect(members('KUBE-LOAD-BALANCER-SOURCE-CIDR')).toEqual(['198.18.70.1,tcp:80,198.18.0.1', '198.18.70.1,tcp:80,198.18.60.0/24']);
    expect(members('KUBE-LOAD-BALANCER-SOURCE-IP')).toEqual(['198.18.70.1,tcp:80,198.18.70.1']);
    // IPv6 clients are outside every (IPv4) range: the LB IPv6 set has the firewall entry only when it has LB IPs.
    const v6 = planIpvs(external, { ...externalOptions, family: 6 });
    expect(v6.ipsets.find((set) => set.name === 'KUBE-6-LOAD-BALANCER-SOURCE-CID')!.entries).toEqual([]);
  });

  it('matches SCTP node ports per node address, as kube-proxy does', () => {
    expect(members('KUBE-NODE-PORT-SCTP-HASH')).toEqual(['198.18.0.1,sctp:30900', '198.18.1.1,sctp:30900']);
  });

  it('names IPv6 sets as kube-proxy does, within ipset\'s 31 characters', () => {
    const names = planIpvs(external, { ...externalOptions, family: 6 }).ipsets.map((set) => set.name);
    expect(names).toContain('KUBE-6-NODE-PORT-LOCAL-SCTP-HAS');
    for (const name of names) expect(name.length).toBeLessThanOrEqual(31);
  });

  it('plans no node port virtual server without node addresses', () => {
    const none = planIpvs(external, externalOptions);
    expect(none.virtualServers.filter((vs) => vs.port >= 30000)).toEqual([]);
    expect(none.ipsets.find((set) => set.name === 'KUBE-NODE-PORT-TCP')!.entries).toEqual([]);
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

  it('changes only what differs, additions first: edited schedulers, added and re-weighted reals, then removals', () => {
    const other: VirtualServer = { ...vs([['198.18.1.9', 1]]), port: 81 };
    expect(ipvsChanges([vs([['198.18.1.1', 1], ['198.18.1.2', 1]]), other], [vs([['198.18.1.1', 0], ['198.18.1.3', 1]], 'wrr')])).toEqual([
      '-E -t 198.19.0.10:80 -s wrr',
      '-e -t 198.19.0.10:80 -r 198.18.1.1:8080 -m -w 0',
      '-a -t 198.19.0.10:80 -r 198.18.1.3:8080 -m -w 1',
      '-d -t 198.19.0.10:80 -r 198.18.1.2:8080',
      '-D -t 198.19.0.10:81',
    ]);
    expect(ipvsChanges([vs([['198.18.1.1', 1]])], [vs([['198.18.1.1', 1]])])).toEqual([]);
  });

  it('leaves addresses inside --ipvs-exclude-cidrs to their owner unless the plan binds them', () => {
    const bound = ['198.19.0.10', '198.18.201.1', '198.18.201.2', 'fd00:19::9'];
    expect(managedAddresses(bound, ['198.19.0.10/32', '198.18.201.2/32'], ['198.18.201.0/24', 'fd00:19::/64'])).toEqual(['198.19.0.10', '198.18.201.2']);
    expect(managedAddresses(bound, [], [])).toEqual(bound);
  });

  it('binds and unbinds kube-ipvs0 addresses, binding first', () => {
    expect(addressChanges(['198.19.0.10', '198.19.0.11'], ['198.19.0.10', 'fd00:19::1'])).toEqual(['addr add fd00:19::1/128 dev kube-ipvs0', 'addr del 198.19.0.11/32 dev kube-ipvs0']);
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

  it('fails the sync when ipvsadm -R complains on stderr, even with exit code 0, and reads back what differs', async () => {
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
