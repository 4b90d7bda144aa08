import type { IPFamily } from '@hybrid-proxy/model';
import { groupedIpset, type IpsetPlan } from './ipset-text.js';
import type { Rule } from './rule-plan.js';

/**
 * The gated, tree-dispatched KUBE-SERVICES. kube-proxy lists every Service in KUBE-SERVICES, so each new
 * connection walks up to one rule per Service (30 ns a rule on nft) and a one-Service change rewrites that chain.
 * Here KUBE-SERVICES holds one gate: an ipset of every VIP,proto:port jumps into a 16×16 tree that dispatches
 * on the low 8 bits of the destination with goto (nft allows only 16 nested jumps), into 256 leaves of about
 * n/256 Service rules each. Traffic that is not to a Service pays one set lookup, and a change rewrites one leaf.
 */
export const DISPATCH_ROOT = 'KUBE-DISPATCH';

/** The gate's ipset, one per family (a set holds one family). */
export function gateSetName(family: IPFamily): string {
  return family === 4 ? 'KUBE-SVC-GATE' : 'KUBE-6-SVC-GATE';
}

/** The hairpin set of inline endpoints (see masqueradeChains), one per family. */
export function hairpinSetName(family: IPFamily): string {
  return family === 4 ? 'KUBE-SVC-HAIRPIN' : 'KUBE-6-SVC-HAIRPIN';
}

/** A Service port as the dispatch sees it: its VIP, its gate member and its KUBE-SERVICES rules. */
export interface DispatchedService {
  readonly vip: string;
  /** Its gate set members (`VIP,proto:port`), one array per Service port, kept while the port is unchanged. */
  readonly gate: readonly string[];
  /** Its rules for KUBE-SERVICES (linear) or its leaf (tree). */
  readonly natDispatch: readonly Rule[];
}

export interface DispatchTree {
  /** The rules at the head of nat KUBE-SERVICES (the gate). */
  readonly head: readonly Rule[];
  /** Root, branch and leaf chains, root first. */
  readonly chains: readonly (readonly [string, readonly Rule[]])[];
  readonly gate: IpsetPlan;
}

/** The last byte of an address: the tree's key. */
export function lastByte(ip: string): number {
  if (!ip.includes(':')) return Number(ip.slice(ip.lastIndexOf('.') + 1));
  const tail = ip.slice(ip.lastIndexOf(':') + 1);
  if (tail.includes('.')) return Number(tail.slice(tail.lastIndexOf('.') + 1)); // ::ffff:a.b.c.d
  return tail === '' ? 0 : parseInt(tail, 16) & 0xff;
}

const hex = (n: number) => n.toString(16).toUpperCase();

/** `-d` with a non-contiguous mask over the low nibble (level 1) or the high nibble (level 2) of the last byte. */
function nibbleMatch(family: IPFamily, value: number, high: boolean): string {
  const bits = high ? value << 4 : value;
  const mask = high ? 0xf0 : 0x0f;
  // Spelled as iptables-save prints them, so a read-back compares as text.
  if (family === 4) return `0.0.0.${bits}/0.0.0.${mask}`;
  return `::${bits === 0 ? '' : bits.toString(16)}/::${mask.toString(16)}`;
}

export function dispatchTree(services: ReadonlyMap<string, DispatchedService>, family: IPFamily, comments: boolean): DispatchTree {
  const leaves = new Map<number, Rule[]>();
  const members = new Map<string, readonly string[]>();
  for (const [owner, service] of services) {
    const byte = lastByte(service.vip);
    const leaf = leaves.get(byte);
    if (leaf) leaf.push(...service.natDispatch);
    else leaves.set(byte, [...service.natDispatch]);
    members.set(owner, service.gate);
  }
  const root: Rule[] = [];
  const branches: [string, Rule[]][] = [];
  const leafChains: [string, Rule[]][] = [];
  for (let low = 0; low < 16; low++) {
    const branchName = `${DISPATCH_ROOT}-${hex(low)}`;
    const branch: Rule[] = [];
    for (let high = 0; high < 16; high++) {
      const rules = leaves.get((high << 4) | low);
      if (!rules) continue;
      const leafName = `${branchName}${hex(high)}`;
      branch.push(['-d', nibbleMatch(family, high, true), '-g', leafName]);
      leafChains.push([leafName, rules]);
    }
    if (branch.length === 0) continue;
    root.push(['-d', nibbleMatch(family, low, false), '-g', branchName]);
    branches.push([branchName, branch]);
  }
  const name = gateSetName(family);
  const comment = comments ? ['-m', 'comment', '--comment', 'kubernetes service portals: dispatch by destination'] : [];
  return {
    head: [['-m', 'set', '--match-set', name, 'dst,dst', ...comment, '-j', DISPATCH_ROOT]],
    chains: [[DISPATCH_ROOT, root], ...branches, ...leafChains],
    gate: groupedIpset(
      name,
      `hash:ip,port family ${family === 4 ? 'inet' : 'inet6'} hashsize 4096 maxelem 1048576`,
      'every ClusterIP,protocol:port with endpoints: the gate of KUBE-SERVICES',
      members,
    ),
  };
}
