import type { IPFamily, Snapshot } from '@hybrid-proxy/model';

/** The protocols whose conntrack entries outlive their endpoint: no FIN ends them. */
export type ReconciledProtocol = 'udp' | 'sctp';
export const RECONCILED_PROTOCOLS: readonly ReconciledProtocol[] = ['udp', 'sctp'];

/** One entry of `conntrack -L`: the original tuple, and where the reply comes from (the DNAT target). */
export interface ConntrackEntry {
  readonly protocol: ReconciledProtocol;
  readonly family: IPFamily;
  readonly origSrc: string;
  readonly origDst: string;
  readonly origSport: number;
  readonly origDport: number;
  readonly replySrc: string;
  readonly replySport: number;
}

const TUPLE = /src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/g;

/** `conntrack -L -p udp|sctp` lines; lines of other protocols or without both tuples are skipped. */
export function parseConntrackList(text: string, family: IPFamily): ConntrackEntry[] {
  const entries: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const protocol = /^(udp|sctp)\s/.exec(line)?.[1] as ReconciledProtocol | undefined;
    if (!protocol) continue;
    const [orig, reply] = [...line.matchAll(TUPLE)];
    if (!orig || !reply) continue;
    entries.push({ protocol, family, origSrc: orig[1]!, origDst: orig[2]!, origSport: Number(orig[3]), origDport: Number(orig[4]), replySrc: reply[1]!, replySport: Number(reply[3]) });
  }
  return entries;
}

/**
 * kube-proxy's conntrack reconciler, against the kernel's table rather than the proxy's memory: an entry to a
 * Service IP and port (cluster, external or load balancer IP) whose reply does not come from one of that port's
 * serving endpoints would keep a client's datagrams going to a backend that is gone, or to none. Those entries
 * are stale, whenever they were made: before a restart, or while the proxy was down.
 */
export function staleConntrackEntries(snapshot: Snapshot, entries: readonly ConntrackEntry[]): ConntrackEntry[] {
  const valid = new Map<string, Set<string>>();
  for (const { service, endpoints } of snapshot.entries.values()) {
    const protocol = service.protocol.toLowerCase();
    if (protocol !== 'udp' && protocol !== 'sctp') continue;
    const targets = new Set(endpoints.filter((e) => e.ready || e.serving).map((e) => `${e.ip}|${e.port}`));
    for (const ip of [...service.clusterIPs, ...service.externalIPs, ...service.loadBalancerIPs]) valid.set(`${protocol}|${ip}|${service.port}`, targets);
  }
  return entries.filter((entry) => {
    const targets = valid.get(`${entry.protocol}|${entry.origDst}|${entry.origDport}`);
    return targets !== undefined && !targets.has(`${entry.replySrc}|${entry.replySport}`);
  });
}
