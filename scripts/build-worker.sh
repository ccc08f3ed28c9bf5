#!/usr/bin/env bash
# Builds the edge worker into edge-verifier/worker/build with worker-build,
# offline: worker-build (pinned to the worker crate's version, installed by
# scripts/setup.sh) is told where wasm-bindgen and esbuild already are,
# instead of downloading them; npm binaryen's wasm-opt then shrinks the
# module once. Prints the bundle size. It
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
  worker-build --profile wasm-release
wasm=$(ls build/*.wasm | head -1)
# worker-build's own wasm-opt keeps the names section (Cargo.toml says
# why it is off); the features are the ones worker-build enables, which
# workerd supports.
"$root/node_modules/.bin/wasm-opt" -Oz --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types \
  --enable-exception-handling "$wasm" -o "$wasm"
echo "built edge-verifier/worker/build: $(wc -c < "$wasm") bytes wasm, $(gzip -9c "$wasm" | wc -c) gzip;" \
  "JS $(cat build/*.js | wc -c) bytes"
