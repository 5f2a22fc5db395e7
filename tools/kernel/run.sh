#!/usr/bin/env bash
# Boot a test guest under qemu (TCG) and run commands inside it, in /project (this checkout).
#
#   run.sh --kernel debian|custom|arm64 [--cmd 'sh command']... [--collect GUEST_PATH:HOST_PATH]...
#          [--env NAME=VALUE]... [--modprobe MODULE]... [--timeout SECONDS] [--no-module]
#          [--host-precheck 'deno command']... [--add HOST_PATH:GUEST_PATH]...
#
# Prepares the kernel (cached), builds test_driver.ko against it, builds the initramfs, boots,
# streams the guest console to stdout and exits with the guest's status. Fails loudly (exit 1) if
# the guest never prints its end marker, 124 on timeout. Each --cmd runs in order (all of them
# run; the status is the first non-zero one). --collect copies a guest file to the host through
# the console (base64 between @@BEGIN name@@ / @@END name@@). --modprobe (debian kernel) puts the
# module and its dependencies into the initramfs and loads it at boot. Default command:
# `deno --version`. --host-precheck runs a deno command on the host (in the checkout) with a fresh
# DENO_DIR that goes into the guest: `deno test --no-run …` there turns the guest's type check
# (tens of seconds under TCG) into a cache hit. --add puts a host file into the initramfs.
# arm64: qemu-system-aarch64 -machine virt with the seed board's device tree (prepare-arm64.sh),
# the kernel of build-custom.sh arm64, Deno and busybox for arm64.
source "$(dirname "$0")/lib.sh"

kernel='' timeout_s=${DMABUF_GUEST_TIMEOUT:-1800} with_module=1
cmds=() collects=() envs=() modprobes=() prechecks=() adds=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --kernel) kernel=$2; shift 2 ;;
    --cmd) cmds+=("$2"); shift 2 ;;
    --collect) collects+=("$2"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --modprobe) modprobes+=("$2"); shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --no-module) with_module=0; shift ;;
    --host-precheck) prechecks+=("$2"); shift 2 ;;
    --add) adds+=("$2"); shift 2 ;;
    -h|--help) sed -n "2,22p" "$0"; exit 0 ;;
    *) die "run.sh: unknown argument '$1' (see --help)" ;;
  esac
