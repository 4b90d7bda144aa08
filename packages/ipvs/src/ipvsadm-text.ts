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

/** The virtual server a line of `ipvsadm-save -n` names, without its reals. */
export type SavedService = Omit<VirtualServer, 'reals' | 'service'>;

/**
 * Visits each virtual server of `ipvsadm-save -n` (real undefined) and each of its real servers, line by line,
 * keeping nothing: for a reader that needs no object per server (lostState's digest at 110k lines).
 */
export function forEachSaved(text: string, visit: (vs: SavedService, real?: RealServer) => void): void {
  // Line by line without split('\n'): an array of 110k lines would live through the whole loop, survive
  // scavenges and be promoted to the old generation; each line here is garbage as soon as it is read.
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const tokens = line.trim().split(/\s+/);
    const verb = tokens[0];
    if (verb !== '-A' && verb !== '-a') continue;
    const protocol = FLAG_PROTOCOL[tokens[1]!];
    if (!protocol) continue;
    const [address, port] = splitHostPort(tokens[2]!);
    const flag = (name: string) => tokens[tokens.indexOf(name) + 1];
    if (verb === '-A') {
      const persistence = tokens.includes('-p') ? Number(flag('-p')) : 0;
      visit({ protocol, address, port, scheduler: (flag('-s') ?? 'wlc') as VirtualServer['scheduler'], persistence });
    } else {
      const [realAddress, realPort] = splitHostPort(flag('-r')!);
      // A real's line names its virtual server by address only; its scheduler is the -A line's, not read here.
      visit({ protocol, address, port, scheduler: 'rr', persistence: 0 }, { address: realAddress, port: realPort, weight: Number(flag('-w') ?? 1) });
    }
  }
}

/** Parses `ipvsadm-save -n` into virtual servers (the kernel's current state). */
export function parseIpvsadmSave(text: string): VirtualServer[] {
  const servers = new Map<string, VirtualServer & { reals: RealServer[] }>();
  forEachSaved(text, (vs, real) => {
    const id = virtualServerId(vs);
    if (!real) servers.set(id, { ...vs, reals: [], service: '' });
    else servers.get(id)?.reals.push(real);
  });
  return [...servers.values()];
}

/** One change to IPVS, as a line of `ipvsadm -R` input. */
export type IpvsOperation =
  | { readonly op: 'add-service' | 'edit-service' | 'delete-service'; readonly vs: VirtualServer }
  | { readonly op: 'add-real' | 'edit-real' | 'delete-real'; readonly vs: VirtualServer; readonly real: RealServer };

/** `ipvsadm -R` input for one operation. */
export function operationLine(operation: IpvsOperation): string {
  switch (operation.op) {
    case 'add-service':
      return virtualServerLine(operation.vs);
    case 'edit-service':
      return virtualServerLine(operation.vs, '-E');
    case 'delete-service':
      return `-D ${service(operation.vs)}`;
    case 'add-real':
      return realServerLine(operation.vs, operation.real);
    case 'edit-real':
      return realServerLine(operation.vs, operation.real, '-e');
    case 'delete-real':
      return `-d ${service(operation.vs)} -r ${hostPort(operation.real.address, operation.real.port)}`;
  }
}

const realKey = (real: RealServer) => hostPort(real.address, real.port);

/**
 * What moves the kernel from `current` to `desired`, touching only what differs. Additions come first (new virtual
 * servers with their reals, edits, new reals and weights), then removals (reals, then virtual servers): a Service
 * whose endpoints are replaced has its new reals before it loses the old ones, and is never left without one.
 */
export function ipvsOperations(current: readonly VirtualServer[], desired: readonly VirtualServer[]): IpvsOperation[] {
  const before = new Map(current.map((vs) => [virtualServerId(vs), vs]));
  const additions: IpvsOperation[] = [];
  const removals: IpvsOperation[] = [];
  const kept = new Set<string>();
  for (const vs of desired) {
    const id = virtualServerId(vs);
    kept.add(id);
    const old = before.get(id);
    if (!old) {
      additions.push({ op: 'add-service', vs });
      for (const real of vs.reals) additions.push({ op: 'add-real', vs, real });
      continue;
    }
    if (old.scheduler !== vs.scheduler || old.persistence !== vs.persistence) additions.push({ op: 'edit-service', vs });
    const oldReals = new Map(old.reals.map((r) => [realKey(r), r]));
    const newKeys = new Set<string>();
    for (const real of vs.reals) {
      const key = realKey(real);
      newKeys.add(key);
      const was = oldReals.get(key);
      if (!was) additions.push({ op: 'add-real', vs, real });
      else if (was.weight !== real.weight) additions.push({ op: 'edit-real', vs, real });
    }
    for (const [key, real] of oldReals) if (!newKeys.has(key)) removals.push({ op: 'delete-real', vs, real });
  }
  for (const [id, vs] of before) if (!kept.has(id)) removals.push({ op: 'delete-service', vs });
  return [...additions, ...removals];
}

/** The `ipvsadm -R` lines that move the kernel from `current` to `desired` (ipvsOperations, as text). */
export function ipvsChanges(current: readonly VirtualServer[], desired: readonly VirtualServer[]): string[] {
  return ipvsOperations(current, desired).map(operationLine);
}

/** `-t 198.19.0.10:80`: the options that select one virtual server, for `ipvsadm -L`. */
export const serviceArgs = (vs: Pick<VirtualServer, 'protocol' | 'address' | 'port'>): string[] => [PROTOCOL_FLAG[vs.protocol], hostPort(vs.address, vs.port)];

/** A real server as `ipvsadm -Ln` lists it: with its connection counts. */
export interface ListedReal extends RealServer {
  readonly activeConnections: number;
  readonly inactiveConnections: number;
}

const LISTED_PROTOCOL: Record<string, VirtualServer['protocol']> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** Parses `ipvsadm -Ln [service]`: each virtual server's id and its reals with weights and connection counts. */
export function parseIpvsadmList(text: string): { readonly id: string; readonly reals: readonly ListedReal[] }[] {
  const servers: { id: string; reals: ListedReal[] }[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    const protocol = LISTED_PROTOCOL[tokens[0]!];
    if (protocol && tokens[1]) {
      const [address, port] = splitHostPort(tokens[1]);
      servers.push({ id: virtualServerId({ protocol, address, port }), reals: [] });
    } else if (tokens[0] === '->' && /^\[?[\da-f.:]+\]?:\d+$/i.test(tokens[1] ?? '') && servers.length > 0) {
      const [address, port] = splitHostPort(tokens[1]!);
      const [weight, active, inactive] = tokens.slice(3, 6).map(Number);
      servers.at(-1)!.reals.push({ address, port, weight: weight!, activeConnections: active!, inactiveConnections: inactive! });
    }
  }
  return servers;
}
