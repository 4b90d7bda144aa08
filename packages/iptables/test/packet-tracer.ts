import { parseSave } from '@hybrid-proxy/iptables';

/**
 * Follows a new connection through planned (or saved) rules, as the kernel would, and returns where it ends:
 * each DNAT destination with its probability, plus whether it is masqueraded, or the filter verdict.
 * It understands the matches hybrid-proxy writes; an unknown match throws, so the tracer cannot silently lie.
 */
export interface Packet {
  readonly source: string;
  readonly destination: string;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly port: number;
  /** The interface the packet came in on (for `-i`); undefined: one no rule names. */
  readonly inInterface?: string;
  /** The destination is an address of the node (`-m addrtype --dst-type LOCAL`): a node port, or a local LB IP. */
  readonly dstLocal?: boolean;
  /** The source is an address of the node (`--src-type LOCAL`): the node itself connects. */
  readonly srcLocal?: boolean;
}

export interface Trace {
  /** `ip:port` → probability (sums to 1 when the packet is DNATed). */
  readonly dnat: Map<string, number>;
  /** Probability that KUBE-MARK-MASQ was reached on the way. */
  readonly masquerade: number;
  /** REJECT / DROP from the filter table, or undefined when nothing there matches. */
  readonly filterVerdict: string | undefined;
}

function tokenize(rule: string): string[] {
  const tokens: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) tokens.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return tokens;
}

function ipToBigInt(ip: string): bigint {
  if (!ip.includes(':')) return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n);
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** `net/bits`, or `net/mask` with a mask in address form, which may be non-contiguous (`0.0.0.5/0.0.0.15`). */
export function inCIDR(ip: string, cidr: string): boolean {
  const [net, maskText] = cidr.split('/');
  const v6 = ip.includes(':');
  if (v6 !== net!.includes(':')) return false;
  const width = v6 ? 128n : 32n;
  let mask: bigint;
  if (maskText !== undefined && /[.:]/.test(maskText)) mask = ipToBigInt(maskText);
  else {
    const bits = BigInt(maskText ?? width);
    mask = bits === 0n ? 0n : ((1n << bits) - 1n) << (width - bits);
  }
  return (ipToBigInt(ip) & mask) === (ipToBigInt(net!) & mask);
}

