# Two commands for a newcomer: `make demo` and `make test`.
# Longer logic lives in scripts/; this file only names the steps.

CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown

.PHONY: test demo setup lint unit wasm npm worker e2e bench

## Set up whatever is missing, then run every check and test.
test: setup lint unit wasm npm worker e2e
	@echo "make test: all checks passed; browser screenshots are in target/demo-screenshots/"

## Start the whole system locally (issuer, edge worker, origin, demo page),
## print the URL and the demo login; Ctrl-C stops everything.
demo: setup
	scripts/build-npm.sh
	scripts/build-worker.sh
	$(CARGO) build -p tollgate-issuer -p tollgate-demo-origin
	node web-demo/stack.js

setup:
	@scripts/setup.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --exclude tollgate-worker --all-targets --all-features -- -D warnings
	$(CARGO) clippy -p tollgate-verifier -p tollgate-verifier-wasm -p tollgate-worker --target $(WASM_TARGET) -- -D warnings

# --all-targets also runs each criterion benchmark once, so they cannot rot.
# Postgres tests use the server on 127.0.0.1:5432 when one answers.
unit:
	TOLLGATE_TEST_POSTGRES_URL="$$(scripts/postgres-url.sh)" $(CARGO) test --workspace --exclude tollgate-worker --all-features --all-targets
	$(CARGO) test --workspace --exclude tollgate-worker --all-features --doc

## The verifier must keep compiling for the edge.
wasm:
	$(CARGO) build -p tollgate-verifier --target $(WASM_TARGET) --release

## The npm package: build it, then test it in Node against a live issuer,
## against jose, and as a packed tarball.
npm:
	scripts/build-npm.sh
	$(CARGO) build -p tollgate-issuer
	node --test edge-verifier/wasm/tests/

## The edge worker: build it with worker-build, then run it in workerd
## (Miniflare) between a live issuer and a counting origin.
worker:
	scripts/build-worker.sh
	$(CARGO) build -p tollgate-issuer --bins --examples
	node --test edge-verifier/worker/tests/

## The demo in headless Chromium: two devices, a remote logout, the edge's 401.
e2e:
	$(CARGO) build -p tollgate-issuer -p tollgate-demo-origin
	node --test web-demo/tests/

## Full benchmark run; results go into docs/BENCHMARKS.md by hand.
bench:
	$(CARGO) bench -p tollgate-verifier
	scripts/overhead.sh
	scripts/bench-issuer.sh
	scripts/build-npm.sh
	node edge-verifier/wasm/bench/verify.js
