#!/usr/bin/env bash
# Builds the edge worker into edge-verifier/worker/build with worker-build,
# offline: worker-build (pinned to the worker crate's version, installed by
# scripts/setup.sh) is told where wasm-bindgen, esbuild and wasm-opt
# already are, instead of downloading them. Prints the bundle size. It
# installs nothing: what is missing, setup installs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/check-tools.sh worker-build wasm-bindgen node_modules

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