/** iptables' interface match: `name`, or `prefix+` for every name that starts with the prefix. */
function interfaceMatches(name: string | undefined, pattern: string): boolean {
  if (name === undefined) return false;
  return pattern.endsWith('+') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

interface Matched {
  matches: boolean;
  probability: number;
  target: string | undefined;
  goto: boolean;
  args: string[];
}

/** `dnatted`: the connection's destination was rewritten (conntrack's virtual DNAT state, as seen after PREROUTING). */
function evaluate(tokens: string[], packet: Packet, sets: ReadonlyMap<string, ReadonlySet<string>>, dnatted = false): Matched {
  let matches = true;
  let probability = 1;
  let negate = false;
  let target: string | undefined;
  let goto = false;
  const args: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const check = (ok: boolean) => {
      if (ok === negate) matches = false;
      negate = false;
    };
    switch (t) {
      case '!': negate = true; break;
      case '-s': check(inCIDR(packet.source, tokens[++i]!)); break;
      case '-d': check(inCIDR(packet.destination, tokens[++i]!)); break;
      case '-i': check(interfaceMatches(packet.inInterface, tokens[++i]!)); break;
      case '-p': check(tokens[++i] === packet.protocol); break;
      case '--dport': {
        const [first, last = first] = tokens[++i]!.split(':').map(Number) as [number, number?];
        check(packet.port >= first && packet.port <= last!);
        break;
      }
      case '-m': {
        const module = tokens[++i]!;
        if (module === 'comment') i += 2;
        else if (module === 'statistic') {
          if (tokens[i + 1] !== '--mode' || tokens[i + 2] !== 'random' || tokens[i + 3] !== '--probability') throw new Error(`unsupported statistic match in ${tokens.join(' ')}`);
          probability = Number(tokens[i + 4]);
          i += 4;
        } else if (module === 'recent') {
          // A first connection has no affinity entry: --rcheck does not match, --set always does.
          const rest = tokens.slice(i + 1, tokens.indexOf('-j'));
          if (rest.includes('--rcheck')) matches = false;
          i += rest.length;
        } else if (module === 'addrtype') {
          if (tokens[i + 1] === '!') {
            negate = true;
            i++;
          }
          const [kind, type] = [tokens[i + 1], tokens[i + 2]];
          if ((kind !== '--dst-type' && kind !== '--src-type') || type !== 'LOCAL') throw new Error(`unsupported addrtype match in ${tokens.join(' ')}`);
          i += 2;
          check(kind === '--dst-type' ? packet.dstLocal === true : packet.srcLocal === true);
        } else if (module === 'conntrack') {
          if (tokens[i + 1] === '!') {
            negate = true;
            i++;
          }
          if (tokens[i + 1] !== '--ctstate') throw new Error(`unsupported conntrack match in ${tokens.join(' ')}`);
          const state = tokens[i + 2]!;
          i += 2;
          // A new connection is NEW, and DNAT once a DNAT rule has rewritten it.
          check(state.split(',').some((s) => s === 'NEW' || (s === 'DNAT' && dnatted)));
        } else if (module === 'set') {
          const flags = tokens[i + 3];
          if (tokens[i + 1] !== '--match-set' || (flags !== 'dst,dst' && flags !== 'dst,dst,src')) throw new Error(`unsupported set match in ${tokens.join(' ')}`);
          const set = sets.get(tokens[i + 2]!);
          if (!set) throw new Error(`set ${tokens[i + 2]} is not in the plan`);
          i += 3;
          const member = `${packet.destination},${packet.protocol}:${packet.port}`;
          check(set.has(flags === 'dst,dst' ? member : `${member},${packet.source}`));
        } else if (module === 'mark') {
          if (tokens[i + 1] === '!') {
            negate = true;
            i++;
          }
          i += 2; // a new connection carries no mark yet
          check(false);
        } else if (!['tcp', 'udp', 'sctp'].includes(module)) throw new Error(`unsupported match module ${module}`);
        break;
      }
      case '-j': case '-g':
        goto = t === '-g';
        target = tokens[++i];
        args.push(...tokens.slice(i + 1));
        i = tokens.length;
        break;
      default: throw new Error(`unsupported token ${t} in ${tokens.join(' ')}`);
    }
  }
  return { matches, probability, target, goto, args };
}

export class RuleTracer {
  private readonly tables: Map<string, Map<string, string[][]>>;
  /** Set members, from renderPlan's `# ipset add NAME MEMBER` lines. */
  private readonly sets = new Map<string, Set<string>>();

  constructor(restoreText: string) {
    this.tables = new Map([...parseSave(restoreText)].map(([name, table]) => [name, new Map([...table.chains].map(([chain, rules]) => [chain, rules.map(tokenize)]))]));
    for (const line of restoreText.split('\n')) {
      const [, verb, name, member] = /^# ipset (create|add) (\S+) ?(\S*)/.exec(line) ?? [];
      if (!verb || !name) continue;
      if (!this.sets.has(name)) this.sets.set(name, new Set());
      if (verb === 'add') this.sets.get(name)!.add(member!);
    }
  }

  chains(table: string): string[] {
    return [...(this.tables.get(table)?.keys() ?? [])];
  }

