#!/usr/bin/env bash
# Sourced by the entry scripts: makes sure `deno` is on PATH, installing 2.9.6 from npm if not
# (and npm itself through apt when a fresh machine lacks it).
if ! command -v deno >/dev/null 2>&1; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "== npm is missing: installing it through apt" >&2
    sudo_=(); [[ $(id -u) == 0 ]] || sudo_=(sudo)
    "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm >&2 \
      || { "${sudo_[@]}" apt-get update >&2 && "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends npm >&2; }
  fi
  echo "== Deno is missing: installing deno@2.9.6 from npm" >&2
  npm i -g deno@2.9.6 >&2
  hash -r
fi
