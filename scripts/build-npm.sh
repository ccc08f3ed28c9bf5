#!/usr/bin/env bash
# Builds the npm package `tollgate-verifier` into edge-verifier/wasm/pkg:
# the adapter crate for wasm32, wasm-bindgen (the CLI pinned to the crate
# version in Cargo.lock, installed by scripts/setup.sh), wasm-opt -Oz
# from npm binaryen (never Debian's, whose output does not load), then the
# hand-written ESM entry points and types. Prints the .wasm size.
set -euo pipefail
cd "$(dirname "$0")/.."
out=edge-verifier/wasm/pkg

scripts/check-tools.sh wasm-bindgen node_modules

cargo build -q -p tollgate-verifier-wasm --target wasm32-unknown-unknown --profile wasm-release
rm -rf "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" \
  target/wasm32-unknown-unknown/wasm-release/tollgate_verifier_wasm.wasm
node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-sign-ext \
  --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types \
  --enable-multivalue --strip-debug --strip-producers "$out/tollgate_verifier_wasm_bg.wasm" -o "$out/tollgate_verifier_wasm_bg.wasm"
cp edge-verifier/wasm/js/* edge-verifier/wasm/README.md "$out/"

wasm="$out/tollgate_verifier_wasm_bg.wasm"
echo "built $out: $(wc -c < "$wasm") bytes wasm, $(gzip -9c "$wasm" | wc -c) gzip"
