#!/usr/bin/env bash
# deno task bench:ratios — the interleaved comparison, from one command:
#   1. builds the C reference (static) on the host,
#   2. boots the Debian 6.12 guest (tools/kernel/run.sh, qemu TCG) and runs C, raw FFI, the
#      Kernel seam and the library against /dev/dma_heap/system in that one boot,
#   3. runs the per-ioctl floor (C vs raw FFI vs Kernel.ioctl) natively on the host,
#   4. runs the simulated-kernel tables (ops, scaling with 10/1 000/100 000 live buffers, memory).
# Prints every table; with --write also replaces the generated part of bench/RESULTS.md.
#
#   bench/ratios.sh [--write] [--rounds N] [--budget-ms MS] [--skip-guest]
set -euo pipefail
cd "$(dirname "$0")/.."

write=0 rounds=9 budget=150 guest=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --write) write=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --budget-ms) budget=$2; shift 2 ;;
    --skip-guest) guest=0; shift ;;
    *) echo "ratios.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# The C reference is linked statically: gcc and libc6-dev's libc.a, installed when missing.
source tools/kernel/lib.sh
need_cmds gcc:gcc || die "gcc is needed for the C reference"
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || need_pkgs libc6-dev || die "libc6-dev is needed"
gcc -O2 -Wall -Wextra -static -o bench/c/dmabuf_bench bench/c/dmabuf_bench.c
out=$(mktemp -d)
# The guest's /project holds the tracked and the untracked-but-not-ignored files; the built
# binary is ignored (.gitignore), so a copy sits at a non-ignored path for this run only.
guest_dir=bench/c/.guest-bin
trap 'rm -rf "$guest_dir" "$out"' EXIT
args=(--rounds "$rounds" --budget-ms "$budget")

if [[ $guest == 1 ]]; then
  mkdir -p "$guest_dir" && cp bench/c/dmabuf_bench "$guest_dir/"
  tools/kernel/run.sh --kernel debian --no-module \
    --cmd "deno run -A --v8-flags=--expose-gc bench/ratios.ts --mode heap --c $guest_dir/dmabuf_bench ${args[*]} --out /tmp/heap.md" \
    --collect "/tmp/heap.md:$out/heap.md"
  rm -rf "$guest_dir"
fi
deno run -A --v8-flags=--expose-gc bench/ratios.ts --mode floor "${args[@]}" --out "$out/floor.md"
deno run -A --v8-flags=--expose-gc bench/ratios.ts --mode sim "${args[@]}" --out "$out/sim.md"

{
  echo "<!-- generated: deno task bench:ratios -- ${args[*]}; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo '+dirty') -->"
  echo
  for f in heap floor sim; do [[ -f $out/$f.md ]] && cat "$out/$f.md"; done
} >"$out/all.md"
echo
echo "== all tables =="
cat "$out/all.md"

if [[ $write == 1 ]]; then
  results=bench/RESULTS.md
  grep -q '^<!-- ratios:begin -->$' "$results" || { echo "no ratios:begin marker in $results" >&2; exit 1; }
  awk -v gen="$out/all.md" '
    /^<!-- ratios:begin -->$/ { print; while ((getline l < gen) > 0) print l; skip = 1; next }
    /^<!-- ratios:end -->$/ { skip = 0 }
    !skip { print }' "$results" >"$out/results.md"
  cp "$out/results.md" "$results"
  deno fmt -q "$results" # aligns the tables, as deno task check expects
  echo "wrote $results"
fi
