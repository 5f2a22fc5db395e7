#!/usr/bin/env bash
# Build tools/kernel/module/ against a kernel build tree, in a copy under OUTDIR.
# Usage: build-module.sh KDIR OUTDIR   → prints OUTDIR/test_driver.ko
source "$(dirname "$0")/lib.sh"
kdir=${1:?usage: build-module.sh KDIR OUTDIR}
out=${2:?usage: build-module.sh KDIR OUTDIR}
[[ -f $kdir/Makefile ]] || die "not a kernel build tree: $kdir"
mkdir -p "$out"
lock "$out.lock"
# Copy only the sources; make's timestamps then rebuild exactly when a source changed.
cp -p "$KERNEL_TOOLS_DIR"/module/*.c "$KERNEL_TOOLS_DIR"/module/Kbuild "$out"/
log "building test_driver.ko against $kdir"
make -C "$kdir" M="$out" modules >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; die "module build failed"; }
grep -E 'warning|error' "$out/build.log" >&2 || true
[[ -f $out/test_driver.ko ]] || die "module build produced no test_driver.ko"
echo "$out/test_driver.ko"
