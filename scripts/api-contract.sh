#!/usr/bin/env bash
# The issuer's API document against the issuer itself: schemathesis (PyPI,
# pinned in tests/api/requirements.txt, in the venv setup makes) generates
# requests from GET /openapi.json and fails on any answer the document does
# not promise (status, content type, headers, body shape), on a valid
# request refused or an invalid one accepted, on a server error. Two runs:
# unauthenticated over every route, then every Bearer route with a fresh
# login per case (tests/api/hooks.py).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${API_VENV:-target/venv}
bin=${ISSUER_BIN:-target/debug/tollgate-issuer}
examples=${API_EXAMPLES:-30}
dir=$(mktemp -d)
issuer_pid=
cleanup() {
  [ -n "$issuer_pid" ] && kill "$issuer_pid" 2>/dev/null && wait "$issuer_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

export TOLLGATE_DATA_DIR=$dir/issuer DATABASE_URL= RUST_LOG=error
# Hypothesis keeps its files there, not in the tree.
export HYPOTHESIS_STORAGE_DIRECTORY=$dir/hypothesis PYTHONDONTWRITEBYTECODE=1
# Limits high enough that a generated burst is not all 429 (the limits
# themselves have their own tests); a cheap Argon2 for a login per case.
export TOLLGATE_LOGIN_LIMIT_PER_ADDRESS=100000 TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT=100000 \
  TOLLGATE_TOKEN_FAILURES_PER_ADDRESS=100000 \
  TOLLGATE_ARGON2_MEMORY_KIB=1024 TOLLGATE_ARGON2_ITERATIONS=1
[ -x "$venv/bin/schemathesis" ] || { echo "api-contract: no schemathesis in $venv; run scripts/setup.sh" >&2; exit 1; }
mkdir -m 700 "$TOLLGATE_DATA_DIR"
# An upstream provider, so its two announcement routes answer more than
# 404; it never answers (nothing listens on port 9): every generated
# announcement is refused in the standard's shape or deferred (503).
cat >"$dir/upstreams.toml" <<TOML
[[upstream]]
name = "idp"
issuer = "http://127.0.0.1:9"
audiences = ["tollgate-api"]
client_id = "tollgate"
algorithms = ["ES256"]
TOML
export TOLLGATE_UPSTREAMS=$dir/upstreams.toml

email=contract-admin@example.com
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" | "$bin" user add --admin --email "$email" --name "Contract Admin" >/dev/null
# A user for the admin route to deactivate (a random id is only a 404).
target=$(printf '%s\n' "$password" | "$bin" user add --email contract-user@example.com |
  sed -n 's/^created user \([^ ]*\) .*/\1/p')
[ -n "$target" ] || { echo "api-contract: could not create the user to deactivate" >&2; exit 1; }
cat >"$dir/schemathesis.toml" <<TOML
# Nothing kept between runs: no cache, no example database in the tree.
cache.enabled = false
[[operations]]
include-path = "/v1/admin/users/{id}/deactivate"
parameters = { id = "$target" }
[[operations]]
include-path-regex = "^/v1/upstreams/"
parameters = { name = "idp" }
# A logout token or SET is valid only if the provider signed it, which no
# schema can say and this run cannot do: the standards' 400 is the right
# answer to every one generated here (the issuer's upstream tests send
# genuine ones). Every other check, and this one's other statuses, stand.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "429", "503"]
TOML

# The file exists before the issuer starts: the background job opens its
# redirect when it gets to run, and a busy machine let the first read
# below come first (sed: can't read, and under set -e the run died).
: >"$dir/stdout"
"$bin" serve --bind 127.0.0.1:0 >>"$dir/stdout" &
issuer_pid=$!
for _ in $(seq 100); do
  url=$(sed -n 's/^listening on //p' "$dir/stdout")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "api-contract: the issuer did not start" >&2; exit 1; }

run() {
  PYTHONPATH=tests/api SCHEMATHESIS_HOOKS=hooks "$venv/bin/schemathesis" --config-file "$dir/schemathesis.toml" --no-color \
    run "$url/openapi.json" --checks all --max-examples "$examples" --seed 1 --workers 1 --request-timeout 10 \
    --generation-database none "$@"
}

# Both runs report before the script fails.
status=0
echo "api-contract: unauthenticated, every route"
run || status=1

echo "api-contract: authenticated, every Bearer route (a login per case)"
TOLLGATE_API_URL=$url TOLLGATE_API_EMAIL=$email TOLLGATE_API_PASSWORD=$password \
  run --include-path-regex '^/v1/(users/me|admin/|auth/logout|sessions)' || status=1
exit "$status"
