#!/bin/sh
# Runs inside the Debian guest (tools/kernel/test.sh, last command: it removes device nodes).
# Issue 10's real-kernel set-ups, each checked by tests/kernel/trust_scenario_test.ts, all
# without DMABUF_KERNEL:
#   nonroot  user nobody, heap nodes at the kernel's default root 0600, /dev/udmabuf 0666
#            (what systemd's uaccess rule gives the seat user)
#   noheaps  root, /dev/dma_heap emptied, /dev/udmabuf working
#   nonodes  root, no dma-buf node at all
unset DMABUF_KERNEL
status=0
# --no-check: the host type-checks tests/ (deno task check, run.sh --host-precheck); under TCG a
# type check of its own would cost minutes per run.
test_file=tests/kernel/trust_scenario_test.ts

echo "== trust scenario nonroot"
ls -l /dev/dma_heap/ /dev/udmabuf
grep -q '^nobody:' /etc/passwd || echo 'nobody:x:65534:65534:nobody:/tmp/nobody:/bin/sh' >>/etc/passwd
grep -q '^nogroup:' /etc/group || echo 'nogroup:x:65534:' >>/etc/group
chmod 0666 /dev/udmabuf
rm -rf /tmp/nobody && mkdir -p /tmp/nobody
cp -a "$DENO_DIR" /tmp/nobody/deno-dir
chown -R 65534:65534 /tmp/nobody
su -p -s /bin/sh nobody -c "HOME=/tmp/nobody DENO_DIR=/tmp/nobody/deno-dir \
  DMABUF_TRUST_SCENARIO=nonroot deno test -A --no-check $test_file" || status=1

echo "== trust scenario noheaps"
rm -f /dev/dma_heap/*
DMABUF_TRUST_SCENARIO=noheaps deno test -A --no-check $test_file || status=1

echo "== trust scenario nonodes"
rm -f /dev/udmabuf
rmdir /dev/dma_heap 2>/dev/null
DMABUF_TRUST_SCENARIO=nonodes deno test -A --no-check $test_file || status=1
exit $status
