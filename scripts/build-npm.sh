#!/usr/bin/env bash
# Builds the npm package `tollgate-verifier` into edge-verifier/wasm/pkg:
# the adapter crate for wasm32 (twice: full and lean), wasm-bindgen (the CLI pinned to the crate
# version in Cargo.lock, installed by scripts/setup.sh), wasm-opt -Oz
# from npm binaryen (never Debian's, whose output does not load), then the
# hand-written ESM entry points and types. Prints each .wasm size.
set -euo pipefail
cd "$(dirname "$0")/.."
out=edge-verifier/wasm/pkg

scripts/check-tools.sh wasm-bindgen node_modules

# Two builds of the adapter: the full one for Node (the crate's own
# signature checks, for the synchronous Verifier and the algorithms Node's
# WebCrypto checks slower than wasm) and the lean one for browsers and
# Workers, where every signature is WebCrypto's and no curve code ships.
rm -rf "$out"
for build in full lean; do
  features=()
  name=tollgate_verifier_wasm
  if [ "$build" = lean ]; then
    features=(--no-default-features)
    name=tollgate_verifier_lean
  fi
  cargo build -q -p tollgate-verifier-wasm "${features[@]}" --target wasm32-unknown-unknown --profile wasm-release
  wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name "$name" \
    target/wasm32-unknown-unknown/wasm-release/tollgate_verifier_wasm.wasm
  node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-sign-ext \
    --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types \
    --enable-multivalue --strip-debug --strip-producers "$out/${name}_bg.wasm" -o "$out/${name}_bg.wasm"
  wasm="$out/${name}_bg.wasm"
  echo "built $out ($build): $(wc -c < "$wasm") bytes wasm, $(gzip -9c "$wasm" | wc -c) gzip"
done
cp edge-verifier/wasm/js/* edge-verifier/wasm/README.md "$out/"
