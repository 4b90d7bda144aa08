#!/usr/bin/env bash
# Installs what hybrid-proxy's lab and tests need on a fresh Debian machine (run as root). Idempotent: when
# everything is present it only checks, in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=19)?1:0)')
if [ "$node_ok" != 1 ]; then
  echo "hybrid-proxy needs Node.js >= 20.19 (found $(node --version))" >&2
  exit 1
fi

# tool -> Debian package
declare -A packages=(
  [iptables-nft-restore]=iptables [iptables-legacy-restore]=iptables [ipset]=ipset [conntrack]=conntrack
  [ip]=iproute2 [tc]=iproute2 [sysctl]=procps [setpriv]=util-linux [curl]=curl
  [bpftool]=bpftool [clang]=clang [llvm-strip]=llvm [iperf3]=iperf3
  [ipvsadm-restore]=ipvsadm [qemu-system-x86_64]=qemu-system-x86 [depmod]=kmod
)
missing=()
for tool in "${!packages[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${packages[$tool]}")
done
# libbpf's headers, for rebuilding the counter program (bpf/build.sh)
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
# The VM lane's initramfs needs the static busybox (a dynamic one may be installed under the same name).
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]}; run as root (sudo) so they can be installed" >&2
    exit 1
  fi
  echo "installing Debian packages: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

# npm ci when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
