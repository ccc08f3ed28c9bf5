#!/usr/bin/env bash
# Prints the time of each step that scripts/timed.sh recorded, and the total.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f target/make-times ] || exit 0
awk '
  { t[$1] += $2; if (!($1 in seen)) { seen[$1] = 1; order[n++] = $1 } total += $2 }
  END {
    print "time per step:"
    for (i = 0; i < n; i++) printf "  %-8s %4dm%02ds\n", order[i], t[order[i]] / 60, t[order[i]] % 60
    printf "  %-8s %4dm%02ds\n", "total", total / 60, total % 60
  }' target/make-times
