#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the issuer's tests, so that
# `make test` proves the same thing on every machine. When none answers on
# 127.0.0.1:5432:
# - with no cluster on the machine, installs Debian's `postgresql`, and lets
#   user `postgres` connect to that new test cluster over local TCP without
#   a password (the way this machine kind ships one);
# - with a cluster that is stopped, starts it, changing none of its
#   configuration.
# Anything else (no root, a cluster that wants a password) fails and says
# what to do, unless TOLLGATE_SKIP_POSTGRES=1 is set on purpose. It never
# edits the authentication of a cluster it did not create.
set -euo pipefail
url=${TOLLGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
say() { printf 'setup-postgres: %s\n' "$*" >&2; }

if [ "${TOLLGATE_SKIP_POSTGRES:-}" = 1 ]; then
  say "TOLLGATE_SKIP_POSTGRES=1: not setting up Postgres; its half of the tests will be SKIPPED"
  exit 0
fi
answers() { command -v psql >/dev/null 2>&1 && psql "$url" -qtAc 'select 1' >/dev/null 2>&1; }
answers && exit 0

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}
fail() {
  say "no Postgres answers at ${url%%\?*} and $*."
  say "Start one there (user postgres, trust or TOLLGATE_TEST_POSTGRES_URL with a password),"
  say "or set TOLLGATE_SKIP_POSTGRES=1 to skip the Postgres half of the tests on purpose."
  exit 1
}

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  say "installing PostgreSQL from Debian"
  as_root apt-get update -qq >/dev/null || fail "this user cannot install packages (no root, no sudo)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null ||
    fail "installing Debian's postgresql failed"
  version=$(ls /etc/postgresql | sort -V | tail -1)
  # Our own new test cluster: trust user postgres on local TCP, as the
  # machine kind ships it. Appended rules lose to Debian's host rules, so
  # insert ours before the first `host` line, keeping owner and mode.
  hba=/etc/postgresql/$version/main/pg_hba.conf
  as_root sed -i '0,/^host/s//host all postgres 127.0.0.1\/32 trust # tollgate-test\nhost all postgres ::1\/128 trust # tollgate-test\nhost/' "$hba" ||
    fail "the new cluster's pg_hba.conf could not be set up"
else
  version=$(ls /etc/postgresql | sort -V | tail -1)
fi
as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload ||
  fail "the cluster $version/main would not start"
for _ in $(seq 1 30); do
  answers && { say "PostgreSQL $version is up"; exit 0; }
  sleep 1
done
fail "the server did not answer within 30 s of starting"
