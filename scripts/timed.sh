#!/usr/bin/env bash
# scripts/timed.sh STEP COMMAND...: runs COMMAND and appends how long it took
# to target/make-times, which `make test` prints at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
step=$1
shift
start=$(date +%s)
"$@"
status=$?
mkdir -p target
echo "$step $(($(date +%s) - start)) $status" >>target/make-times
exit "$status"
