import type { SavedTable } from './save-parser.js';

/** kube-proxy's fixed chains (iptables and IPVS modes), by table. kubelet's KUBE-FIREWALL and canaries are not here. */
const KUBE_PROXY_CHAINS: Readonly<Record<string, readonly string[]>> = {
  nat: ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-PROXY-CANARY', 'KUBE-LOAD-BALANCER', 'KUBE-NODE-PORT', 'KUBE-LOOP-BACK'],
  filter: ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL', 'KUBE-PROXY-CANARY', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER'],
  mangle: ['KUBE-PROXY-CANARY'],
};
/** kube-proxy's per-Service and per-endpoint chains (KUBE-XLB- is the name before v1.24). */
const KUBE_PROXY_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-', 'KUBE-XLB-'];
const BUILTIN = /^(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)$/;

export function isKubeProxyChain(table: string, chain: string): boolean {
  return (KUBE_PROXY_CHAINS[table] ?? []).includes(chain) || KUBE_PROXY_PREFIXES.some((prefix) => chain.startsWith(prefix));
}

/**
 * What `hybrid-proxy cleanup --kube-proxy-leftovers` removes of a node that kube-proxy ran on, as iptables-restore
 * --noflush input: the jumps from the built-in chains into kube-proxy's chains (whatever their comments say), then
 * the chains, flushed and deleted in the same commit. Other chains and rules are left alone.
 */
export function kubeProxyLeftovers(saved: ReadonlyMap<string, SavedTable>): string {
  const out: string[] = [];
  for (const [table, { chains }] of saved) {
    const leftovers = [...chains.keys()].filter((chain) => isKubeProxyChain(table, chain));
    if (leftovers.length === 0) continue;
    const gone = new Set(leftovers);
    out.push(`*${table}`);
    for (const [chain, rules] of chains) {
      if (!BUILTIN.test(chain)) continue;
      for (const rule of rules) if (gone.has(/(?:^| )-j (\S+)/.exec(rule)?.[1] ?? '')) out.push(`-D ${chain} ${rule}`);
    }
    for (const chain of leftovers) out.push(`:${chain} - [0:0]`);
    for (const chain of leftovers) out.push(`-X ${chain}`);
    out.push('COMMIT');
  }
  return out.length ? out.join('\n') + '\n' : '';
}
