#!/usr/bin/env bash
# Prepare the arm64 guest's user space and board (the kernel itself: build-custom.sh arm64):
#   - Deno for arm64: `npm pack @deno/linux-arm64-glibc@<the host's deno version>` (npm checks the
#     package's integrity), unpacked into the cache — nothing is installed
#   - busybox for arm64: Debian's busybox-static:arm64, fetched with apt-get download through a
#     private apt state in the cache (its own sources list and package lists for arm64), so the
#     host's dpkg architectures and package lists stay as they are
#   - glibc for arm64: Debian's libc6-arm64-cross (/usr/aarch64-linux-gnu/lib), installed
#   - the seed board's device tree: qemu's virt DTB for the guest's arguments (lib.sh
#     arm64_qemu_args) + arm64-seed-board.dtsi, compiled with dtc
#   - the cross compiler for the module and the uapi probe: gcc-aarch64-linux-gnu
# Prints the user-space directory (deno, busybox, busybox.applets); the DTB is at `arm64_dtb`.
source "$(dirname "$0")/lib.sh"

need_pkgs qemu-system-arm gcc-aarch64-linux-gnu libc6-arm64-cross libc6-dev-arm64-cross device-tree-compiler \
  busybox-static cpio gzip debian-archive-keyring \
  || skip "arm64 guest tools missing and not installable"
need_cmds qemu-system-aarch64:qemu-system-arm dtc:device-tree-compiler \
  aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu cpio:cpio gzip:gzip tar:tar \
  || skip "arm64 guest tools missing and not installable"
need_cmds npm:npm || skip "npm (for Deno's arm64 package) not installable"
[[ -x /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 || -f /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]] \
  || skip "libc6-arm64-cross has no /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"

ver=$(deno_version)
[[ -n $ver ]] || skip "cannot tell the host's Deno version (deno --version)"
dir=$CACHE/arm64/userland
mkdir -p "$dir"
lock "$dir.lock"

# Deno for arm64, the host's version.
if [[ ! -f $dir/deno-$ver/deno ]]; then
  log "fetching Deno $ver for arm64 (npm pack @deno/linux-arm64-glibc@$ver)"
  tmp=$(mktemp -d "$dir/deno.XXXXXX")
  (cd "$tmp" && npm pack --silent "@deno/linux-arm64-glibc@$ver" >&2) || { rm -rf "$tmp"; die "npm pack @deno/linux-arm64-glibc@$ver failed"; }
  tar -xzf "$tmp"/deno-linux-arm64-glibc-"$ver".tgz -C "$tmp" || die "cannot unpack the Deno package"
  [[ $(od -An -tx1 -j18 -N2 "$tmp/package/deno" | tr -d ' ') == b700 ]] || die "the package's deno is not an aarch64 ELF"
  rm -rf "$dir/deno-$ver" && mkdir -p "$dir/deno-$ver"
  mv "$tmp/package/deno" "$dir/deno-$ver/deno" && chmod 0755 "$dir/deno-$ver/deno"
  rm -rf "$tmp"
fi
ln -sfn "deno-$ver/deno" "$dir/deno"

# busybox-static for arm64 through a private apt state: only Debian's main archive, arm64 only.
if [[ ! -f $dir/busybox/bin/busybox ]]; then
  apt=$dir/apt
  mkdir -p "$apt"/lists/partial "$apt"/cache/archives/partial
  echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
    >"$apt/sources.list"
  apto=(-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Dir::Etc::SourceList=$apt/sources.list"
    -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::status=/dev/null -o APT::Architecture=arm64
    -o APT::Architectures::=arm64 -o APT::Sandbox::User=root)
  log "fetching busybox-static:arm64 (private apt state in $apt)"
  apt-get "${apto[@]}" update >&2 || die "apt-get update (arm64, private state) failed"
  rm -rf "$apt/debs" && mkdir -p "$apt/debs"
  (cd "$apt/debs" && apt-get "${apto[@]}" download busybox-static:arm64 >&2) || die "apt-get download busybox-static:arm64 failed"
  rm -rf "$dir/busybox.tmp" && dpkg -x "$apt"/debs/busybox-static_*_arm64.deb "$dir/busybox.tmp"
  [[ $(od -An -tx1 -j18 -N2 "$dir/busybox.tmp/bin/busybox" | tr -d ' ') == b700 ]] || die "busybox-static:arm64 is not an aarch64 ELF"
  rm -rf "$dir/busybox" && mv "$dir/busybox.tmp" "$dir/busybox"
  rm -rf "$apt/lists" "$apt/cache"   # 18 MB of package lists, not needed again
fi
# The applet names: the host's busybox-static is the same Debian source and configuration (the
# arm64 binary cannot run here).
if [[ ! -s $dir/busybox.applets ]]; then
  [[ -x /bin/busybox ]] || skip "/bin/busybox (busybox-static) not found for the applet list"
  /bin/busybox --list >"$dir/busybox.applets"
fi

# The seed board's device tree for exactly the guest's qemu arguments.
dtb=$(arm64_dtb)
if [[ ! -f $dtb ]]; then
  mkdir -p "$(dirname "$dtb")"
  tmp=$(mktemp -d "$(dirname "$dtb")/dt.XXXXXX")
  mapfile -t qargs < <(arm64_qemu_args)
  log "dumping qemu's virt device tree (${qargs[*]}) and adding global_cma@68000000"
  qemu-system-aarch64 -machine "virt,dumpdtb=$tmp/virt.dtb" "${qargs[@]}" -nographic >&2 \
    || die "qemu-system-aarch64 dumpdtb failed"
  dtc -q -I dtb -O dts -o "$tmp/virt.dts" "$tmp/virt.dtb" || die "dtc could not decompile the virt DTB"
  cp "$KERNEL_TOOLS_DIR/arm64-seed-board.dtsi" "$tmp/seed-board.dts"
  dtc -q -I dts -O dtb -o "$tmp/seed-board.dtb" "$tmp/seed-board.dts" || die "dtc could not compile the seed board"
  # The node must be in the result, with its properties.
  dtc -q -I dtb -O dts "$tmp/seed-board.dtb" | grep -A5 'global_cma@68000000 {' | grep -q 'linux,cma-default' \
    || die "the compiled DTB has no global_cma@68000000 with linux,cma-default"
  cp "$tmp/seed-board.dts" "${dtb%.dtb}.dts"
  dtc -q -I dtb -O dts -o "${dtb%.dtb}.full.dts" "$tmp/seed-board.dtb"
  mv "$tmp/seed-board.dtb" "$dtb"
  rm -rf "$tmp"
fi
echo "$dir"
