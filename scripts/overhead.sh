#!/usr/bin/env bash
# Counts the instructions of full EdDSA verification (cache off, a million
# revocations held) and of the bare ed25519-dalek signature check on the same
# bytes, and prints their ratio. Instruction counts do not depend on machine
# load, unlike the criterion times. Needs valgrind (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
cargo build -q --release -p tollgate-verifier --example overhead
bin=target/release/examples/overhead
count() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
    --toggle-collect="$2" "$bin" "$1" "$n" 2>/dev/null
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
  rm -f "$out"
}
bare=$(count bare '*run_bare*')
full=$(count verify '*run_verify*')
hit=$(count cache-hit '*run_verify*')
awk -v b="$bare" -v f="$full" -v h="$hit" -v n="$n" 'BEGIN {
  printf "instructions per call (%d calls):\n", n
  printf "  bare ed25519-dalek verify  %10.0f\n", b / n
  printf "  full EdDSA verification    %10.0f  (%.3fx bare)\n", f / n, f / b
  printf "  cache hit                  %10.0f  (%.4fx bare)\n", h / n, h / b
}'
