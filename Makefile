# The two commands: `make demo` (live demo on the namespace testbed) and `make test`.
# Both install what they need on a fresh Debian 12 machine (idempotent; needs root).
SHELL := /bin/bash
CARGO ?= cargo
DEBS := dpdk dpdk-dev libdpdk-dev clang libclang-dev pkg-config ethtool iproute2 \
        iperf3 tcpdump tshark python3-scapy procps linux-perf iputils-ping nftables \
        jq libbpf-dev linux-libc-dev prometheus etcd-server etcd-client protobuf-compiler \
        valgrind
export CARGO_TERM_COLOR ?= never

.PHONY: deps build test unit e2e demo demo-cluster bench clean lint man fuzz fuzz-smoke fuzz-seeds fuzz-cmin

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

build: deps
	$(CARGO) build --release --workspace --bins --examples

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Unit, property, stress and single-process DPDK tests, then the namespace end-to-end test.
test: deps
	$(CARGO) test --workspace --release
	$(MAKE) fuzz-smoke
	$(MAKE) e2e

e2e: build
	tests/e2e/testbed_e2e.sh
	tests/e2e/handover_e2e.sh
	tests/e2e/diskfull_e2e.sh
	tests/e2e/operator_e2e.sh
	tests/e2e/flood_e2e.sh
	tests/e2e/crash_e2e.sh
	tests/e2e/dpdktools_e2e.sh
	tests/e2e/nat_e2e.sh
	tests/e2e/mcm_nat_e2e.sh
	tests/e2e/mcm_backend_e2e.sh
	tests/e2e/cluster_e2e.sh
	perf/pcapgen/check.sh
	perf/xdp/check.sh

# The demo needs only the two daemons, built without LTO (profile `demo`) to keep a fresh
# machine's build short.
demo: deps
	$(CARGO) build --profile demo -p msm -p mcm
	MSM_BIN=$(CURDIR)/target/demo/msm MCM_BIN=$(CURDIR)/target/demo/mcm scripts/demo.sh

# The cluster act (docs/cluster.md): the handover demo with the active MSM of a hot-standby
# pair on a 3-member etcd SIGKILLed mid-stream. Needs etcd-server.
demo-cluster: deps
	$(CARGO) build --profile demo -p msm -p mcm
	MSM_BIN=$(CURDIR)/target/demo/msm MCM_BIN=$(CURDIR)/target/demo/mcm scripts/demo-cluster.sh

bench: build
	perf/bench.sh

clean:
	$(CARGO) clean

# Fuzzing (cargo-fuzz, libFuzzer; fuzz/run.sh, docs/testing.md "Fuzzing"). fuzz-smoke:
# every target a few seconds on its checked-in corpus (fuzz/corpus/, part of `test`).
# fuzz: the long campaign, FUZZ_SECONDS per target (FUZZ_RUNS executions at most),
# FUZZ_JOBS parallel jobs, FUZZ_TARGETS to choose; prints executions, coverage, crashes.
# fuzz-seeds: rewrite the seeds from the project's emitters; fuzz-cmin: minimise the
# checked-in corpora (with what a campaign found in fuzz/corpus-run/), keeping one input
# per edge (-use_counters=0: a small corpus for CI; fuzz/corpus-run/ keeps the rest).
FUZZ_TARGETS ?= dataplane mip_request registrar journal_replay subscribers config
export FUZZ_TARGETS FUZZ_SECONDS FUZZ_RUNS FUZZ_JOBS FUZZ_SANITIZER FUZZ_SMOKE_SECONDS

fuzz-smoke: deps
	fuzz/run.sh smoke

fuzz: deps
	fuzz/run.sh campaign

fuzz-seeds: deps
	cd fuzz && $(CARGO) run --release --example seeds

fuzz-cmin: deps
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  if [ -d corpus-run/$$t ]; then cp -n corpus-run/$$t/* corpus/$$t/; fi; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz cmin -O -a -s $${FUZZ_SANITIZER:-none} \
	    --target-dir target/$${FUZZ_SANITIZER:-none} $$t corpus/$$t -- -use_counters=0 || exit 1; \
	done

# Man pages of msm and mcm (and their subcommands), generated from the clap definitions
# into docs/man/ (committed; a unit test fails when they are stale).
man:
	$(CARGO) run -q -p msm --bin msm -- manpages docs/man
	$(CARGO) run -q -p mcm --bin mcm -- manpages docs/man

# --- msm-pcapgen (perf/pcapgen, perf/pktgen, perf/trex): workload pcaps for testers ---
# pcapgen-check: every workload through `msm run` on net_pcap, output verified (root).
# profiles-check: Lua/Python checks of the pktgen-dpdk and TRex profiles (lua5.3 optional).
.PHONY: pcapgen-check profiles-check
pcapgen-check: build
	perf/pcapgen/check.sh

profiles-check:
	perf/pktgen/check-profiles.sh

# Profiling (issue 5): the worker under load, perf record -> flamegraph SVG in perf/results/
# (perf/profile.sh; how to read it and the stage counters: perf/README.md).
.PHONY: profile
profile: deps
	perf/profile.sh
