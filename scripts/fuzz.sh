#!/usr/bin/env bash
# `make fuzz`: every cargo-fuzz target of the verifier crate for
# FUZZ_SECONDS each (default 60), on its corpus in
# edge-verifier/verifier/fuzz/corpus/<target> (libFuzzer adds what it finds
# there; commit it). cargo-fuzz wants a nightly compiler for its sanitizer
# flags; this machine has one stable toolchain, which RUSTC_BOOTSTRAP=1
# lets take them. Its own target directory, so the workspace's build is
# never invalidated. A crash stops the run and leaves its input in
# edge-verifier/verifier/fuzz/artifacts/<target>/.
#   FUZZ_SECONDS=3600 make fuzz        # an hour per target
#   FUZZ_TARGETS="feed set" make fuzz  # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
version=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$version"; then
  cargo install cargo-fuzz --version "$version" --locked
fi
cd edge-verifier/verifier
targets=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^tollgate-verifier-fuzz$')}
for target in $targets; do
  mkdir -p "fuzz/corpus/$target"
  echo "== $target: ${seconds}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --target-dir ../../target/fuzz "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+== ERROR|SUMMARY)' || true
  if [ -n "$(ls -A "fuzz/artifacts/$target" 2>/dev/null)" ]; then
    echo "$target crashed: see edge-verifier/verifier/fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
