# smtp-send: a sandboxed SMTP client (WebAssembly component + wasmtime host).
#   make demo    build, start a local debugging SMTP server, send a message
#   make test    install what the tests need, build, run every test
CARGO     ?= cargo
# python3, or the .venv scripts/deps.sh makes where it refuses pip (PEP 668).
PYTHON    ?= scripts/py
TARGET    := $(or $(CARGO_TARGET_DIR),target)
BIN       := $(TARGET)/release/smtp-send
DEMO_PORT ?= 8025
# The host embeds the guest component from here (host/build.rs); the tests
# run this binary.
export SMTP_GUEST_WASM := $(abspath $(TARGET))/wasm32-wasip2/release/smtp_guest.wasm
export SMTP_SEND := $(abspath $(BIN))
# The command component, run by the tests under the stock wasmtime CLI.
export SMTP_SEND_WASM := $(abspath $(TARGET))/wasm32-wasip2/release/smtp-send.wasm

.PHONY: all build guest host fixtures node-example deps demo test unit integration lint fmt fuzz bench readme-table clean

all: build

deps:
	scripts/deps.sh

# The components: the library one (smtp_guest.wasm, which the host embeds:
# host/build.rs) and the command one for `wasmtime run` (smtp-send.wasm).
# Two cargo runs: in one, cargo would unify smtp-wasi's features and give the
# command component the guest's wasi:tls import, which stock runtimes lack.
guest:
	$(CARGO) build --release -p smtp-guest --target wasm32-wasip2
	$(CARGO) build --release -p smtp-send-cli --target wasm32-wasip2

host: guest
	$(CARGO) build --release -p smtp-host --bins --examples

build: host

# Test helpers, never shipped: the hostile guest (host/tests/sandbox.rs) and
# certgen (the TLS tests' throwaway CA).
fixtures:
	$(CARGO) build --release -p hostile-guest --target wasm32-wasip2
	$(CARGO) build --release -p certgen

# The second-language host (examples/js): jco, pinned by package-lock.json,
# transpiles the library component for Node.js.
node-example: guest
	cd examples/js && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build >/dev/null

unit: guest fixtures
	SMTP_TESTS_REQUIRE_SERVERS=1 $(CARGO) test --release -p smtp-proto -p smtp-host

# Every scenario against the native smtp-send, then the ones that apply to
# it against the command component under the stock wasmtime CLI.
integration: build fixtures node-example
	SMTP_TESTS_REQUIRE_SERVERS=1 $(PYTHON) -m pytest -q tests
	SMTP_TESTS_REQUIRE_SERVERS=1 SMTP_SEND_RUNNER=wasm $(PYTHON) -m pytest -q tests

test: deps
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) integration

lint: guest
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release -p smtp-proto -p smtp-host -p certgen --all-targets -- -D warnings
	$(CARGO) clippy --release -p smtp-guest -p hostile-guest --target wasm32-wasip2 -- -D warnings
	$(CARGO) clippy --release -p smtp-send-cli --target wasm32-wasip2 -- -D warnings

demo:
	scripts/deps.sh --demo
	$(MAKE) build
	scripts/demo.sh $(DEMO_PORT)

# Fuzzing (not part of `make test`): each target for FUZZ_SECONDS, starting
# from the seed corpus of real replies. A crash input goes into
# fuzz/regressions/<target>/ once fixed; `make unit` replays them all.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := reply client data
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	$(PYTHON) scripts/fuzz-seeds.py
	set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t; \
	  $(CARGO) fuzz run --sanitizer none $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1; \
	done

# Benchmarks against the peer clients (../shared/bench), PIN=same and
# PIN=split; writes BENCHMARKS.md. Takes ~10 minutes; not part of `make test`.
bench: build
	scripts/bench.sh

readme-table:
	scripts/readme-table.sh

clean:
	$(CARGO) clean
