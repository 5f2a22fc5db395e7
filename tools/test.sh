#!/usr/bin/env bash
# The tests on a fresh machine: installs Deno if needed, then runs `deno task test` and prints
# the closing "N passed, M failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/ensure_deno.sh
export NO_COLOR=1
log=$(mktemp)
deno task test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1)
passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
rm -f "$log"
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
