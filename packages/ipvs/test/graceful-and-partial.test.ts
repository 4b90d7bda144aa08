import { describe, expect, it } from 'vitest';
import { FakeRunner, type RecordedCommand } from '@hybrid-proxy/exec';
import { createIpvsPlanMemo, defaultIpvsPlannerOptions, drainedReals, gracefulOperations, IpvsExecutor, ipvsChanges, parseIpvsadmList, planIpvs, virtualServerId, withDraining, type IpvsPlan, type VirtualServer } from '@hybrid-proxy/ipvs';
import { convertEndpointSlice, convertService, SnapshotAssembler } from '@hybrid-proxy/model';

const web = (reals: [string, number][], protocol: VirtualServer['protocol'] = 'tcp'): VirtualServer => ({
  protocol, address: '198.19.0.10', port: 80, scheduler: 'rr', persistence: 0, service: 'ns/web:http',
  reals: reals.map(([address, weight]) => ({ address, port: 8080, weight })),
});

describe('graceful termination', () => {
  it('sets a removed TCP real to weight 0 and keeps it draining, after the additions', () => {
    const { operations, draining } = gracefulOperations([web([['198.18.1.1', 1], ['198.18.1.2', 1]])], [web([['198.18.1.1', 1], ['198.18.1.3', 1]])], new Map());
    expect(operations.map((o) => `${o.op} ${'real' in o ? o.real.address + ' w' + o.real.weight : ''}`)).toEqual(['add-real 198.18.1.3 w1', 'edit-real 198.18.1.2 w0']);
    expect([...draining.values()].map((d) => d.real)).toEqual([{ address: '198.18.1.2', port: 8080, weight: 0 }]);
  });

  it('deletes a removed UDP real at once, as kube-proxy does', () => {
    const { operations, draining } = gracefulOperations([web([['198.18.1.1', 1], ['198.18.1.2', 1]], 'udp')], [web([['198.18.1.1', 1]], 'udp')], new Map());
    expect(operations.map((o) => o.op)).toEqual(['delete-real']);
    expect(draining.size).toBe(0);
  });

  it('weights a draining real again when it comes back, and forgets it with its virtual server', () => {
    const first = gracefulOperations([web([['198.18.1.1', 1], ['198.18.1.2', 1]])], [web([['198.18.1.1', 1]])], new Map());
    // The ledger's view (the plan) lacks the draining real; the kernel still has it at weight 0.
    const back = gracefulOperations([web([['198.18.1.1', 1]])], [web([['198.18.1.1', 1], ['198.18.1.2', 1]])], first.draining);
    expect(back.operations.map((o) => `${o.op} ${'real' in o ? o.real.address + ' w' + o.real.weight : ''}`)).toEqual(['edit-real 198.18.1.2 w1']);
    expect(back.draining.size).toBe(0);
    // Still draining: a sync that does not touch it writes nothing for it.
    expect(gracefulOperations([web([['198.18.1.1', 1]])], [web([['198.18.1.1', 1]])], first.draining).operations).toEqual([]);
    const gone = gracefulOperations([web([['198.18.1.1', 1]])], [], first.draining);
    expect(gone.operations.map((o) => o.op)).toEqual(['delete-service']);
    expect(gone.draining.size).toBe(0);
  });

  it('deletes a draining real once ipvsadm lists no active and no inactive connection for it', () => {
    const { draining } = gracefulOperations([web([['198.18.1.1', 1], ['198.18.1.2', 1], ['198.18.1.3', 1]])], [web([['198.18.1.1', 1]])], new Map());
    const listing = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  198.19.0.10:80 rr',
      '  -> 198.18.1.1:8080              Masq    1      4          0',
      '  -> 198.18.1.2:8080              Masq    0      1          0',
      '  -> 198.18.1.3:8080              Masq    0      0          0',
    ].join('\n');
    const [listed] = parseIpvsadmList(listing);
    expect(listed!.id).toBe('tcp:198.19.0.10:80');
    const { drained, gone } = drainedReals(draining, new Map([[listed!.id, listed!.reals]]));
    expect(drained.map((d) => d.real.address)).toEqual(['198.18.1.3']);
    expect(gone).toEqual([]);
    // Someone deleted the virtual server: nothing is left to drain.
    expect(drainedReals(draining, new Map()).gone).toHaveLength(2);
    expect(withDraining([web([['198.18.1.1', 1]])], draining)[0]!.reals.map((r) => `${r.address}/${r.weight}`)).toEqual(['198.18.1.1/1', '198.18.1.2/0', '198.18.1.3/0']);
  });
});

