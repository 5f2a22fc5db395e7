# shellcheck shell=bash
# Shared helpers for tools/kernel/*.sh. Source it; do not run it.
set -euo pipefail

KERNEL_TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
REPO_ROOT=$(cd "$KERNEL_TOOLS_DIR/../.." && pwd)
# Everything downloaded or built lives outside the checkout so `git clean` never costs a rebuild.
CACHE=${DMABUF_KERNEL_CACHE:-$HOME/.cache/dmabuf-deno-kernel}
# Per-stage timings are appended here (name<TAB>seconds) so test.sh can print a summary.
TIMINGS_FILE=${DMABUF_KERNEL_TIMINGS:-}

log() { printf '[kernel] %s\n' "$*" >&2; }
die() { printf '[kernel] ERROR: %s\n' "$*" >&2; exit 1; }

# SKIP exit status: a stage could not run on this machine (missing tool that cannot be installed).
# test.sh turns it into a printed skip locally and into a failure when CI=true.
EXIT_SKIP=77
skip() { printf '[kernel] SKIP: %s\n' "$*" >&2; exit "$EXIT_SKIP"; }

# timed NAME CMD...: run CMD, log and record its wall time.
timed() {
  local name=$1; shift
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$@" || rc=$?
  t1=$(date +%s.%N)
  local dt
  dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  log "stage '$name' took ${dt}s (exit $rc)"
  if [[ -n $TIMINGS_FILE ]]; then printf '%s\t%s\t%s\n' "$name" "$dt" "$rc" >>"$TIMINGS_FILE"; fi
  return "$rc"
}

# child_cpu VAR: set VAR to the CPU seconds (user + system) used so far by the waited-for children
# of this shell (bash's `times`), so a build can report its CPU time beside its wall time: on a
# shared host the wall time says more about the other jobs than about the build. Call it without
# $(…): in a subshell `times` reports the subshell's own zeros.
child_cpu() {
  local f
  f=$(mktemp)
  times >"$f"
  printf -v "$1" '%s' "$(tail -n1 "$f" | awk '{ s = 0
    for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
    printf "%.0f", s }')"
  rm -f "$f"
}

# lock PATH: hold an exclusive lock on PATH until this script exits, so concurrent runs (two
# terminals, two kernels in CI) never build into the same cache directory at once.
lock() {
  local fd
  mkdir -p "$(dirname "$1")"
  exec {fd}>"$1"
  flock "$fd" || die "cannot lock $1"
}

as_root() {
  if [[ $(id -u) == 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

# need_pkgs PKG...: apt-get install the packages that are not installed yet.
need_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} == 0 ]] && return 0
  log "installing missing packages: ${missing[*]}"
  command -v apt-get >/dev/null || { log "apt-get not available"; return 1; }
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}")
  if ! as_root "${install[@]}" >&2; then
    # A fresh machine may have no package lists yet.
    log "apt-get install failed; running apt-get update once and retrying"
    if ! { as_root apt-get update >&2 && as_root "${install[@]}" >&2; }; then
      log "apt-get install ${missing[*]} failed"; return 1
    fi
  fi
}

