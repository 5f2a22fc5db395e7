#!/usr/bin/env bash
# Sourced by the entry scripts: makes sure `deno` is on PATH, installing 2.9.6 from npm if not.
if ! command -v deno >/dev/null 2>&1; then
  echo "== Deno is missing: installing deno@2.9.6 from npm" >&2
  npm i -g deno@2.9.6 >&2
  hash -r
fi
