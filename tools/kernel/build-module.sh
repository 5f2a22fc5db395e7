#!/usr/bin/env bash
# Build tools/kernel/module/ against a kernel build tree, in a copy under OUTDIR/<source hash>.
# Usage: build-module.sh KDIR OUTDIR [MAKE_VAR=VALUE...]   → prints the path of test_driver.ko
#   e.g. ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- for the arm64 kernel.
# The cache is shared by every checkout on the machine (worktrees, CI clones): keying the build
# directory by the module's source keeps one checkout from booting another checkout's module.
source "$(dirname "$0")/lib.sh"
kdir=${1:?usage: build-module.sh KDIR OUTDIR}
src=$KERNEL_TOOLS_DIR/module
[[ -f $kdir/Makefile ]] || die "not a kernel build tree: $kdir"
# Kbuild runs make and the kernel's compiler; with CONFIG_DEBUG_INFO_BTF_MODULES (Debian's
# kernels) it also runs pahole to add the module's BTF: Debian ships pahole in "dwarves".
need_cmds make:make gcc:gcc || die "make and gcc are needed to build the module"
if grep -qx 'CONFIG_DEBUG_INFO_BTF_MODULES=y' "$kdir/.config" 2>/dev/null; then
  need_cmds pahole:dwarves || die "pahole (Debian package dwarves) is needed: $kdir has CONFIG_DEBUG_INFO_BTF_MODULES=y"
fi
src_id=$(cd "$src" && shopt -s nullglob && cat Kbuild ./*.c ./*.h | sha256sum | cut -c1-16)
out=${2:?usage: build-module.sh KDIR OUTDIR}/$src_id
shift 2
make_vars=("$@")
mkdir -p "$out"
lock "$out.lock"
if [[ -f $out/test_driver.ko ]]; then
  log "reusing test_driver.ko built from these sources ($out)"
  echo "$out/test_driver.ko"; exit 0
fi
(shopt -s nullglob && cp "$src"/Kbuild "$src"/*.c "$src"/*.h "$out"/)
log "building test_driver.ko against $kdir"
make -C "$kdir" "${make_vars[@]}" M="$out" modules >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; die "module build failed"; }
grep -E 'warning|error' "$out/build.log" >&2 || true
[[ -f $out/test_driver.ko ]] || die "module build produced no test_driver.ko"
echo "$out/test_driver.ko"
