#!/usr/bin/env bash
# Prints the URL of the Postgres server the tests use. Fails, saying why,
# if none answers (scripts/setup-postgres.sh starts one), unless
# TOLLGATE_SKIP_POSTGRES=1 is set: then it prints nothing and says loudly
# that the Postgres half is skipped. Drops databases left by earlier test
# runs (each Postgres test creates its own `tollgate_test_*` database).
set -euo pipefail
url=${TOLLGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if [ "${TOLLGATE_SKIP_POSTGRES:-}" = 1 ]; then
  echo "postgres-url: TOLLGATE_SKIP_POSTGRES=1: the Postgres tests are SKIPPED" >&2
  exit 0
fi
if ! command -v psql >/dev/null 2>&1 || ! psql "$url" -qtAc 'select 1' >/dev/null 2>&1; then
  echo "postgres-url: no Postgres at ${url%%\?*}; run scripts/setup-postgres.sh, or set TOLLGATE_SKIP_POSTGRES=1 to skip its tests on purpose" >&2
  exit 1
fi
psql "$url" -qtAc "select datname from pg_database where datname like 'tollgate\\_test\\_%'" |
  while read -r db; do psql "$url" -qtAc "drop database if exists \"$db\" with (force)" >/dev/null; done
echo "$url"
