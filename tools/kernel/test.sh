#!/usr/bin/env bash
# deno task test:kernel — run the project's tests inside real Linux 6.12 guests:
#   debian  the stock Debian kernel (system heap, udmabuf, vgem and vivid loaded)
#   custom  tinyconfig + custom.config (CMA heap "reserved" at 0x68000000, sw_sync, DMABUF_DEBUG)
#   arm64   the seed's board — qemu's arm64 virt machine with global_cma@68000000 in its device
#           tree, tinyconfig + arm64.config cross-built, Deno for arm64
# In each x86_64 guest: `deno test -A tests/` with DMABUF_KERNEL=linux, then examples/two_drivers.ts and
# examples/pipeline.ts (debian: also examples/drm_prime.ts on vgem, and examples/camera.ts and
# examples/loopback.ts on vivid). The host type-checks tests/ first (run.sh --host-precheck) and
# ships the cache, so the guest does not spend its slow TCG cycles on tsc. In the arm64 guest
# (slower under TCG, see README): the tests that exercise what differs on arm64 (ARM64_TESTS
# below), examples/two_drivers.ts and examples/pipeline.ts. Locally a stage that cannot run on this
# machine is skipped with its reason; with CI=true every skip is a failure. Prints the time of
# every stage and each guest's `deno test` summary at the end.
# Usage: test.sh [debian|custom|arm64]...   (default: $DMABUF_GUESTS, comma-separated, or
#        debian custom arm64)
source "$(dirname "$0")/lib.sh"

