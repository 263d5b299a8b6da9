# The two commands: `make demo` (live demo on the namespace testbed) and `make test`.
# Both install what they need on a fresh Debian 12 machine (idempotent; needs root).
SHELL := /bin/bash
CARGO ?= cargo
DEBS := dpdk dpdk-dev libdpdk-dev clang libclang-dev pkg-config ethtool iproute2 \
        iperf3 tcpdump tshark python3-scapy procps linux-perf iputils-ping
export CARGO_TERM_COLOR ?= never

.PHONY: deps build test unit e2e demo bench clean lint

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }

build: deps
	$(CARGO) build --release --workspace --bins --examples

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Unit, property, stress and single-process DPDK tests, then the namespace end-to-end test.
test: deps
	$(CARGO) test --workspace --release
	$(MAKE) e2e

e2e: build
	tests/e2e/testbed_e2e.sh

demo: build
	scripts/demo.sh

bench: build
	perf/bench.sh

clean:
	$(CARGO) clean

# Profiling (issue 5): the worker under load, perf record -> flamegraph SVG in perf/results/
# (perf/profile.sh; how to read it and the stage counters: perf/README.md).
.PHONY: profile
profile: deps
	perf/profile.sh
