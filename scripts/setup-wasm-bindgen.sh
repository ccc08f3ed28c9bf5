#!/usr/bin/env bash
# Makes sure `wasm-bindgen` on PATH is the version of the wasm-bindgen crate
# in Cargo.lock (they must match exactly). Installs it from crates.io if not;
# without --locked, because its own lockfile names a crate release the
# registry lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (found: ${have:-none}); takes about two minutes"
  # --debug: the same output byte for byte (checked 2026-12-02: the npm
  # package's build takes 17.7 s instead of 16.8 s), and the install 2:02
  # instead of about 4:15 on a fresh machine of two cores.
  cargo install -q --debug wasm-bindgen-cli --version "$want"
fi
