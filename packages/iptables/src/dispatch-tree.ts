import type { IPFamily } from '@hybrid-proxy/model';
import { groupedIpset, type IpsetPlan } from './ipset-text.js';
import { ruleText, type Rule } from './rule-plan.js';

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

/** The leaf chain of one last byte: KUBE-DISPATCH-<low nibble><high nibble>. */
export function leafChainName(byte: number): string {
  return `${DISPATCH_ROOT}-${hex(byte & 0x0f)}${hex(byte >> 4)}`;
}

/**
 * Root, branch and leaf chains, root first, for the leaves that have rules (by last byte). Only the root and the
 * branches depend on which leaves exist; a leaf's rules are its Service ports' dispatch rules.
 */
export function treeChains(leaves: ReadonlyMap<number, readonly Rule[]>, family: IPFamily): (readonly [string, readonly Rule[]])[] {
  const root: Rule[] = [];
  const branches: [string, Rule[]][] = [];
  const leafChains: [string, readonly Rule[]][] = [];
  for (let low = 0; low < 16; low++) {
    const branchName = `${DISPATCH_ROOT}-${hex(low)}`;
    const branch: Rule[] = [];
    for (let high = 0; high < 16; high++) {
      const byte = (high << 4) | low;
      const rules = leaves.get(byte);
      if (!rules) continue;
      branch.push(ruleText(['-d', nibbleMatch(family, high, true), '-g', leafChainName(byte)]));
      leafChains.push([leafChainName(byte), rules]);
    }
    if (branch.length === 0) continue;
    root.push(ruleText(['-d', nibbleMatch(family, low, false), '-g', branchName]));
    branches.push([branchName, branch]);
  }
  return [[DISPATCH_ROOT, root], ...branches, ...leafChains];
}

/** The head of nat KUBE-SERVICES: traffic to any VIP,proto:port in the gate set goes into the tree. */
export function gateRules(family: IPFamily, comments: boolean): Rule[] {
  const comment = comments ? ['-m', 'comment', '--comment', 'kubernetes service portals: dispatch by destination'] : [];
  return [ruleText(['-m', 'set', '--match-set', gateSetName(family), 'dst,dst', ...comment, '-j', DISPATCH_ROOT])];
}

/** The gate set, its members by Service port. */
export function gateIpset(family: IPFamily, members: ReadonlyMap<string, readonly string[]>): IpsetPlan {
  return groupedIpset(
    gateSetName(family),
    `hash:ip,port family ${family === 4 ? 'inet' : 'inet6'} hashsize 4096 maxelem 1048576`,
    'every ClusterIP,protocol:port with endpoints: the gate of KUBE-SERVICES',
    members,
  );
}
