#!/usr/bin/env bash
# Builds the counter program into packages/xdp/bpf/hp_counters.o (the object the npm package ships).
# Reproducible: paths are mapped to the repository root, so a rebuild in any clone gives the same bytes.
#   bash bpf/build.sh            build
#   bash bpf/build.sh --check    rebuild into a temporary file and fail if the shipped object differs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/packages/xdp/bpf/hp_counters.o"
target=$out
[ "${1:-}" = --check ] && target=$(mktemp --suffix=.o)
command -v clang >/dev/null || { echo "clang is needed to build the BPF program: apt-get install clang libbpf-dev" >&2; exit 1; }
command -v llvm-strip >/dev/null || { echo "llvm-strip is needed to build the BPF program: apt-get install llvm" >&2; exit 1; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "libbpf headers are needed: apt-get install libbpf-dev" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cd "$root"
# Debian keeps asm/types.h under the multiarch directory; -target bpf does not look there by itself.
clang -O2 -g -target bpf -Wall -Werror \
  -I/usr/include/"$(uname -m)"-linux-gnu -Ibpf/include \
  -fdebug-prefix-map="$root"=. -fdebug-compilation-dir=. \
  -c bpf/hp_counters.c -o "$target"
# Strip DWARF but keep BTF: smaller, and no compiler-specific debug sections to differ.
llvm-strip -g "$target"
if [ "${1:-}" = --check ]; then
  if ! cmp -s "$target" "$out"; then
    echo "packages/xdp/bpf/hp_counters.o is stale: run 'bash bpf/build.sh' and commit the result" >&2
    rm -f "$target"; exit 1
  fi
  rm -f "$target"
  echo "the shipped BPF object matches its source"
fi