  /** Every rule's jump target that is neither a built-in verdict nor a defined chain (kube-proxy's checkIPTablesRuleJumps). */
  undefinedJumps(): string[] {
    const builtin = new Set(['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'DNAT', 'SNAT', 'MASQUERADE', 'MARK']);
    const missing: string[] = [];
    for (const [name, chains] of this.tables) {
      for (const rules of chains.values()) {
        for (const rule of rules) {
          const j = rule.findIndex((t) => t === '-j' || t === '-g');
          if (j < 0) continue; // a rule without a target only counts
          const target = rule[j + 1]!;
          if (!builtin.has(target) && !chains.has(target)) missing.push(`${name}:${target}`);
        }
      }
    }
    return missing;
  }

  trace(packet: Packet): Trace {
    const dnat = new Map<string, number>();
    let masquerade = 0;
    const nat = this.tables.get('nat') ?? new Map();
    const walk = (chain: string, weight: number, depth: number): number => {
      // Returns the weight that falls through the end of the chain (back to the caller).
      if (depth > 16) throw new Error('jump depth over 16');
      let remaining = weight;
      // Weight that a goto target let fall through: it returns to this chain's caller, not to this chain.
      let returned = 0;
      for (const tokens of nat.get(chain) ?? []) {
        if (remaining <= 0) break;
        const m = evaluate(tokens, packet, this.sets);
        if (!m.matches) continue;
        const taken = remaining * m.probability;
        remaining -= taken;
        if (m.target === 'KUBE-MARK-MASQ') {
          masquerade += taken;
          remaining += taken; // marking does not terminate
        } else if (m.target === 'DNAT') {
          const to = m.args[m.args.indexOf('--to-destination') + 1]!;
          dnat.set(to, (dnat.get(to) ?? 0) + taken);
        } else if (m.target === 'RETURN') {
          return remaining + taken;
        } else if (m.target && nat.has(m.target)) {
          // A jump nests (nft allows 16 levels); a goto replaces this chain on the stack.
          const back = walk(m.target, taken, m.goto ? depth : depth + 1);
          if (m.goto) returned += back;
          else remaining += back;
        } else if (m.target === undefined || m.target === 'MARK' || m.target === 'MASQUERADE') {
          remaining += taken; // a rule without a target only counts
        }
      }
      return remaining + returned;
    };
    const unmatched = walk('KUBE-SERVICES', 1, 0);
    // The filter table runs after nat PREROUTING/OUTPUT: it sees each DNATed packet with its new destination.
    const seen: Packet[] = [...dnat.keys()].map((to) => {
      const [, ip, port] = /^\[?([^\]]+?)\]?:(\d+)$/.exec(to)!;
      return { ...packet, destination: ip!, port: Number(port), dstLocal: false };
    });
    if (unmatched > 1e-9) seen.push(packet);
    // nat POSTROUTING sees the DNATed packet: the hairpin set (inline endpoints) marks a Pod reaching itself.
    const postrouting = (p: Packet, dnatted: boolean, weight: number) => {
      const first = (nat.get('KUBE-POSTROUTING') ?? []).map((tokens: string[]) => evaluate(tokens, p, this.sets, dnatted)).find((m: Matched) => m.matches);
      if (first?.target === 'KUBE-MARK-MASQ') masquerade += weight;
    };
    dnat.forEach((weight, to) => {
      const [, ip, port] = /^\[?([^\]]+?)\]?:(\d+)$/.exec(to)!;
      postrouting({ ...packet, destination: ip!, port: Number(port) }, true, weight);
    });
    if (unmatched > 1e-9) postrouting(packet, false, unmatched);
    masquerade = Math.min(masquerade, 1);
    // The filter chains a new connection passes, in the order of the jumps from INPUT and FORWARD: the first
    // rule that matches decides (a DNATed connection is checked on its new destination).
    let filterVerdict: string | undefined;
    const filter = this.tables.get('filter');
    for (const p of seen) {
      for (const chain of ['KUBE-PROXY-FIREWALL', 'KUBE-EXTERNAL-SERVICES', 'KUBE-SERVICES']) {
        const m = (filter?.get(chain) ?? []).map((tokens) => evaluate(tokens, p, this.sets)).find((r) => r.matches);
        if (m) {
          filterVerdict ??= m.target;
          break;
        }
      }
    }
    return { dnat, masquerade, filterVerdict };
  }
}
