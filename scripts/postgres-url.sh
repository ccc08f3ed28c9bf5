#!/usr/bin/env bash
# Prints the URL of the Postgres server the tests may use, or nothing if
# none answers on 127.0.0.1:5432. Drops databases left by earlier test runs
# (each Postgres test creates its own `tollgate_test_*` database).
set -euo pipefail
url=${TOLLGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if ! command -v psql >/dev/null 2>&1 || ! psql "$url" -qtAc 'select 1' >/dev/null 2>&1; then
  echo "postgres-url: no Postgres at ${url%%\?*}; its tests will be skipped" >&2
  exit 0
fi
psql "$url" -qtAc "select datname from pg_database where datname like 'tollgate_test_%'" |
  while read -r db; do psql "$url" -qtAc "drop database if exists \"$db\" with (force)" >/dev/null; done
echo "$url"
