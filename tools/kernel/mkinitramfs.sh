#!/usr/bin/env bash
# Build the guest initramfs as two concatenated gzip'd cpio archives (the kernel unpacks both):
#   base    busybox + applet links, the deno binary and its libraries (cached: it changes rarely)
#   overlay /init, the project tree (git-tracked and untracked-but-not-ignored files), the
#           test_driver.ko, extra kernel modules, and the run description in /etc/dmabuf-guest
# Usage: mkinitramfs.sh --out FILE --overlay-dir DIR
#   DIR is a staging directory already holding etc/dmabuf-guest/* and lib/modules/* (run.sh fills it).
source "$(dirname "$0")/lib.sh"

out='' overlay=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --overlay-dir) overlay=$2; shift 2 ;;
    *) die "mkinitramfs.sh: unknown argument $1" ;;
  esac
done
[[ -n $out && -n $overlay ]] || die "usage: mkinitramfs.sh --out FILE --overlay-dir DIR"

need_cmds cpio:cpio gzip:gzip ldd:libc-bin od:coreutils busybox:busybox-static \
  || skip "initramfs tools missing and not installable"
deno_bin=$(readlink -f "$(command -v deno)") || skip "deno not found on PATH"
# npm's deno package ships the real binary behind the symlink; a wrapper script would not run.
[[ $(head -c4 "$deno_bin" | od -An -c | tr -d ' ') == '177ELF' ]] || die "$deno_bin is not an ELF binary"
busybox=/bin/busybox
[[ -x $busybox ]] || skip "busybox-static not installed"

# cpio_gz DIR LEVEL: a newc archive of DIR, owned by root, gzip'd.
cpio_gz() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip "-$2"); }

# Bump when the base's layout changes; the deno and busybox binaries are hashed anyway.
BASE_RECIPE=1
base_id=$( { sha256sum "$deno_bin" "$busybox" | cut -d' ' -f1; echo "recipe $BASE_RECIPE"; } | sha256sum | cut -c1-16)
base=$CACHE/initramfs/base-$base_id.cpio.gz
lock "$CACHE/initramfs/base.lock"
if [[ ! -f $base ]]; then
  log "building initramfs base (busybox, $deno_bin and its libraries) → $base"
  stage=$(mktemp -d "$CACHE/initramfs-stage.XXXXXX")
  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc,lib64,lib/x86_64-linux-gnu}
  cp "$busybox" "$stage/bin/busybox"
  for applet in $("$busybox" --list); do
    [[ -e $stage/bin/$applet ]] || ln -s busybox "$stage/bin/$applet"
  done
  cp "$deno_bin" "$stage/bin/deno"
  # Every library ldd names, at the same path as on the host (ld.so's default search finds them).
  ldd "$deno_bin" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | while read -r lib; do
    dest=$stage$lib
    mkdir -p "$(dirname "$dest")"
    cp -L "$lib" "$dest"
  done
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
