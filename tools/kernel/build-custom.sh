#!/usr/bin/env bash
# Build the custom test kernel from Debian's linux-source-6.12: tinyconfig + custom.config.
# Cached under $CACHE/custom/<hash of source version, fragment and this script>; a later run
# reuses the bzImage and the build tree (which the module build needs). Prints the kernel dir.
source "$(dirname "$0")/lib.sh"

need_pkgs linux-source-6.12 flex bison bc libelf-dev libssl-dev build-essential xz-utils \
  || skip "custom kernel build tools missing and not installable"
need_cmds make:make gcc:gcc flex:flex bison:bison bc:bc xz:xz-utils tar:tar \
  || skip "custom kernel build tools missing and not installable"
tarballs=(/usr/src/linux-source-6.12.tar.*)
tarball=${tarballs[0]}
[[ -f $tarball ]] || skip "linux-source-6.12 tarball not found in /usr/src"

dir=$(custom_dir)
lock "$dir.lock"
if [[ -f $dir/bzImage && -f $dir/src/Module.symvers ]]; then
  log "reusing custom kernel $dir/bzImage"
  echo "$dir"; exit 0
fi

rm -rf "$dir" && mkdir -p "$dir"
log "unpacking $tarball into $dir/src"
tar -xf "$tarball" -C "$dir"
mv "$dir"/linux-source-6.12 "$dir/src"
cd "$dir/src"

log "configuring: tinyconfig + tools/kernel/custom.config"
make ARCH=x86_64 tinyconfig >"$dir/config.log" 2>&1 || { cat "$dir/config.log" >&2; die "tinyconfig failed"; }
scripts/kconfig/merge_config.sh -m .config "$KERNEL_TOOLS_DIR/custom.config" >>"$dir/config.log" 2>&1 \
  || { cat "$dir/config.log" >&2; die "merge_config.sh failed"; }
make ARCH=x86_64 olddefconfig >>"$dir/config.log" 2>&1 || { cat "$dir/config.log" >&2; die "olddefconfig failed"; }
# Every option of the fragment must have survived olddefconfig (a missing dependency drops it).
dropped=0
while IFS= read -r line; do
  [[ $line =~ ^CONFIG_ ]] || continue
  grep -qxF "$line" .config || { log "config: '$line' did not survive olddefconfig"; dropped=1; }
done <"$KERNEL_TOOLS_DIR/custom.config"
[[ $dropped == 0 ]] || die "custom.config is not satisfiable as written"

jobs=$(nproc)
log "building (nice make -j$jobs: bzImage + Module.symvers), log in $dir/build.log"
nice -n 10 make ARCH=x86_64 -j"$jobs" >"$dir/build.log" 2>&1 || { tail -40 "$dir/build.log" >&2; die "kernel build failed"; }
cp arch/x86/boot/bzImage "$dir/bzImage"
ln -sfn src "$dir/build"
log "custom kernel $(make -s kernelrelease) ready: $dir/bzImage ($(stat -c %s "$dir/bzImage") bytes)"
echo "$dir"
