import { KUBE_NODEPORTS } from './chain-names.js';
import { ruleText, type Rule } from './rule-plan.js';

/**
 * The node ports of the tree layout. kube-proxy lists every node port in KUBE-NODEPORTS, so a connection to the
 * last of 3,000 walks 3,000 rules. Here KUBE-NODEPORTS is the root of a tree over the port number, with fixed
 * boundaries: 4,096 ports per root rule, 256 per branch rule, 16 per twig rule, and a leaf holds the node ports
 * of its 16 (one rule each). Any connection walks at most 16 rules a level, and a change rewrites one leaf, plus
 * the few chains above it when a leaf appears or empties. Every level goes (-g) to the next: no nesting is spent.
 */
export const NODEPORT_TREE_PREFIX = `${KUBE_NODEPORTS}-`;

const hex = (n: number) => n.toString(16).toUpperCase();

/** The leaf of a node port (`proto:port`): `proto:group`, where the group is the port's 16-port block. */
export function nodePortLeaf(nodePort: string): string {
  const [proto, port] = nodePort.split(':') as [string, string];
  return `${proto}:${Number(port) >> 4}`;
}

/** The chain of a leaf or of a level above it: KUBE-NODEPORTS-TCP-<1 to 3 hex digits of the group>. */
function chainOf(proto: string, group: number, digits: 1 | 2 | 3): string {
  return `${NODEPORT_TREE_PREFIX}${proto.toUpperCase()}-${hex(group >> (4 * (3 - digits))).padStart(digits, '0')}`;
}

export function nodePortLeafChain(leaf: string): string {
  const [proto, group] = leaf.split(':') as [string, string];
  return chainOf(proto, Number(group), 3);
}

/**
 * KUBE-NODEPORTS and the tree under it for the leaves that have rules: root first, then branches, twigs and
 * leaves. Only the upper levels depend on which leaves exist; a leaf's rules are its node ports' rules.
 */
export function nodePortTree(leaves: ReadonlyMap<string, readonly Rule[]>): (readonly [string, readonly Rule[]])[] {
  const levels = new Map<string, Rule[]>([[KUBE_NODEPORTS, []]]);
  const leafChains: [string, readonly Rule[]][] = [];
  const sorted = [...leaves].map(([leaf, rules]) => {
    const [proto, group] = leaf.split(':') as [string, string];
    return { proto, group: Number(group), rules };
  });
  sorted.sort((a, b) => (a.proto === b.proto ? a.group - b.group : a.proto < b.proto ? -1 : 1));
  const link = (from: string, proto: string, first: number, last: number, to: string) => {
    let rules = levels.get(from);
    if (!rules) levels.set(from, (rules = []));
    const rule = ruleText(['-p', proto, '-m', proto, '--dport', `${first}:${last}`, '-g', to]);
    if (rules[rules.length - 1] !== rule) rules.push(rule);
  };
  for (const { proto, group, rules } of sorted) {
    const branch = chainOf(proto, group, 1);
    const twig = chainOf(proto, group, 2);
    const leaf = chainOf(proto, group, 3);
    const port = group << 4;
    const [, first, last] = rootBlock(proto, group);
    link(KUBE_NODEPORTS, proto, first, last, branch);
    link(branch, proto, port & ~0xff, port | 0xff, twig);
    link(twig, proto, port, port | 0xf, leaf);
    leafChains.push([leaf, rules]);
  }
  return [...levels, ...leafChains];
}

/** A root block of the tree: a protocol and the 4,096 ports one root rule covers. */
export type NodePortBlock = readonly [proto: string, first: number, last: number];

/** The root blocks that hold node ports, in the root's order. */
export function nodePortBlocks(leaves: Iterable<string>): NodePortBlock[] {
  const blocks = new Map<string, NodePortBlock>();
  for (const leaf of leaves) {
    const [proto, group] = leaf.split(':') as [string, string];
    const block = rootBlock(proto, Number(group));
    blocks.set(`${proto}:${block[1]}`, block);
  }
  return [...blocks.values()].sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
}

/** The root block a leaf's group (a 16-port block) falls in: the range of its KUBE-NODEPORTS rule. */
function rootBlock(proto: string, group: number): NodePortBlock {
  const first = (group << 4) & ~0xfff;
  return [proto, first, first | 0xfff];
}
