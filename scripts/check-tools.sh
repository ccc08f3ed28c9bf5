#!/usr/bin/env bash
# Checks that what a build step needs is installed, at the version it must
# be; says what to run if not. It installs nothing (scripts/setup.sh does).
# Usage: check-tools.sh [wasm-bindgen] [worker-build] [node_modules]
set -euo pipefail
cd "$(dirname "$0")/.."
lock_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}
missing=()
for tool in "$@"; do
  case "$tool" in
    wasm-bindgen)
      want=$(lock_version wasm-bindgen)
      have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
      [ "$have" = "$want" ] || missing+=("wasm-bindgen-cli $want (found: ${have:-none})")
      ;;
    worker-build)
      want=$(lock_version worker)
      have=$(worker-build --version 2>/dev/null | awk '{print $NF}' || true)
      [ "$have" = "$want" ] || missing+=("worker-build $want (found: ${have:-none})")
      ;;
    node_modules)
      [ -d node_modules ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] \
        || missing+=("node_modules from package-lock.json")
      ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  printf 'missing: %s\n' "${missing[@]}" >&2
  echo "run scripts/setup.sh (make test and make demo run it first)" >&2
  exit 1
fi
