import { hostPort, virtualServerId, type RealServer, type VirtualServer } from './ipvs-plan.js';

const PROTOCOL_FLAG = { tcp: '-t', udp: '-u', sctp: '--sctp-service' } as const;
const FLAG_PROTOCOL: Record<string, VirtualServer['protocol']> = { '-t': 'tcp', '-u': 'udp', '--sctp-service': 'sctp' };

function service(vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>): string {
  return `${PROTOCOL_FLAG[vs.protocol]} ${hostPort(vs.address, vs.port)}`;
}

/** `-A -t 198.19.0.10:80 -s rr [-p 300]` (or -E to edit), as ipvsadm-save writes it. */
export function virtualServerLine(vs: VirtualServer, verb: '-A' | '-E' = '-A'): string {
  return `${verb} ${service(vs)} -s ${vs.scheduler}${vs.persistence > 0 ? ` -p ${vs.persistence}` : ''}`;
}

/** `-a -t 198.19.0.10:80 -r 198.18.1.11:8080 -m -w 1`: NAT (masquerading) forwarding. */
export function realServerLine(vs: VirtualServer, real: RealServer, verb: '-a' | '-e' = '-a'): string {
  return `${verb} ${service(vs)} -r ${hostPort(real.address, real.port)} -m -w ${real.weight}`;
}

function splitHostPort(text: string): [string, number] {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!match) throw new Error(`cannot read address ${text}`);
  return [match[1]!, Number(match[2])];
}

/** Parses `ipvsadm-save -n` into virtual servers (the kernel's current state). */
export function parseIpvsadmSave(text: string): VirtualServer[] {
  const servers = new Map<string, VirtualServer & { reals: RealServer[] }>();
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    const verb = tokens[0];
    if (verb !== '-A' && verb !== '-a') continue;
    const protocol = FLAG_PROTOCOL[tokens[1]!];
    if (!protocol) continue;
    const [address, port] = splitHostPort(tokens[2]!);
    const id = virtualServerId({ protocol, address, port });
    const flag = (name: string) => tokens[tokens.indexOf(name) + 1];
    if (verb === '-A') {
      const persistence = tokens.includes('-p') ? Number(flag('-p')) : 0;
      servers.set(id, { protocol, address, port, scheduler: (flag('-s') ?? 'wlc') as VirtualServer['scheduler'], persistence, reals: [], service: '' });
    } else {
      const [realAddress, realPort] = splitHostPort(flag('-r')!);
      servers.get(id)?.reals.push({ address: realAddress, port: realPort, weight: Number(flag('-w') ?? 1) });
    }
  }
  return [...servers.values()];
}

/** The `ipvsadm -R` commands that move the kernel from `current` to `desired`, touching only what differs. */
export function ipvsChanges(current: readonly VirtualServer[], desired: readonly VirtualServer[]): string[] {
  const before = new Map(current.map((vs) => [virtualServerId(vs), vs]));
  const after = new Map(desired.map((vs) => [virtualServerId(vs), vs]));
  const lines: string[] = [];
  for (const [id, vs] of before) if (!after.has(id)) lines.push(`-D ${service(vs)}`);
  for (const [id, vs] of after) {
    const old = before.get(id);
    if (!old) {
      lines.push(virtualServerLine(vs));
      for (const real of vs.reals) lines.push(realServerLine(vs, real));
      continue;
    }
    if (old.scheduler !== vs.scheduler || old.persistence !== vs.persistence) lines.push(virtualServerLine(vs, '-E'));
    const oldReals = new Map(old.reals.map((r) => [hostPort(r.address, r.port), r]));
    const newReals = new Map(vs.reals.map((r) => [hostPort(r.address, r.port), r]));
    for (const [key] of oldReals) if (!newReals.has(key)) lines.push(`-d ${service(vs)} -r ${key}`);
    for (const [key, real] of newReals) {
      const was = oldReals.get(key);
      if (!was) lines.push(realServerLine(vs, real));
      else if (was.weight !== real.weight) lines.push(realServerLine(vs, real, '-e'));
    }
  }
  return lines;
}
