#!/usr/bin/env bash
# Build a small test kernel from Debian's linux-source-6.12: tinyconfig + a fragment.
#   build-custom.sh          x86_64: custom.config → bzImage           (the `custom` guest)
#   build-custom.sh arm64    arm64, cross-built with Debian's gcc-aarch64-linux-gnu:
#                            arm64.config → Image                      (the `arm64` guest)
# Cached under $CACHE/{custom,arm64}/<hash of source version, fragment and recipe (lib.sh)>; a
# later run reuses the image and the build tree (which the module build needs). Prints the kernel
# dir; the image is <dir>/bzImage or <dir>/Image.
source "$(dirname "$0")/lib.sh"

flavor=${1:-custom}
case $flavor in
  custom)
    need_pkgs linux-source-6.12 flex bison bc libelf-dev libssl-dev build-essential xz-utils \
      || skip "custom kernel build tools missing and not installable"
    need_cmds make:make gcc:gcc flex:flex bison:bison bc:bc xz:xz-utils tar:tar \
      || skip "custom kernel build tools missing and not installable"
    dir=$(custom_dir) fragment=$KERNEL_TOOLS_DIR/custom.config image=bzImage
    mk=(make ARCH=x86_64) targets=() built=arch/x86/boot/bzImage
    ;;
  arm64)
    need_pkgs linux-source-6.12 flex bison bc libelf-dev libssl-dev build-essential xz-utils \
      gcc-aarch64-linux-gnu || skip "arm64 kernel build tools missing and not installable"
    need_cmds make:make gcc:gcc flex:flex bison:bison bc:bc xz:xz-utils tar:tar \
      aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu \
      || skip "arm64 kernel build tools missing and not installable"
    dir=$(arm64_dir) fragment=$KERNEL_TOOLS_DIR/arm64.config image=Image
    mk=(make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-) targets=(Image modules) built=arch/arm64/boot/Image
    ;;
  *) die "build-custom.sh: unknown flavor '$flavor' (custom|arm64)" ;;
esac
tarballs=(/usr/src/linux-source-6.12.tar.*)
tarball=${tarballs[0]}
[[ -f $tarball ]] || skip "linux-source-6.12 tarball not found in /usr/src"

lock "$dir.lock"
if [[ -f $dir/$image && -f $dir/src/Module.symvers ]]; then
  log "reusing $flavor kernel $dir/$image"
  echo "$dir"; exit 0
fi

rm -rf "$dir" && mkdir -p "$dir"
log "unpacking $tarball into $dir/src"
tar -xf "$tarball" -C "$dir"
mv "$dir"/linux-source-6.12 "$dir/src"
cd "$dir/src"

log "configuring: tinyconfig + tools/kernel/${fragment##*/}"
"${mk[@]}" tinyconfig >"$dir/config.log" 2>&1 || { cat "$dir/config.log" >&2; die "tinyconfig failed"; }
# merge_config.sh runs `make alldefconfig` itself, with $ARCH / $CROSS_COMPILE from the environment.
[[ $flavor == arm64 ]] && export ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-
scripts/kconfig/merge_config.sh -m .config "$fragment" >>"$dir/config.log" 2>&1 \
  || { cat "$dir/config.log" >&2; die "merge_config.sh failed"; }
"${mk[@]}" olddefconfig >>"$dir/config.log" 2>&1 || { cat "$dir/config.log" >&2; die "olddefconfig failed"; }
# Every option of the fragment must have survived olddefconfig (a missing dependency drops it),
# and every `# CONFIG_X is not set` of the fragment must have stayed off (something may select it).
dropped=0
while IFS= read -r line; do
  if [[ $line =~ ^CONFIG_ ]]; then
    grep -qxF "$line" .config || { log "config: '$line' did not survive olddefconfig"; dropped=1; }
  elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
    ! grep -q "^${BASH_REMATCH[1]}=" .config \
      || { log "config: ${BASH_REMATCH[1]} is on after olddefconfig (the fragment turns it off)"; dropped=1; }
  fi
done <"$fragment"
[[ $dropped == 0 ]] || die "${fragment##*/} is not satisfiable as written"

jobs=$(nproc)
log "building (nice ${mk[*]} -j$jobs ${targets[*]}: $image + Module.symvers), log in $dir/build.log"
child_cpu cpu0; t0=$SECONDS
nice -n 10 "${mk[@]}" -j"$jobs" "${targets[@]}" >"$dir/build.log" 2>&1 \
  || { tail -40 "$dir/build.log" >&2; die "kernel build failed"; }
child_cpu cpu1
log "make took $((SECONDS - t0)) s wall, $((cpu1 - cpu0)) s CPU (user + system);" \
  "$(find . -name '*.o' | wc -l) object files; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
cp "$built" "$dir/$image"
ln -sfn src "$dir/build"
log "$flavor kernel $("${mk[@]}" -s kernelrelease) ready: $dir/$image ($(stat -c %s "$dir/$image") bytes)"
echo "$dir"
