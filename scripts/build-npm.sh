#!/usr/bin/env bash
# Builds the npm package `tollgate-verifier` into edge-verifier/wasm/pkg:
# the adapter crate for wasm32 (three times: node, workerd, web),
# wasm-bindgen (the CLI pinned to the crate version in Cargo.lock,
# installed by scripts/setup.sh), wasm-opt -Oz from npm binaryen (never
# Debian's, whose output does not load), then the hand-written ESM entry
# points and types. Prints each .wasm size.
set -euo pipefail
cd "$(dirname "$0")/.."
out=edge-verifier/wasm/pkg

scripts/check-tools.sh wasm-bindgen node_modules

# Three builds of the adapter, one per kind of runtime (the package
# README's table says which entry loads which):
# - node: the crate's own signature checks (the synchronous Verifier, and
#   the algorithms Node's WebCrypto checks slower than wasm), profile
#   wasm-node;
# - lean (workerd, worker): every signature WebCrypto's, no curve code, the
#   Rust around it at full speed (wasm-release: Workers bill CPU time);
# - web (browsers): the lean build for size first (wasm-web: a page pays
#   for every byte before it verifies a token).
rm -rf "$out"
build() {
  local name=$1 profile=$2
  shift 2
  cargo build -q -p tollgate-verifier-wasm "$@" --target wasm32-unknown-unknown --profile "$profile"
  wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name "$name" \
    "target/wasm32-unknown-unknown/$profile/tollgate_verifier_wasm.wasm"
  node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-sign-ext \
    --enable-nontrapping-float-to-int --enable-mutable-globals --enable-reference-types \
    --enable-multivalue --strip-debug --strip-producers "$out/${name}_bg.wasm" -o "$out/${name}_bg.wasm"
  local wasm="$out/${name}_bg.wasm"
  echo "built $out ($name, $profile): $(wc -c < "$wasm") bytes wasm, $(gzip -9c "$wasm" | wc -c) gzip"
}
build tollgate_verifier_wasm wasm-node
build tollgate_verifier_lean wasm-release --no-default-features
build tollgate_verifier_web wasm-web --no-default-features
cp edge-verifier/wasm/js/* edge-verifier/wasm/README.md "$out/"