done
[[ ${#cmds[@]} -gt 0 ]] || cmds=("deno --version")

# no_timer_check: on a loaded host TCG runs the guest so slowly that the kernel's IO-APIC timer
# check fails and it panics at 0.07 s ("IO-APIC + timer doesn't work!"), seen twice here.
append="console=ttyS0 quiet panic=-1 rdinit=/init no_timer_check"
module_make=() initramfs_arch=()
case $kernel in
  debian)
    kdir=$(timed prepare-debian "$KERNEL_TOOLS_DIR/prepare.sh")
    kver=$(debian_kver)
    vmlinuz=$kdir/root/boot/vmlinuz-$kver
    modroot=$kdir/root/lib/modules/$kver
    ;;
  custom)
    [[ ${#modprobes[@]} == 0 ]] || die "--modprobe: the custom kernel has no module tree"
    kdir=$(timed build-custom "$KERNEL_TOOLS_DIR/build-custom.sh")
    vmlinuz=$kdir/bzImage
    # Put the CMA area where the seed's global_cma@68000000 was (x86, no IOMMU: DMA addr = phys).
    append+=" cma=128M@0x68000000"
    ;;
  arm64)
    [[ ${#modprobes[@]} == 0 ]] || die "--modprobe: the arm64 kernel has no module tree"
    userland=$(timed prepare-arm64 "$KERNEL_TOOLS_DIR/prepare-arm64.sh")
    kdir=$(timed build-arm64 "$KERNEL_TOOLS_DIR/build-custom.sh" arm64)
    vmlinuz=$kdir/Image
    dtb=$(arm64_dtb)
    [[ -f $dtb ]] || die "seed board DTB missing: $dtb"
    # The CMA area comes from the device tree's global_cma@68000000, not from the command line.
    append="console=ttyAMA0 quiet panic=-1 rdinit=/init"
    module_make=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
    initramfs_arch=(--arch arm64 --userland "$userland")
    ;;
  *) die "run.sh: --kernel debian|custom|arm64 is required" ;;
esac
[[ -f $vmlinuz ]] || die "kernel image missing: $vmlinuz"

mkdir -p "$CACHE/runs"
run=$(mktemp -d "$CACHE/runs/$kernel.XXXXXX")
trap 'rm -rf "$run"' EXIT
ov=$run/overlay
mkdir -p "$ov/etc/dmabuf-guest" "$ov/lib/modules/dmabuf"

if [[ $with_module == 1 ]]; then
  ko=$(timed module-build "$KERNEL_TOOLS_DIR/build-module.sh" "$kdir/build" "$kdir/module" "${module_make[@]}")
  cp "$ko" "$ov/lib/modules/dmabuf/"
fi

# add_module NAME: copy NAME and (recursively) its dependencies, decompressed for busybox modprobe.
add_module() {
  local name=$1 f rel dep
  f=$(find "$modroot/kernel" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) | head -n1)
  [[ -n $f ]] || die "module $name not found under $modroot"
  rel=${f#"$modroot"/}; rel=${rel%.xz}
  [[ -f $ov/lib/modules/$kver/$rel ]] && return 0
  mkdir -p "$(dirname "$ov/lib/modules/$kver/$rel")"
  case $f in *.xz) xz -dc "$f" >"$ov/lib/modules/$kver/$rel" ;; *) cp "$f" "$ov/lib/modules/$kver/$rel" ;; esac
  for dep in $(modinfo -F depends "$f" | tr ',' ' '); do add_module "$dep"; done
}
if [[ ${#modprobes[@]} -gt 0 ]]; then
  need_cmds depmod:kmod modinfo:kmod xz:xz-utils || die "--modprobe needs depmod, modinfo (kmod) and xz"
  for m in "${modprobes[@]}"; do add_module "$m"; echo "$m" >>"$ov/etc/dmabuf-guest/modprobe"; done
  cp "$modroot"/modules.builtin* "$modroot/modules.order" "$ov/lib/modules/$kver/" 2>/dev/null || true
  depmod -b "$ov" "$kver" || die "depmod failed"
fi

for a in "${adds[@]}"; do
  [[ $a == *:/* ]] || die "--add wants HOST_PATH:/GUEST_PATH, got '$a'"
  [[ -f ${a%%:*} ]] || die "--add: ${a%%:*} does not exist"
  install -D -m 0755 "${a%%:*}" "$ov${a#*:}"
done

# The run description read by /init.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "export DMABUF_KERNEL_FLAVOR=$kernel"
  [[ -n ${CI:-} ]] && echo "export CI=$(sq "$CI")"
  for e in "${envs[@]}"; do
    [[ $e == *=* ]] || die "--env wants NAME=VALUE, got '$e'"
    echo "export ${e%%=*}=$(sq "${e#*=}")"
  done
} >"$ov/etc/dmabuf-guest/env"
i=0
for c in "${cmds[@]}"; do printf '%s\n' "$c" >"$ov/etc/dmabuf-guest/cmd.$(printf %02d $i)"; i=$((i + 1)); done
: >"$ov/etc/dmabuf-guest/collect"
for c in "${collects[@]}"; do
  [[ $c == *:* ]] || die "--collect wants GUEST_PATH:HOST_PATH, got '$c'"
  echo "${c%%:*} collect$((${#c} % 1000))-$RANDOM" >>"$ov/etc/dmabuf-guest/collect"
done
mapfile -t collect_names < <(awk '{ print $2 }' "$ov/etc/dmabuf-guest/collect")

if [[ ${#prechecks[@]} -gt 0 ]]; then
  mkdir -p "$ov/deno-dir"
  for c in "${prechecks[@]}"; do
    (cd "$REPO_ROOT" && DENO_DIR=$ov/deno-dir NO_COLOR=1 timed host-precheck bash -c "$c" >&2) \
      || log "host precheck '$c' failed: the guest will report the same errors"
  done
fi

timed initramfs "$KERNEL_TOOLS_DIR/mkinitramfs.sh" --out "$run/initrd.gz" --overlay-dir "$ov" "${initramfs_arch[@]}"

need_cmds mkfifo:coreutils base64:coreutils || skip "coreutils missing and not installable"
if [[ $kernel == arm64 ]]; then
  need_cmds qemu-system-aarch64:qemu-system-arm \
    || skip "qemu-system-aarch64 not installed and not installable"
  mapfile -t qargs < <(arm64_qemu_args)
  qemu=(qemu-system-aarch64 -machine virt "${qargs[@]}" -dtb "$dtb")
else
  need_cmds qemu-system-x86_64:qemu-system-x86 \
    || skip "qemu-system-x86_64 not installed and not installable"
  # Nested KVM fails on these hosts: TCG with one thread per vCPU.
  qemu=(qemu-system-x86_64 -m 2048 -smp 2 -accel tcg,thread=multi -cpu max)
fi
log "booting $kernel kernel: $vmlinuz (timeout ${timeout_s}s)"
console=$run/console.log
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# boot_once: one boot, console in $console; sets qemu_rc, timed_out, ready_at, t0.
boot_once() {
  rm -f "$run/fifo" "$console"
  mkfifo "$run/fifo"
  # The console log keeps everything; the terminal is spared the base64 of collected files.
  sed -u 's/\r$//' <"$run/fifo" | tee "$console" | sed -u '/^@@BEGIN /,/^@@END /{/^@@/!d}' &
  tee_pid=$!
  t0=$(date +%s.%N)
  "${qemu[@]}" -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$run/initrd.gz" -append "$append" \
    </dev/null >"$run/fifo" 2>&1 &
  qemu_pid=$!
  timed_out=0 ready_at='' exit_seen_at=''
  while kill -0 "$qemu_pid" 2>/dev/null; do
    if [[ -z $ready_at ]] && grep -q '@@DMABUF-GUEST-READY' "$console" 2>/dev/null; then
      ready_at=$(elapsed)
    fi
    if grep -q '@@DMABUF-GUEST-EXIT' "$console" 2>/dev/null; then
      exit_seen_at=${exit_seen_at:-$SECONDS}
      # poweroff should end qemu; if it hangs, stop it ourselves.
      if (( SECONDS - exit_seen_at > 15 )); then log "guest reported but qemu did not exit; stopping it"; kill "$qemu_pid"; fi
    fi
    if awk -v e="$(elapsed)" -v t="$timeout_s" 'BEGIN { exit !(e > t) }'; then
      timed_out=1; log "timeout after ${timeout_s}s; stopping qemu"; kill "$qemu_pid"; sleep 2; kill -9 "$qemu_pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
  qemu_rc=0; wait "$qemu_pid" || qemu_rc=$?
  wait "$tee_pid" || true
}
# A guest that dies before /init reports READY ran none of our code: under multi-threaded TCG the
# x86 kernel has been seen to oops while patching its own text at boot (int3 in sched_clock_cpu,
# "Fatal exception in interrupt"), and to fail its IO-APIC timer check on a loaded host. Such a
# boot is retried, at most twice, and said so; a guest that got READY is never booted again.
for attempt in 1 2 3; do
  boot_once
  if grep -qE '@@DMABUF-GUEST-(READY|EXIT)' "$console" || [[ $timed_out == 1 ]] || [[ $attempt == 3 ]]; then break; fi
  cp "$console" "$run/console.boot-$attempt.log"
  log "the $kernel guest died during boot, before /init ran (attempt $attempt of 3; emulator fault, above); booting it again"
done
total=$(elapsed)
if [[ -z $ready_at ]]; then
  # The guest finished between two polls: derive the host time from the guest's own clock.
  up_ready=$(sed -n 's/^.*@@DMABUF-GUEST-READY uptime=\([0-9.]*\).*$/\1/p' "$console" | head -n1)
  up_exit=$(sed -n 's/^.*@@DMABUF-GUEST-CMD-EXIT [0-9]* uptime=\([0-9.]*\)@@.*$/\1/p' "$console" | tail -n1)
  [[ -n $up_ready && -n $up_exit ]] \
    && ready_at=$(awk -v t="$total" -v r="$up_ready" -v e="$up_exit" 'BEGIN { printf "%.1f", t - (e - r) }')
fi
# The commands' own time, on the guest clock: from READY to the last command's exit.
up_ready=$(sed -n 's/^.*@@DMABUF-GUEST-READY uptime=\([0-9.]*\).*$/\1/p' "$console" | head -n1)
up_done=$(sed -n 's/^.*@@DMABUF-GUEST-CMD-EXIT [0-9]* uptime=\([0-9.]*\)@@.*$/\1/p' "$console" | tail -n1)
cmds_s=nan
[[ -n $up_ready && -n $up_done ]] && cmds_s=$(awk -v r="$up_ready" -v e="$up_done" 'BEGIN { printf "%.1f", e - r }')
log "guest $kernel: boot to ready ${ready_at:-?}s, commands ${cmds_s}s, total ${total}s (host wall; qemu exit $qemu_rc)"
if [[ -n $TIMINGS_FILE ]]; then
  printf '%s\t%s\t0\n' "boot-to-ready-$kernel" "${ready_at:-nan}" "guest-commands-$kernel" "$cmds_s" \
    "guest-total-$kernel" "$total" >>"$TIMINGS_FILE"
fi

status=$(sed -n 's/^.*@@DMABUF-GUEST-EXIT \([0-9]*\)@@.*$/\1/p' "$console" | tail -n1)
if [[ -z $status ]]; then
  [[ $timed_out == 1 ]] && { log "FAIL: guest timed out without reporting (no @@DMABUF-GUEST-EXIT marker)"; exit 124; }
  log "FAIL: guest never reported its exit status (no @@DMABUF-GUEST-EXIT marker; qemu exit $qemu_rc)"
  exit 1
fi

# Extract collected files.
idx=0
for c in "${collects[@]}"; do
  name=${collect_names[$idx]}; idx=$((idx + 1))
  host=${c#*:}
  if grep -q "^@@MISSING $name@@" "$console"; then
    log "FAIL: --collect ${c%%:*}: the file does not exist in the guest"; [[ $status != 0 ]] || status=1; continue
  fi
  mkdir -p "$(dirname "$host")"
  sed -n "/^@@BEGIN $name@@\$/,/^@@END $name@@\$/p" "$console" | sed '1d;$d' | base64 -d >"$host" \
    || { log "FAIL: --collect ${c%%:*}: could not decode"; [[ $status != 0 ]] || status=1; continue; }
  log "collected ${c%%:*} → $host ($(stat -c %s "$host") bytes)"
done
log "guest exit status: $status"
exit "$status"
