import { runChecked, type CommandRunner } from '@hybrid-proxy/exec';
import { cidrContains, type IPFamily, type Snapshot } from '@hybrid-proxy/model';

/**
 * kube-proxy's --nodeport-addresses, resolved for one family: `all` (the default, and when `all` is given), or
 * the node's addresses that the list selects: `primary` for the node's own IPs (its Node object, else
 * --bind-address), `localhost` for loopback, a CIDR for every local address inside it. Pure.
 */
export function resolveNodePortAddresses(spec: readonly string[], family: IPFamily, local: readonly string[], primary: readonly string[]): 'all' | string[] {
  if (spec.length === 0 || spec.includes('all')) return 'all';
  const v6 = family === 6;
  const picked = new Set<string>();
  for (const item of spec) {
    if (item === 'primary') for (const ip of primary) picked.add(ip);
    else if (item === 'localhost') picked.add(v6 ? '::1' : '127.0.0.1');
    else for (const ip of local) if (cidrContains(item, ip)) picked.add(ip);
  }
  return [...picked].filter((ip) => ip.includes(':') === v6).sort();
}

/** Whether resolving the list needs this node's interface addresses. */
export const needsLocalAddresses = (spec: readonly string[]): boolean => spec.some((item) => item.includes('/'));

/** Every address on this node's interfaces (`ip -j addr`), as node ports see them; `skipLink`'s are left out. */
export async function localAddresses(runner: CommandRunner, skipLink?: string): Promise<string[]> {
  const { stdout } = await runChecked(runner, 'ip', ['-j', 'addr', 'show']);
  const links = JSON.parse(stdout) as { ifname?: string; addr_info?: { local?: string }[] }[];
  return [...new Set(links.filter((link) => link.ifname !== skipLink).flatMap((link) => (link.addr_info ?? []).flatMap((info) => (info.local ? [info.local] : []))))];
}

/**
 * The node addresses that IPVS serves node ports on: the resolved --nodeport-addresses (every local address for
 * `all`), without loopback and IPv6 link-local addresses, as kube-proxy's IPVS mode. Pure.
 */
export function ipvsNodePortAddresses(resolved: 'all' | readonly string[], local: readonly string[], family: IPFamily): string[] {
  const usable = (ip: string) => ip.includes(':') === (family === 6) && !/^127\./.test(ip) && ip !== '::1' && !/^fe[89ab][0-9a-f]:/i.test(ip);
  return (resolved === 'all' ? local : resolved).filter(usable).sort();
}

/** The node's primary IPs: its Node object's addresses, else --bind-address. */
export function primaryAddresses(snapshot: Snapshot, bindAddress: string | undefined): readonly string[] {
  const fromNode = snapshot.node?.addresses ?? [];
  return fromNode.length > 0 ? fromNode : bindAddress && bindAddress !== '0.0.0.0' && bindAddress !== '::' ? [bindAddress] : [];
}
