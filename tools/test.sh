#!/usr/bin/env bash
# The tests, on a fresh machine: installs Deno if needed, runs the host tests (`deno task test`:
# unit, doc and conformance tests on the simulated kernel, and on this machine's kernel if it
# has dma-heaps), then the same tests inside real Linux 6.12 guests (`tools/kernel/test.sh`,
# which installs qemu and the kernels through apt), and finally holds the simulated kernel's
# conformance observations against each real kernel's. Ends with "N passed, M failed".
#
#   bash tools/test.sh          everything (the guests take a while on a cold cache)
#   bash tools/test.sh host     the host tests only (= deno task test)
#   DMABUF_GUESTS=debian,custom bash tools/test.sh   only some guests (default: all three,
#                                                     debian, custom and the seed's arm64 board)
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/ensure_deno.sh
export NO_COLOR=1
mode=${1:-all}
results=${DMABUF_KERNEL_RESULTS:-/tmp/dmabuf-conformance}
mkdir -p "$results"
export DMABUF_KERNEL_RESULTS=$results
log=$(mktemp)
status=0

echo "== host: deno task test"
DMABUF_CONFORMANCE_SIM_OUT="$results/conformance-simulated.json" deno task test 2>&1 | tee -a "$log"
[[ ${PIPESTATUS[0]} == 0 ]] || status=1

if [[ $mode == all ]]; then
  echo "== real kernels: tools/kernel/test.sh"
  bash tools/kernel/test.sh 2>&1 | tee -a "$log"
  [[ ${PIPESTATUS[0]} == 0 ]] || status=1
  echo "== simulated kernel vs real kernels"
  # The guests of tools/kernel/test.sh: DMABUF_GUESTS (comma-separated), default
  # debian,custom,arm64 (the same default as tools/kernel/test.sh). With CI=true each of them must
  # have left its conformance results.
  IFS=, read -r -a guests <<<"${DMABUF_GUESTS:-debian,custom,arm64}"
  for k in "${guests[@]}"; do
    real="$results/conformance-$k.json"
    if [[ -f $real ]]; then
      deno run --allow-read tests/conformance/compare.ts \
        "$results/conformance-simulated.json" "$real" 2>&1 | tee -a "$log"
      [[ ${PIPESTATUS[0]} == 0 ]] || status=1
    elif [[ ${CI:-} == true ]]; then
      echo "FAILED: no conformance results from the $k guest"
      status=1
    else
      echo "skipped: no conformance results from the $k guest"
    fi
  done
fi

# Every `deno test` summary line (host and guests) counts.
read -r passed failed < <(grep -aE '^(ok|FAILED) \| [0-9]+ passed' "$log" |
  sed -E 's/.*\| ([0-9]+) passed \| ([0-9]+) failed.*/\1 \2/' |
  awk '{ p += $1; f += $2 } END { print p + 0, f + 0 }')
rm -f "$log"
[[ $status == 0 || $failed != 0 ]] || failed=1
echo "$passed passed, $failed failed"
exit "$status"
