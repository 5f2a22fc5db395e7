#!/usr/bin/env bash
# deno task test:kernel — run the project's tests inside real Linux 6.12 guests:
#   debian  the stock Debian kernel (system heap, udmabuf, vgem and vivid loaded)
#   custom  tinyconfig + custom.config (CMA heap "reserved" at 0x68000000, sw_sync, DMABUF_DEBUG)
# In each guest: `deno test -A tests/` with DMABUF_KERNEL=linux, then examples/two_drivers.ts and
# examples/pipeline.ts (debian: also examples/drm_prime.ts on vgem, and examples/camera.ts and
# examples/loopback.ts on vivid). The host type-checks tests/ first (run.sh --host-precheck) and
# ships the cache, so the guest does not spend its slow TCG cycles on tsc. Locally a stage that cannot run on this
# machine is skipped with its reason; with CI=true every skip is a failure. Prints the time of
# every stage and each guest's `deno test` summary at the end.
# Usage: test.sh [debian|custom]...   (default: both)
source "$(dirname "$0")/lib.sh"

kernels=("$@")
[[ ${#kernels[@]} -gt 0 ]] || kernels=(debian custom)
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
    *) die "test.sh: unknown kernel '$k' (debian|custom)" ;;
  esac
done

echo
echo "== tools/kernel/test.sh: time per stage (seconds) =="
awk -F'\t' '{ printf "  %-22s %8s  exit %s\n", $1, $2, $3 }' "$TIMINGS_FILE"
for k in "${kernels[@]}"; do
  line=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$logs/guest-$k.log" 2>/dev/null | tail -n1 || true)
  echo "  deno test in the $k guest: ${line:-no test summary (guest did not get that far)}"
done
for s in "${skips[@]}"; do echo "SKIPPED: $s"; done
for f in "${failures[@]}"; do echo "FAILED: $f"; done
if [[ ${#failures[@]} -gt 0 ]]; then echo "kernel tests: FAILED"; exit 1; fi
if [[ ${#skips[@]} -gt 0 ]]; then
  echo "kernel tests: no failures, but ${#skips[@]} stage(s) skipped (reasons in the SKIP lines above)"
else
  echo "kernel tests: passed"
fi