/** A PRNG with a seed, so that a failing round can be replayed. */
function random(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

const SERVICES = 40;
const service = (i: number, nodePort: boolean) => ({
  kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'ns' },
  spec: { type: nodePort ? 'NodePort' : 'ClusterIP', clusterIP: `198.19.0.${i + 1}`, ports: [{ name: 'p', port: 80, targetPort: 8080, protocol: i % 5 === 0 ? 'UDP' : 'TCP', ...(nodePort ? { nodePort: 30000 + i } : {}) }] },
});
const slice = (i: number, endpoints: { ip: string; terminating?: boolean }[]) => ({
  kind: 'EndpointSlice', metadata: { name: `svc-${i}-a`, namespace: 'ns', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
  addressType: 'IPv4', ports: [{ name: 'p', port: 8080, protocol: i % 5 === 0 ? 'UDP' : 'TCP' }],
  endpoints: endpoints.map(({ ip, terminating }) => ({ addresses: [ip], conditions: terminating ? { ready: false, serving: true, terminating: true } : { ready: true } })),
});

/** Random rounds of Service and endpoint changes, through the assembler as the watcher makes them. */
function* rounds(seed: number, count: number) {
  const next = random(seed);
  const assembler = new SnapshotAssembler();
  const set = (i: number, nodePort: boolean, ips: number) => {
    assembler.setService(`ns/svc-${i}`, convertService(service(i, nodePort)).value!);
    assembler.setSlice(`ns/svc-${i}-a`, convertEndpointSlice(slice(i, Array.from({ length: ips }, (_, k) => ({ ip: `198.18.${i}.${k + 1}`, terminating: next() < 0.1 })))).value!);
  };
  for (let i = 0; i < SERVICES; i++) set(i, i % 3 === 0, 1 + (i % 4));
  yield assembler.snapshot();
  for (let round = 0; round < count; round++) {
    for (let changes = 1 + Math.floor(next() * 3); changes > 0; changes--) {
      const i = Math.floor(next() * SERVICES);
      const roll = next();
      if (roll < 0.7) set(i, i % 3 === 0, Math.floor(next() * 5));
      else if (roll < 0.85) assembler.setService(`ns/svc-${i}`, undefined);
      else set(i, !(i % 3 === 0), 2);
    }
    yield assembler.snapshot();
  }
}

const sortedServers = (servers: readonly VirtualServer[]) => [...servers].map((vs) => ({ ...vs, reals: [...vs.reals].sort((a, b) => (a.address < b.address ? -1 : 1)) })).sort((a, b) => (virtualServerId(a) < virtualServerId(b) ? -1 : 1));
const comparable = (plan: IpvsPlan) => ({
  virtualServers: sortedServers(plan.virtualServers),
  addresses: plan.addresses,
  ipsets: plan.ipsets.map((set) => ({ name: set.name, entries: [...set.entries].sort() })),
});

const OPTIONS = { ...defaultIpvsPlannerOptions, nodePortAddresses: ['198.18.250.1'] };

describe('planIpvs with a memo, over random rounds of changes', () => {
  it('plans each snapshot as a cold plan would', () => {
    const memo = createIpvsPlanMemo();
    for (const snapshot of rounds(7, 60)) expect(comparable(planIpvs(snapshot, OPTIONS, memo))).toEqual(comparable(planIpvs(snapshot, OPTIONS)));
  });
});

/**
 * The kernel's IPVS table, sets and kube-ipvs0 addresses as data, changed by the tools' input lines and read back in
 * their output formats: what the executor's ledger is checked against. The iptables tools answer empty.
 */
class KernelState {
  readonly servers = new Map<string, { line: string; reals: Map<string, number> }>();
  readonly sets = new Map<string, Set<string>>();
  readonly addresses = new Set<string>();

  respond = (call: RecordedCommand) => {
    const lines = (call.input ?? '').split('\n').filter(Boolean);
    if (call.file === 'ipvsadm' && call.args[0] === '-R') for (const line of lines) this.ipvs(line.split(' '));
    else if (call.file === 'ipvsadm-save') return { stdout: this.save() };
    else if (call.file === 'ipvsadm' && call.args[0] === '-Ln') return { stdout: this.list(call.args.slice(1).join(' ')) };
    else if (call.file === 'ipset' && call.args[0] === 'restore') for (const line of lines) this.ipset(line.split(' '));
    else if (call.file === 'ipset' && call.args[0] === 'save') return { stdout: [...this.sets].flatMap(([name, members]) => [`create ${name} hash:ip`, ...[...members].map((m) => `add ${name} ${m}`)]).join('\n') };
    else if (call.file === 'ip' && call.args[0] === '-batch') for (const line of lines) this.address(line.split(' '));
    else if (call.file === 'ip' && call.args.includes('-j')) return { stdout: JSON.stringify([{ addr_info: [...this.addresses].map((local) => ({ family: 'inet', local })) }]) };
    return undefined;
  };

  private ipvs([verb, flag, service, ...rest]: string[]) {
    const id = `${flag} ${service}`;
    const real = rest[rest.indexOf('-r') + 1]!;
    const weight = Number(rest[rest.indexOf('-w') + 1]);
    if (verb === '-A' || verb === '-E') this.servers.set(id, { line: `${verb === '-E' ? '-A' : verb} ${id} ${rest.join(' ')}`, reals: this.servers.get(id)?.reals ?? new Map() });
    else if (verb === '-D') this.servers.delete(id);
    else if (verb === '-a' || verb === '-e') this.servers.get(id)!.reals.set(real, weight);
    else if (verb === '-d') this.servers.get(id)!.reals.delete(real);
  }

  private save(): string {
    return [...this.servers].flatMap(([id, { line, reals }]) => [line, ...[...reals].map(([real, weight]) => `-a ${id} -r ${real} -m -w ${weight}`)]).join('\n');
  }

  private list(id: string): string {
    const server = this.servers.get(id);
    if (!server) return '';
    return [`${id.startsWith('-u') ? 'UDP' : 'TCP'}  ${id.split(' ')[1]} rr`, ...[...server.reals].map(([real, weight]) => `  -> ${real} Masq ${weight} 0 0`)].join('\n');
  }

  private ipset([verb, name, member]: string[]) {
    if (verb === 'create') this.sets.set(name!, this.sets.get(name!) ?? new Set());
    else if (verb === 'add') this.sets.get(name!)!.add(member!);
    else if (verb === 'del') this.sets.get(name!)!.delete(member!);
  }

  private address([, verb, cidr]: string[]) {
    if (verb === 'add') this.addresses.add(cidr!.split('/')[0]!);
    else this.addresses.delete(cidr!.split('/')[0]!);
  }
}

describe('IpvsExecutor partial syncs, over random rounds of changes', () => {
  it('leave the kernel as a cold plan of the last snapshot, draining reals aside, and the ledger agrees with a read-back', async () => {
    const kernel = new KernelState();
    const runner = new FakeRunner(kernel.respond);
    const executor = new IpvsExecutor({ runner, family: 4, iptablesVariant: 'nft', standby: true });
    const memo = createIpvsPlanMemo();
    let partials = 0;
    let last: IpvsPlan | undefined;
    for (const snapshot of rounds(11, 40)) {
      last = planIpvs(snapshot, OPTIONS, memo);
      const before = runner.calls.length;
      await executor.apply(last);
      // After the first: no read-back of the whole table on the partial path.
      if (partials++ > 0) expect(runner.calls.slice(before).filter((c) => c.file === 'ipvsadm-save' || (c.file === 'ipset' && c.args[0] === 'save'))).toEqual([]);
      // Connections are all gone (the fake lists none): drained reals go, as the sync loop has them go.
      await executor.deleteDrainedReals();
      // lostState reads everything back and diffs it with the ledger; the iptables tools answer empty here.
      expect((await executor.lostState()).filter((what) => !/^(jump|chain) /.test(what))).toEqual([]);
    }
    const read = await executor.virtualServers();
    expect(ipvsChanges(read, last!.virtualServers)).toEqual([]);
    expect([...kernel.addresses].sort()).toEqual([...last!.addresses]);
    for (const set of last!.ipsets.filter((s) => s.entries.length > 0)) expect([...kernel.sets.get(set.name)!].sort()).toEqual([...set.entries].sort());
    await executor.close();
  });
});
