#!/bin/sh
# /init of the test guest (busybox sh). Mounts the pseudo file systems, loads the test_driver module
# and any requested modules, runs the commands in /etc/dmabuf-guest/cmd.N in /project, prints the
# files to collect between markers and the exit status as "@@DMABUF-GUEST-EXIT <status>@@", then
# powers off. tools/kernel/run.sh parses those markers.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug
# The initramfs root is already a writable tmpfs. No tmpfs on /tmp: the project tree sits at its
# host path, which may be under /tmp (CI clones anywhere), and a mount would hide it.
mkdir -p /tmp && chmod 1777 /tmp
mkdir -p /tmp/home /tmp/deno-dir

export HOME=/tmp/home DENO_DIR=/tmp/deno-dir NO_COLOR=1 TERM=dumb
# A DENO_DIR prepared on the host (run.sh --host-precheck) carries the type-check cache.
[ -d /deno-dir ] && export DENO_DIR=/deno-dir
[ -f /etc/dmabuf-guest/env ] && . /etc/dmabuf-guest/env

status=0
fail() { echo "@@DMABUF-GUEST-ERROR $*@@"; [ "$status" != 0 ] || status=1; }

if [ -f /lib/modules/dmabuf/test_driver.ko ]; then
  insmod /lib/modules/dmabuf/test_driver.ko || fail "insmod test_driver.ko failed"
fi
while read -r m; do
  [ -n "$m" ] || continue
  modprobe "$m" || fail "modprobe $m failed"
done </etc/dmabuf-guest/modprobe 2>/dev/null

echo "@@DMABUF-GUEST-READY uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)@@"
cd /project || fail "no /project"
for c in /etc/dmabuf-guest/cmd.*; do
  [ -f "$c" ] || continue
  echo "@@DMABUF-GUEST-CMD $(cat "$c")@@"
  sh "$c"
  rc=$?
  echo "@@DMABUF-GUEST-CMD-EXIT $rc uptime=$(cut -d' ' -f1 /proc/uptime)@@"
  [ "$rc" = 0 ] || [ "$status" != 0 ] || status=$rc
done

# A kernel warning, BUG or oops during the run is a failure even when every command passed
# (e.g. dma_map_sgtable's WARN for a device without a DMA mask). DMABUF_GUEST_ALLOW_KERNEL_WARNINGS=1
# only reports them. The whole log stays in /tmp/dmesg.txt for --collect.
dmesg >/tmp/dmesg.txt
# One known message of a driver nobody here wrote is tolerated, and said so: vivid's capture and
# output kthreads compute their next frame time from jiffies, and when TCG runs the guest slowly
# they fall behind and pass a negative timeout (kernel/time: "schedule_timeout: wrong timeout
# value", with a stack dump through vivid_thread_vid_cap/out). It says the emulator is slow, not
# that a buffer went wrong; any other stack in the same log still fails the run.
awk '
  /schedule_timeout: wrong timeout value/ { held = $0 "\n"; n = 1; next }
  n > 0 {
    held = held $0 "\n"; n++
    if ($0 ~ /<\/TASK>/ || n > 60) {
      if (held ~ /vivid_thread/) tolerated++; else printf "%s", held
      n = 0; held = ""
    }
    next
  }
  { print }
  END { if (n > 0) printf "%s", held; if (tolerated) print "tolerated " tolerated > "/tmp/dmesg.tolerated" }
' /tmp/dmesg.txt >/tmp/dmesg.checked
if [ -s /tmp/dmesg.tolerated ]; then
  echo "@@DMABUF-GUEST-NOTE vivid: $(cat /tmp/dmesg.tolerated) 'schedule_timeout: wrong timeout value' stack dump(s) from vivid's kthreads (slow TCG guest), tolerated@@"
fi
if grep -qE 'WARNING:|BUG:|Oops|Call Trace:|general protection fault' /tmp/dmesg.checked; then
  echo "@@DMABUF-GUEST-KERNEL-WARNINGS@@"
  grep -E -A12 'WARNING:|BUG:|Oops|Call Trace:|general protection fault' /tmp/dmesg.checked | head -n 80
  if [ "${DMABUF_GUEST_ALLOW_KERNEL_WARNINGS:-0}" = 1 ]; then
    echo "(allowed by DMABUF_GUEST_ALLOW_KERNEL_WARNINGS=1)"
  else
    fail "the kernel logged a warning or oops during the run"
  fi
fi

# Collect files: lines "<guest path> <name>".
while read -r path name; do
  [ -n "$path" ] || continue
  if [ -f "$path" ]; then
    echo "@@BEGIN $name@@"
    base64 "$path"
    echo "@@END $name@@"
  else
    echo "@@MISSING $name@@"
  fi
done </etc/dmabuf-guest/collect 2>/dev/null

echo "@@DMABUF-GUEST-EXIT $status@@"
sync
poweroff -f
# Not reached unless poweroff failed; -no-reboot turns the reboot into a qemu exit.
reboot -f