# need_cmds CMD:PKG...: make sure each command is on PATH, installing its Debian package when it
# is not (command -v first: a tool installed some other way counts). Fails if one stays missing.
need_cmds() {
  local pair cmd pkgs=()
  for pair in "$@"; do
    cmd=${pair%%:*}
    command -v "$cmd" >/dev/null || pkgs+=("${pair#*:}")
  done
  [[ ${#pkgs[@]} == 0 ]] || need_pkgs "${pkgs[@]}" || return 1
  for pair in "$@"; do
    cmd=${pair%%:*}
    command -v "$cmd" >/dev/null || { log "$cmd not found after installing ${pair#*:}"; return 1; }
  done
}

# The host tools every script here uses (coreutils, sed, awk and bash itself aside).
need_cmds flock:util-linux sha256sum:coreutils || die "basic host tools missing"

# The package lists know the 6.12 meta-package (apt-get update once if they do not).
apt_knows_612() {
  apt-cache show linux-image-6.12-amd64 >/dev/null 2>&1 && return 0
  log "apt does not know linux-image-6.12-amd64; running apt-get update"
  as_root apt-get update >&2 || return 1
  apt-cache show linux-image-6.12-amd64 >/dev/null 2>&1
}

# Version of the current Debian 6.12 kernel ABI, e.g. "6.12.117+deb12-amd64".
# Resolved from the meta-package's dependency; DMABUF_DEBIAN_KVER overrides; the last resolved
# value in the cache is the fallback when apt knows nothing (offline / no lists).
debian_kver() {
  if [[ -n ${DMABUF_DEBIAN_KVER:-} ]]; then echo "$DMABUF_DEBIAN_KVER"; return; fi
  local v=''
  apt_knows_612 || log "apt-get update did not help; falling back to the last version used"
  v=$(apt-cache depends linux-image-6.12-amd64 2>/dev/null \
    | sed -n 's/^ *Depends: linux-image-\(6\.12\.[^ ]*-amd64\)$/\1/p' | head -n1) || true
  if [[ -z $v && -f $CACHE/debian/last-kver ]]; then v=$(cat "$CACHE/debian/last-kver"); fi
  [[ -n $v ]] || die "cannot resolve the Debian 6.12 kernel version (apt-get update? or set DMABUF_DEBIAN_KVER)"
  echo "$v"
}

# Paths of the stock Debian kernel for a given kver.
debian_dir() { echo "$CACHE/debian/$1"; }

# Bump when build-custom.sh changes how the kernel is configured or built (not for log tweaks).
CUSTOM_RECIPE=1
# Hash that names the custom kernel build: source package version + config fragment + recipe.
custom_id() {
  local srcver
  srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
  { echo "$srcver"; cat "$KERNEL_TOOLS_DIR/custom.config"; echo "recipe $CUSTOM_RECIPE"; } \
    | sha256sum | cut -c1-16
}
custom_dir() { echo "$CACHE/custom/$(custom_id)"; }

# Bump when build-custom.sh changes how the arm64 kernel is configured or built.
ARM64_RECIPE=1
# Hash that names the arm64 kernel build: source package version, cross compiler version, fragment
# and recipe.
arm64_id() {
  local srcver gccver
  srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)
  gccver=$(dpkg-query -W -f='${Version}' gcc-12-aarch64-linux-gnu 2>/dev/null || echo unknown)
  { echo "$srcver"; echo "gcc $gccver"; cat "$KERNEL_TOOLS_DIR/arm64.config"; echo "recipe $ARM64_RECIPE"; } \
    | sha256sum | cut -c1-16
}
arm64_dir() { echo "$CACHE/arm64/$(arm64_id)"; }

# The arm64 guest's machine: qemu's `virt` board under TCG. The device tree is dumped from qemu
# with exactly these settings (memory, CPUs and the CPU model all appear in it), so the same
# arguments must boot it. 1 GiB at 0x40000000 is the simulated default board's RAM
# (src/sim/machine.ts); it decides the size of the atomic DMA pools taken from the CMA area.
# DMABUF_ARM64_CPU overrides the CPU model (measured: see README).
arm64_cpu() { echo "${DMABUF_ARM64_CPU:-max,pauth-impdef=on}"; }
arm64_qemu_args() {
  printf '%s\n' -cpu "$(arm64_cpu)" -m 1024 -smp 2 -accel tcg,thread=multi
}
# Where the seed board's DTB for these arguments is cached: keyed by the qemu version, the
# arguments and the device-tree fragment.
arm64_dtb() {
  local id
  id=$( { qemu-system-aarch64 --version 2>/dev/null | head -n1; arm64_qemu_args;
    cat "$KERNEL_TOOLS_DIR/arm64-seed-board.dtsi"; } | sha256sum | cut -c1-16)
  echo "$CACHE/arm64/dtb/seed-board-$id.dtb"
}
# Deno for arm64: the npm package of the host's Deno version.
deno_version() { deno --version 2>/dev/null | sed -n 's/^deno \([0-9][^ ]*\).*/\1/p'; }
