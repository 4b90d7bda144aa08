import type { IPFamily } from '@hybrid-proxy/model';

export type IptablesVariant = 'nft' | 'legacy' | 'default';

export interface IptablesTools {
  readonly variant: IptablesVariant;
  readonly iptables: string;
  readonly save: string;
  readonly restore: string;
}

/** The binaries of one variant and family: `ip6tables-nft-restore`, `iptables-legacy-save`, ... */
export function iptablesTools(family: IPFamily, variant: IptablesVariant): IptablesTools {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  const suffix = variant === 'default' ? '' : `-${variant}`;
  return { variant, iptables: base + suffix, save: `${base}${suffix}-save`, restore: `${base}${suffix}-restore` };
}
