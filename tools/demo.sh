#!/usr/bin/env bash
# The demo on a fresh machine: installs Deno if needed, then runs `deno task demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure_deno.sh
exec deno task demo "$@"
