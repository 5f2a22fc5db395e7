#!/usr/bin/env bash
# Build the guest initramfs as two concatenated gzip'd cpio archives (the kernel unpacks both):
#   base    busybox + applet links, the deno binary and its libraries (cached: it changes rarely)
#   overlay /init, the project tree (git-tracked and untracked-but-not-ignored files), the
#           test_driver.ko, extra kernel modules, and the run description in /etc/dmabuf-guest
# Usage: mkinitramfs.sh --out FILE --overlay-dir DIR [--arch arm64 --userland DIR]
#   DIR is a staging directory already holding etc/dmabuf-guest/* and lib/modules/* (run.sh fills it).
#   x86_64 (default): the host's deno and /bin/busybox, and the libraries `ldd` lists.
#   arm64: deno and busybox from the --userland directory of prepare-arm64.sh, glibc from
#   Debian's libc6-arm64-cross (/usr/aarch64-linux-gnu/lib) at the paths an arm64 Debian has.
source "$(dirname "$0")/lib.sh"

out='' overlay='' arch=x86_64 userland=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --overlay-dir) overlay=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --userland) userland=$2; shift 2 ;;
    *) die "mkinitramfs.sh: unknown argument $1" ;;
  esac
done
[[ -n $out && -n $overlay ]] || die "usage: mkinitramfs.sh --out FILE --overlay-dir DIR [--arch arm64 --userland DIR]"

need_cmds cpio:cpio gzip:gzip ldd:libc-bin od:coreutils \
  || skip "initramfs tools missing and not installable"
cross_lib=/usr/aarch64-linux-gnu/lib
case $arch in
  x86_64)
    need_cmds busybox:busybox-static || skip "initramfs tools missing and not installable"
    deno_bin=$(readlink -f "$(command -v deno)") || skip "deno not found on PATH"
    busybox=/bin/busybox
    [[ -x $busybox ]] || skip "busybox-static not installed"
    ;;
  arm64)
    [[ -n $userland ]] || die "mkinitramfs.sh --arch arm64 needs --userland DIR (prepare-arm64.sh)"
    deno_bin=$(readlink -f "$userland/deno") busybox=$userland/busybox/bin/busybox
    [[ -f $deno_bin && -f $busybox && -s $userland/busybox.applets ]] || die "incomplete arm64 user space in $userland"
    need_cmds aarch64-linux-gnu-readelf:binutils-aarch64-linux-gnu \
      || skip "arm64 initramfs tools missing and not installable"
    need_pkgs libc6-arm64-cross || skip "libc6-arm64-cross missing and not installable"
    [[ -d $cross_lib ]] || skip "$cross_lib missing (libc6-arm64-cross)"
    ;;
  *) die "mkinitramfs.sh: unknown --arch $arch (x86_64|arm64)" ;;
esac
# npm's deno package ships the real binary behind the symlink; a wrapper script would not run.
[[ $(head -c4 "$deno_bin" | od -An -c | tr -d ' ') == '177ELF' ]] || die "$deno_bin is not an ELF binary"

# arm64_libs: every library the arm64 deno needs (DT_NEEDED, transitively) from the cross glibc.
arm64_libs() {
  local todo=("$deno_bin") seen=() f n
  while [[ ${#todo[@]} -gt 0 ]]; do
    f=${todo[0]}; todo=("${todo[@]:1}")
    for n in $(aarch64-linux-gnu-readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ " ${seen[*]} " == *" $n "* ]] && continue
      [[ -f $cross_lib/$n ]] || die "$n (needed by ${f##*/}) is not in $cross_lib"
      seen+=("$n"); todo+=("$cross_lib/$n")
    done
  done
  printf '%s\n' "${seen[@]}"
}

# cpio_gz DIR LEVEL: a newc archive of DIR, owned by root, gzip'd.
cpio_gz() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip "-$2"); }

