#!/usr/bin/env bash
# Prepare the stock Debian guest: host tools, the current Debian 6.12 kernel image (unpacked into
# the cache, never installed on the host) and its module build tree (also unpacked into the cache).
# Prints the kernel directory on stdout. Usage: prepare.sh
source "$(dirname "$0")/lib.sh"

need_pkgs qemu-system-x86 busybox-static cpio gzip xz-utils || skip "host tools missing and not installable"
# apt-get download and dpkg -x unpack the kernel and headers; modinfo and depmod (kmod) and xz
# pick and unpack modules for --modprobe; base64 carries --collect files back.
need_cmds qemu-system-x86_64:qemu-system-x86 cpio:cpio gzip:gzip xz:xz-utils dpkg:dpkg \
  apt-get:apt modinfo:kmod depmod:kmod base64:coreutils ldd:libc-bin \
  || skip "host tools missing and not installable"
[[ -x /bin/busybox ]] || skip "/bin/busybox (busybox-static) not found"

kver=$(debian_kver)
dir=$(debian_dir "$kver")
mkdir -p "$dir/debs"
lock "$dir.lock"
echo "$kver" >"$CACHE/debian/last-kver"

if [[ ! -f $dir/root/boot/vmlinuz-$kver ]]; then
  log "downloading linux-image-$kver (not installed on the host; unpacked into $dir/root)"
  (cd "$dir/debs" && apt-get -o APT::Sandbox::User=root download "linux-image-$kver" >&2) \
    || die "apt-get download linux-image-$kver failed"
  rm -rf "$dir/root.tmp" && dpkg -x "$dir"/debs/linux-image-"$kver"_*.deb "$dir/root.tmp"
  rm -rf "$dir/root" && mv "$dir/root.tmp" "$dir/root"
else
  log "reusing $dir/root/boot/vmlinuz-$kver"
fi

# The module must be built against exactly this kernel. Debian's headers package depends on the
# image package, so installing it would install the kernel on the host: unpack the three packages
# that make the build tree (headers, headers-common, kbuild) into the cache instead.
kbuild_ver=${kver%-amd64}            # 6.12.117+deb12
hdr_pkgs=("linux-headers-$kver" "linux-headers-$kbuild_ver-common" "linux-kbuild-$kbuild_ver")
build=$dir/hdr/usr/src/linux-headers-$kver
if [[ ! -f $build/.dmabuf-ready ]]; then
  log "downloading and unpacking ${hdr_pkgs[*]} into $dir/hdr"
  (cd "$dir/debs" && apt-get -o APT::Sandbox::User=root download "${hdr_pkgs[@]}" >&2) || die "apt-get download ${hdr_pkgs[*]} failed"
  rm -rf "$dir/hdr"
  for p in "${hdr_pkgs[@]}"; do dpkg -x "$dir"/debs/"$p"_*.deb "$dir/hdr"; done
  # The arch Makefile includes the common one by absolute path; point it into the cache.
  sed -i "s|^include /usr/src/|include $dir/hdr/usr/src/|" "$build/Makefile"
  touch "$build/.dmabuf-ready"
fi
# The Debian kernel is built with gcc-12; the module must be too.
command -v x86_64-linux-gnu-gcc-12 >/dev/null || need_pkgs gcc-12 || skip "gcc-12 not installable"
# Debian's kernel has CONFIG_DEBUG_INFO_BTF_MODULES: the module build runs pahole.
need_cmds make:make pahole:dwarves || skip "make or pahole (dwarves) not installable"
ln -sfn "$build" "$dir/build"
echo "$dir"
