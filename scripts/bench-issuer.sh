#!/usr/bin/env bash
# The issuer's numbers over HTTP, on SQLite and (if one answers) the local
# Postgres, against the release binary with its default Argon2 cost:
#   - refreshes per second: wrk, 8 threads each refreshing one session in a chain;
#   - empty-delta feed polls per second: wrk, 2 threads, 64 connections;
#   - a full snapshot of 100,000 revocations in one request (curl, median of 10);
#   - login latency: right password, then wrong password and unknown email
#     alternating (curl, 20 each).
# Load runs on the same 2 cores as the issuer. wrk comes from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build -q --release -p tollgate-issuer --bins --examples
bin=target/release/tollgate-issuer
seed=target/release/examples/seed_revocations
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
threads=8
password='bench password 1'

post() { curl -sf -H 'content-type: application/json' -d "$2" "$url$1"; }
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
# Median and 95th percentile of the numbers on stdin (seconds), in ms.
stats() { sort -n | awk '{a[NR]=$1*1000} END {printf "median %.1f ms, p95 %.1f ms (n=%d)\n", a[int((NR+1)/2)], a[int(NR*0.95+0.5)], NR}'; }

run() { # label, then env for the issuer
  local label=$1; shift
  export TOLLGATE_DATA_DIR="$dir/$label" TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT=1000000 TOLLGATE_LOGIN_LIMIT_PER_ADDRESS=1000000
  env "$@" TOLLGATE_BIND=127.0.0.1:0 RUST_LOG=warn "$bin" serve > "$dir/$label.out" &
  local pid=$!
  for _ in $(seq 50); do grep -q listening "$dir/$label.out" 2>/dev/null && break; sleep 0.1; done
  url=$(sed -n 's/^listening on //p' "$dir/$label.out")
  echo "== $label"

  post /v1/auth/signup "{\"email\":\"bench@example.com\",\"password\":\"$password\",\"name\":\"Bench\"}" >/dev/null
  local login tokens=()
  for i in $(seq $threads); do
    login="{\"email\":\"bench@example.com\",\"password\":\"$password\",\"device\":{\"id\":\"dev$i\",\"type\":\"bench\"}}"
    tokens+=("$(post /v1/auth/login "$login" | field refresh_token)")
  done
  echo "-- POST /v1/auth/refresh ($threads sessions, one chain each)"
  wrk -t$threads -c$threads -d10s --latency -s scripts/wrk-refresh.lua "$url" -- "${tokens[@]}" \
    | grep -E 'Requests/sec|50%|99%|Non-2xx|errors'

  env "$@" SEED_COUNT=100000 "$seed" >/dev/null
  local cursor; cursor=$(curl -s "$url/v1/revocations?limit=100000" | field cursor)
  echo "-- GET /v1/revocations?since=<head> (empty delta, 100,000 entries in the log)"
  wrk -t2 -c64 -d10s --latency "$url/v1/revocations?since=$cursor" | grep -E 'Requests/sec|50%|99%|Non-2xx|errors'

  echo "-- GET /v1/revocations?limit=100000 (snapshot of 100,000): $(curl -s "$url/v1/revocations?limit=100000" | wc -c) bytes"
  for _ in $(seq 10); do curl -s -o /dev/null -w '%{time_total}\n' "$url/v1/revocations?limit=100000"; done | stats

  echo "-- POST /v1/auth/login, right password"
  for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' -d "$login" "$url/v1/auth/login"; done | stats
  # Wrong password and unknown email alternate, so neither is measured in
  # the wake of the other's (or the logins') disk writes.
  local wrong="{\"email\":\"bench@example.com\",\"password\":\"not the password\",\"device\":{\"id\":\"x\",\"type\":\"bench\"}}"
  local unknown="{\"email\":\"nobody@example.com\",\"password\":\"not the password\",\"device\":{\"id\":\"x\",\"type\":\"bench\"}}"
  for _ in $(seq 20); do
    curl -s -o /dev/null -w 'wrong %{time_total}\n' -H 'content-type: application/json' -d "$wrong" "$url/v1/auth/login"
    curl -s -o /dev/null -w 'unknown %{time_total}\n' -H 'content-type: application/json' -d "$unknown" "$url/v1/auth/login"
  done > "$dir/refused"
  echo "-- POST /v1/auth/login, wrong password: $(sed -n 's/^wrong //p' "$dir/refused" | stats)"
  echo "-- POST /v1/auth/login, unknown email:  $(sed -n 's/^unknown //p' "$dir/refused" | stats)"
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