# Bump when the base's layout changes; the deno and busybox binaries are hashed anyway.
BASE_RECIPE=1
if [[ $arch == x86_64 ]]; then
  base_id=$( { sha256sum "$deno_bin" "$busybox" | cut -d' ' -f1; echo "recipe $BASE_RECIPE"; } | sha256sum | cut -c1-16)
  base=$CACHE/initramfs/base-$base_id.cpio.gz
else
  mapfile -t libs < <(arm64_libs)
  base_id=$( { sha256sum "$deno_bin" "$busybox" "$userland/busybox.applets" "${libs[@]/#/$cross_lib/}" \
    "$cross_lib/ld-linux-aarch64.so.1" | cut -d' ' -f1; echo "recipe $BASE_RECIPE"; } | sha256sum | cut -c1-16)
  base=$CACHE/initramfs/base-arm64-$base_id.cpio.gz
fi
lock "$CACHE/initramfs/base.lock"
if [[ ! -f $base ]]; then
  log "building initramfs base (busybox, $deno_bin and its libraries) → $base"
  stage=$(mktemp -d "$CACHE/initramfs-stage.XXXXXX")
  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc}
  cp "$busybox" "$stage/bin/busybox"
  if [[ $arch == x86_64 ]]; then applets=$("$busybox" --list); else applets=$(cat "$userland/busybox.applets"); fi
  for applet in $applets; do
    [[ -e $stage/bin/$applet ]] || ln -s busybox "$stage/bin/$applet"
  done
  cp "$deno_bin" "$stage/bin/deno" && chmod 0755 "$stage/bin/deno"
  if [[ $arch == x86_64 ]]; then
    mkdir -p "$stage"/{lib64,lib/x86_64-linux-gnu}
    # Every library ldd names, at the same path as on the host (ld.so's default search finds them).
    ldd "$deno_bin" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | while read -r lib; do
      dest=$stage$lib
      mkdir -p "$(dirname "$dest")"
      cp -L "$lib" "$dest"
    done
  else
    # Where an arm64 Debian keeps them: the interpreter deno names (/lib/ld-linux-aarch64.so.1)
    # and the multiarch directory (in ld.so's default search path, and where src/ffi/load.ts
    # looks for libc.so.6).
    mkdir -p "$stage/lib/aarch64-linux-gnu"
    for lib in "${libs[@]}" ld-linux-aarch64.so.1; do cp -L "$cross_lib/$lib" "$stage/lib/aarch64-linux-gnu/$lib"; done
    ln -sfn aarch64-linux-gnu/ld-linux-aarch64.so.1 "$stage/lib/ld-linux-aarch64.so.1"
  fi
  # libc resolved by Deno.dlopen("libc.so.6") is already loaded; keep the real name too.
  echo 'root:x:0:0:root:/root:/bin/sh' >"$stage/etc/passwd"
  echo 'root:x:0:' >"$stage/etc/group"
  mkdir -p "$CACHE/initramfs"
  cpio_gz "$stage" 6 >"$base.tmp" && mv "$base.tmp" "$base"
  rm -rf "$stage"
else
  log "reusing initramfs base $base"
fi

# The overlay: /init and the project tree. The tree sits at the same absolute path as on the host
# (so a DENO_DIR type-checked on the host is valid in the guest), with /project pointing at it.
install -m 0755 "$KERNEL_TOOLS_DIR/guest-init.sh" "$overlay/init"
mkdir -p "$overlay$REPO_ROOT"
ln -sfn "$REPO_ROOT" "$overlay/project"
(cd "$REPO_ROOT" && git ls-files -z --cached --others --exclude-standard) \
  | (cd "$REPO_ROOT" && while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done) \
  | (cd "$REPO_ROOT" && cpio -p -0 -d -m --quiet "$overlay$REPO_ROOT")
cpio_gz "$overlay" 1 >"$out.overlay"
cat "$base" "$out.overlay" >"$out"
rm -f "$out.overlay"
log "initramfs $out: $(( $(stat -c %s "$out") / 1024 / 1024 )) MiB"
