#!/usr/bin/env bash
# The V4L2 benchmark in one Debian guest boot (separate from bench/ratios.sh): builds the static
# C loop on the host, boots the Debian 6.12 guest with vivid loaded, and runs the C loop, raw
# FFI and the library capturing from vivid into system-heap dma-bufs (bench/v4l2_ratios.ts).
#
#   bench/v4l2_ratios.sh [--frames N] [--rounds N] [--out FILE.md]
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/kernel/lib.sh

frames=120 rounds=3 outfile=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --frames) frames=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) outfile=$2; shift 2 ;;
    *) echo "v4l2_ratios.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# The C loop is linked statically (gcc, libc6-dev's libc.a) against the system's uapi headers
# (linux-libc-dev); each is installed when missing.
need_cmds gcc:gcc || die "gcc is needed for the C loop"
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || need_pkgs libc6-dev || die "libc6-dev is needed"
[[ -f /usr/include/linux/videodev2.h && -f /usr/include/linux/dma-heap.h ]] \
  || need_pkgs linux-libc-dev || die "linux-libc-dev is needed"
gcc -O2 -Wall -Wextra -static -o bench/c/v4l2_bench bench/c/v4l2_bench.c
out=$(mktemp -d)
# The built binary is ignored (.gitignore); a copy sits at a non-ignored path for this run.
guest_dir=bench/c/.guest-v4l2
trap 'rm -rf "$guest_dir" "$out"' EXIT
mkdir -p "$guest_dir" && cp bench/c/v4l2_bench "$guest_dir/"
tools/kernel/run.sh --kernel debian --no-module --modprobe vivid \
  --host-precheck "deno check bench/v4l2_ratios.ts" \
  --cmd "deno run -A bench/v4l2_ratios.ts --c $guest_dir/v4l2_bench --frames $frames --rounds $rounds --out /tmp/v4l2.md" \
  --collect "/tmp/v4l2.md:$out/v4l2.md"
echo
echo "== V4L2 table =="
cat "$out/v4l2.md"
[[ -z $outfile ]] || cp "$out/v4l2.md" "$outfile"
