#!/usr/bin/env bash
# Makes sure `worker-build` on PATH is the version of the worker crate in
# Cargo.lock; installs it from crates.io if not (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '/^name = "worker"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(worker-build --version 2>/dev/null | awk '{print $NF}' || true)
if [ "$have" != "$want" ]; then
  echo "installing worker-build $want (found: ${have:-none}); takes a few minutes"
  cargo install -q worker-build --version "$want" --locked
fi
