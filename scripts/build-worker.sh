#!/usr/bin/env bash
# Builds the edge worker into edge-verifier/worker/build with worker-build,
# offline: worker-build (pinned to the worker crate's version, from
# crates.io) is told where wasm-bindgen, esbuild and wasm-opt already are,
# instead of downloading them. Prints the bundle size.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/setup.sh

want=$(awk '/^name = "worker"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(worker-build --version 2>/dev/null | awk '{print $NF}' || true)
if [ "$have" != "$want" ]; then
  echo "installing worker-build $want (found: ${have:-none}); takes a few minutes"
  cargo install -q worker-build --version "$want" --locked
fi

cd edge-verifier/worker
# Fat LTO across the worker and workers-rs: 7% smaller than the profile's
# thin LTO (451 KB against 485 KB) for a few seconds more of linking.
# CARGO_PROFILE_WASM_RELEASE_LTO=thin in the environment builds the other.
CARGO_PROFILE_WASM_RELEASE_LTO=${CARGO_PROFILE_WASM_RELEASE_LTO:-fat} \
WASM_BINDGEN_BIN=$(command -v wasm-bindgen) \
ESBUILD_BIN="$root/node_modules/.bin/esbuild" \
WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt" \
  worker-build --profile wasm-release
wasm=$(ls build/*.wasm | head -1)
echo "built edge-verifier/worker/build: $(wc -c < "$wasm") bytes wasm, $(gzip -9c "$wasm" | wc -c) gzip;" \
  "JS $(cat build/*.js | wc -c) bytes"
