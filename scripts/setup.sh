#!/usr/bin/env bash
# Installs what `make test` and `make demo` need and a fresh machine lacks.
# Idempotent: each step checks before it installs. Only registries are used.
set -euo pipefail

say() { printf 'setup: %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo not found; install Rust with rustup first" >&2
  exit 1
fi

# The verifier crate must keep building for the edge (Workers, browsers, Node).
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
      say "adding $component"
      rustup component add "$component"
    fi
  done
elif ! rustc --print target-libdir --target wasm32-unknown-unknown >/dev/null 2>&1; then
  say "no rustup and no wasm32-unknown-unknown target; install the target" >&2
  exit 1
fi
