#!/usr/bin/env bash
# Installs what `make test` and `make demo` need and a fresh machine lacks.
# Idempotent: each step checks before it installs. Only registries are used.
set -euo pipefail
cd "$(dirname "$0")/.."

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

# Node tooling (wasm-opt from npm binaryen, jose for interop tests), from the
# lockfile. Node 20+ and npm come with the machine.
if ! command -v npm >/dev/null 2>&1; then
  say "npm not found; install Node.js 20 or later" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing JavaScript tooling from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
fi

# schemathesis for the API contract run (scripts/api-contract.sh), pinned
# with its dependencies, in a virtual environment of its own.
if [ ! -x target/venv/bin/schemathesis ] || [ tests/api/requirements.txt -nt target/venv/.installed ]; then
  if ! command -v python3 >/dev/null 2>&1; then
    say "python3 not found; install Python 3.10 or later" >&2
    exit 1
  fi
  say "installing schemathesis into target/venv from tests/api/requirements.txt"
  python3 -m venv target/venv
  target/venv/bin/pip install --quiet --disable-pip-version-check -r tests/api/requirements.txt
  touch target/venv/.installed
fi

# Headless Chromium for the demo's browser tests, from Debian (Playwright's
# own browser download cannot work without internet).
if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium from Debian"
  apt_get() { if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  apt_get update -qq && apt_get install -y -qq chromium >/dev/null
fi

# A Postgres server for the issuer's tests (Debian's, started if none answers).
scripts/setup-postgres.sh

# The wasm-bindgen CLI must match the crate version in Cargo.lock exactly,
# and worker-build the worker crate's.
scripts/setup-wasm-bindgen.sh
scripts/setup-worker-build.sh
