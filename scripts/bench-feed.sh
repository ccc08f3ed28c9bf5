#!/usr/bin/env bash
# Empty-delta polls per second against the issuer's feed over HTTP, the
# request every verifier makes about once a second. Runs the release binary
# on SQLite and, if one answers, on the local Postgres; load from wrk
# (Debian package, installed if missing), 2 threads, 64 connections, 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build -q --release -p tollgate-issuer
bin=target/release/tollgate-issuer
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT

run() { # label, then env for the issuer
  local label=$1; shift
  env "$@" TOLLGATE_BIND=127.0.0.1:0 TOLLGATE_DATA_DIR="$dir/$label" RUST_LOG=warn "$bin" serve > "$dir/$label.out" &
  local pid=$!
  for _ in $(seq 50); do grep -q listening "$dir/$label.out" 2>/dev/null && break; sleep 0.1; done
  local url; url=$(sed -n 's/^listening on //p' "$dir/$label.out")
  local cursor; cursor=$(curl -s "$url/v1/revocations" | sed -n 's/.*"cursor":"\([^"]*\)".*/\1/p')
  echo "== $label: GET /v1/revocations?since=$cursor (empty delta)"
  wrk -t2 -c64 -d10s --latency "$url/v1/revocations?since=$cursor" | grep -E 'Requests/sec|50%|99%|Non-2xx|errors'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run sqlite DATABASE_URL=
pg=$(scripts/postgres-url.sh 2>/dev/null || true)
if [ -n "$pg" ]; then
  db=tollgate_bench_$$
  psql "$pg" -qc "create database $db"
  run postgres DATABASE_URL="${pg%/*}/$db"
  psql "$pg" -qc "drop database $db with (force)"
fi
