/** Which Debian package provides each tool hybrid-proxy runs, for the error a user sees when it is missing. */
const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  'iptables': 'iptables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  'iptables-nft': 'iptables',
  'iptables-nft-save': 'iptables',
  'iptables-nft-restore': 'iptables',
  'iptables-legacy': 'iptables',
  'iptables-legacy-save': 'iptables',
  'iptables-legacy-restore': 'iptables',
  'ip6tables': 'iptables',
  'ip6tables-save': 'iptables',
  'ip6tables-restore': 'iptables',
  'ip6tables-nft': 'iptables',
  'ip6tables-nft-save': 'iptables',
  'ip6tables-nft-restore': 'iptables',
  'ip6tables-legacy': 'iptables',
  'ip6tables-legacy-save': 'iptables',
  'ip6tables-legacy-restore': 'iptables',
  'ipset': 'ipset',
  'ipvsadm': 'ipvsadm',
  'ip': 'iproute2',
  'tc': 'iproute2',
  'bpftool': 'bpftool',
  'conntrack': 'conntrack',
  'sysctl': 'procps',
};

export class ToolMissingError extends Error {
  constructor(readonly tool: string) {
    const pkg = DEBIAN_PACKAGES[tool];
    super(`${tool} was not found on PATH.${pkg ? ` Install it with: apt-get install ${pkg}` : ''}`);
    this.name = 'ToolMissingError';
  }
}