kernels=("$@")
# The default: all three guests (tools/test.sh reads the same variable and default).
[[ ${#kernels[@]} -gt 0 ]] || IFS=, read -r -a kernels <<<"${DMABUF_GUESTS:-debian,custom,arm64}"
export DMABUF_KERNEL_TIMINGS=${DMABUF_KERNEL_TIMINGS:-$(mktemp)}
TIMINGS_FILE=$DMABUF_KERNEL_TIMINGS
ci=false; [[ ${CI:-} == true || ${CI:-} == 1 ]] && ci=true

failures=() skips=()
# stage NAME CMD...: run a stage, sort its outcome into passed / skipped / failed.
stage() {
  local name=$1; shift
  local rc=0
  timed "$name" "$@" || rc=$?
  if [[ $rc == "$EXIT_SKIP" ]]; then
    if [[ $ci == true ]]; then failures+=("$name (skipped, but CI=true)"); else skips+=("$name"); fi
  elif [[ $rc != 0 ]]; then
    failures+=("$name (exit $rc)")
  fi
  return "$rc"
}

# Conformance observations come back to the host, one file per kernel, for the sim-vs-real compare.
results=${DMABUF_KERNEL_RESULTS:-$CACHE/results}
mkdir -p "$results"
cmds=(--env DMABUF_KERNEL=linux --env DMABUF_CONFORMANCE_OUT=/tmp/conformance.json
  --host-precheck "deno test --no-run -A tests/"
  --cmd "deno test -A --v8-flags=--expose-gc tests/")
# The examples run unchanged on the real kernel: the seed's experiment, and the §2.6 pipeline
# (a few 1080p frames through three stages of the module's queues, every byte verified).
cmds+=(--cmd "deno run -A examples/two_drivers.ts" --cmd "deno run -A examples/pipeline.ts 6 3")
# Real importers nobody here wrote (debian guest, vivid loaded): frames from vivid's capture
# queue into system-heap buffers, and a CPU-written frame through vivid's output and back.
v4l2_cmds=(--modprobe vivid --cmd "deno run -A examples/camera.ts 8"
  --cmd "deno run -A examples/loopback.ts 4")

# The arm64 guest runs what depends on the architecture or on the seed's board, not the whole
# suite (TCG runs arm64 code several times slower than x86_64 code on these hosts): the
# conformance suite (every syscall, errno and fdinfo the API relies on, and the seed board's heap,
# CMA placement and kernel log, held against the simulated board by tools/test.sh), the uapi
# layout probe (struct padding, ioctl numbers, flags and errnos from arm64's own headers, through
# a probe cross-compiled here, since the guest has no compiler), and tests/kernel/ (the importer
# module: the seed's smoke test, queues, fences, poll, the nonblocking FFI calls, two processes).
# `--no-check`: the host has type-checked these files (--host-precheck; `deno task check`), and
# TypeScript's types do not depend on the architecture, while tsc under arm64 TCG took 8 minutes
# for tests/uapi_test.ts alone (measured at load ≈ 25).
ARM64_TESTS=(tests/conformance_linux_test.ts tests/uapi_test.ts tests/kernel/)
arm64_cmds=(--env DMABUF_KERNEL=linux --env DMABUF_CONFORMANCE_OUT=/tmp/conformance.json
  --host-precheck "deno test --no-run -A ${ARM64_TESTS[*]}"
  --cmd "deno test --no-check -A --v8-flags=--expose-gc ${ARM64_TESTS[*]}"
  --cmd "deno run -A examples/two_drivers.ts" --cmd "deno run -A examples/pipeline.ts 6 3")
# uapi_probe_arm64: cross-compile tests/fixtures/uapi_probe.c against arm64's glibc and kernel
# headers (libc6-dev-arm64-cross, linux-libc-dev-arm64-cross); prints the binary's path.
uapi_probe_arm64() {
  need_cmds aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu >&2 || return "$EXIT_SKIP"
  need_pkgs libc6-dev-arm64-cross linux-libc-dev-arm64-cross >&2 || return "$EXIT_SKIP"
  local out=$logs/uapi-probe-arm64
  aarch64-linux-gnu-gcc -O0 -Wall -static -o "$out" "$REPO_ROOT/tests/fixtures/uapi_probe.c" >&2 || return 1
  echo "$out"
}

# guest KERNEL ARGS...: boot a guest, keep its console for the pass/fail summary.
guest() {
  local k=$1; shift
  "$KERNEL_TOOLS_DIR/run.sh" --kernel "$k" "$@" 2>&1 | tee "$logs/guest-$k.log"
}
logs=$(mktemp -d)

for k in "${kernels[@]}"; do
  case $k in
    debian) stage prepare-debian "$KERNEL_TOOLS_DIR/prepare.sh" >/dev/null || continue
            # Last: the issue-10 set-ups (non-root with 0600 heaps, no heaps, no nodes) remove
            # device nodes, so they run after everything else.
            stage guest-debian guest debian --modprobe vgem "${cmds[@]}" "${v4l2_cmds[@]}" \
              --cmd "deno run -A examples/drm_prime.ts" \
              --cmd "sh tools/kernel/trust-scenarios.sh" \
              --collect "/tmp/conformance.json:$results/conformance-debian.json" \
              --collect "/tmp/dmesg.txt:$results/dmesg-debian.txt" || true ;;
    custom) stage build-custom "$KERNEL_TOOLS_DIR/build-custom.sh" >/dev/null || continue
            stage guest-custom guest custom "${cmds[@]}" \
              --collect "/tmp/conformance.json:$results/conformance-custom.json" \
              --collect "/tmp/dmesg.txt:$results/dmesg-custom.txt" || true ;;
    arm64)  stage prepare-arm64 "$KERNEL_TOOLS_DIR/prepare-arm64.sh" >/dev/null || continue
            stage build-arm64 "$KERNEL_TOOLS_DIR/build-custom.sh" arm64 >/dev/null || continue
            stage uapi-probe-arm64 uapi_probe_arm64 >"$logs/uapi-probe-path" || continue
            probe=$(cat "$logs/uapi-probe-path")
            stage guest-arm64 guest arm64 "${arm64_cmds[@]}" --timeout "${DMABUF_GUEST_TIMEOUT:-2400}" \
              --env DMABUF_UAPI_PROBE=/usr/lib/dmabuf-tests/uapi-probe \
              --add "$probe:/usr/lib/dmabuf-tests/uapi-probe" \
              --collect "/tmp/conformance.json:$results/conformance-arm64.json" \
              --collect "/tmp/dmesg.txt:$results/dmesg-arm64.txt" || true ;;
    *) die "test.sh: unknown kernel '$k' (debian|custom|arm64)" ;;
  esac
done

echo
echo "== tools/kernel/test.sh: time per stage (seconds) =="
awk -F'\t' '{ printf "  %-22s %8s  exit %s\n", $1, $2, $3 }' "$TIMINGS_FILE"
# Every `deno test` summary of a guest, in order (the Debian guest's suite, then its trust scenarios).
for k in "${kernels[@]}"; do
  lines=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$logs/guest-$k.log" 2>/dev/null || true)
  echo "  deno test in the $k guest:"
  echo "${lines:-no test summary (guest did not get that far)}" | sed 's/^/    /'
done
for s in "${skips[@]}"; do echo "SKIPPED: $s"; done
for f in "${failures[@]}"; do echo "FAILED: $f"; done
if [[ ${#failures[@]} -gt 0 ]]; then echo "kernel tests: FAILED"; exit 1; fi
if [[ ${#skips[@]} -gt 0 ]]; then
  echo "kernel tests: no failures, but ${#skips[@]} stage(s) skipped (reasons in the SKIP lines above)"
else
  echo "kernel tests: passed"
fi
