# Two commands for a newcomer: `make demo` and `make test`.
# Longer logic lives in scripts/; this file only names the steps.

CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
# Every native cargo command uses the same packages and features, so cargo
# compiles each crate once: `cargo build -p X` alone would unify features
# differently and compile the issuer and its dependencies a second time.
NATIVE := --workspace --exclude tollgate-worker --all-features
T = scripts/timed.sh $@

.PHONY: test demo setup clock lint build unit types api npm worker e2e bench fuzz

## Set up whatever is missing, then run every check and test, and print how
## long each step took.
test: clock setup lint build unit types api npm worker e2e
	@scripts/print-times.sh
	@echo "make test: all checks passed; browser screenshots are in target/demo-screenshots/"

## Start the whole system locally (issuer, edge worker, origin, demo page),
## print the URL and the demo login; Ctrl-C stops everything.
demo: setup
	scripts/build-npm.sh
	scripts/build-worker.sh
	$(CARGO) build $(NATIVE) --bins
	node web-demo/stack.js

clock:
	@mkdir -p target && rm -f target/make-times

setup:
	@$(T) scripts/setup.sh

lint:
	$(T) $(CARGO) fmt --all --check
	$(T) $(CARGO) clippy $(NATIVE) --all-targets -- -D warnings
	$(T) $(CARGO) clippy -p tollgate-verifier -p tollgate-verifier-wasm -p tollgate-worker --target $(WASM_TARGET) -- -D warnings
	$(T) $(CARGO) clippy -p tollgate-verifier-wasm --no-default-features --target $(WASM_TARGET) -- -D warnings
	@# The two published crates must package (manifest, files, dependencies
	@# from the registry); building the packages again is left to a release.
	$(T) $(CARGO) package --quiet --allow-dirty --no-verify -p tollgate-verifier -p tollgate-axum

## Everything the tests run, compiled once: the native workspace with its
## tests, benchmarks and examples (and so the issuer and origin binaries the
## JavaScript tests start), the npm package, and the edge worker, built by
## the command in its wrangler.toml and checked by `wrangler deploy --dry-run`.
build:
	$(T) $(CARGO) build $(NATIVE) --all-targets
	$(T) scripts/build-npm.sh
	$(T) scripts/deploy-check.sh

# --all-targets also runs each criterion benchmark once, so they cannot rot.
# Postgres tests use the server setup made sure of (or fail, unless
# TOLLGATE_SKIP_POSTGRES=1 says to skip them).
unit:
	url=$$(scripts/postgres-url.sh) && TOLLGATE_TEST_POSTGRES_URL="$$url" $(T) $(CARGO) test $(NATIVE) --all-targets
	$(T) $(CARGO) test $(NATIVE) --doc

## A TypeScript consumer of the npm package must type-check.
types:
	$(T) node_modules/.bin/tsc --noEmit -p tests/types

## The issuer's API document against the issuer: schemathesis, every check,
## unauthenticated and with a login per case (docs/issuer.md).
api:
	$(T) scripts/api-contract.sh

## The npm package in Node against a live issuer and jose, as a packed
## tarball, in workerd, and as Hono middleware.
npm:
	$(T) node --test edge-verifier/wasm/tests/

## The edge worker in workerd (Miniflare) between a live issuer and a
## counting origin, faults included.
worker:
	$(T) node --test edge-verifier/worker/tests/ tests/edge/

## The demo in headless Chromium: two devices, a remote logout, the edge's
## 401; and make demo's Ctrl-C.
e2e:
	$(T) node --test tests/e2e/

## Full benchmark run; results go into docs/BENCHMARKS.md by hand.
bench:
	$(CARGO) bench -p tollgate-verifier
	scripts/overhead.sh
	scripts/bench-issuer.sh
	scripts/build-npm.sh
	node edge-verifier/wasm/bench/verify.js
	node edge-verifier/wasm/bench/workerd.js 15
	node edge-verifier/wasm/bench/overhead.js
	scripts/build-worker.sh
	node edge-verifier/worker/bench/dpop.js
	node edge-verifier/worker/bench/coldstart.js on
	node edge-verifier/worker/bench/coldstart.js off

## Fuzz every parser that reads network input (FUZZ_SECONDS each, default
## 60; docs/FUZZING.md). make test runs the same bodies over the corpora.
fuzz:
	scripts/fuzz.sh
