#!/usr/bin/env bash
# Static checks of the tester profiles (pktgen-dpdk and TRex are not installed here):
# Lua syntax (luac5.3 -p), a run of both pktgen scripts against perf/pktgen/mock_pktgen.lua
# (a stand-in for pktgen's Lua API that checks the calls' argument counts), and Python
# byte-compilation of the TRex profiles, and (with TREX_PY) loading them with TRex's own
# client library. Says which checks it skipped.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FAIL=0
if command -v luac5.3 >/dev/null && command -v lua5.3 >/dev/null; then
  luac5.3 -p "$ROOT"/perf/pktgen/*.lua && echo "PASS lua syntax: $(cd "$ROOT/perf/pktgen" && ls *.lua | tr '\n' ' ')" || FAIL=1
  (cd "$ROOT/perf/pktgen" && MSM_SECONDS=1 lua5.3 mock_pktgen.lua msm-replay.lua >/dev/null) \
    && echo "PASS msm-replay.lua runs against the mock API" || FAIL=1
  (cd "$ROOT/perf/pktgen" && MSM_FRAMES=1001 MSM_EXPECT_COUNT=1001 lua5.3 mock_pktgen.lua registrations.lua >/dev/null) \
    && echo "PASS registrations.lua runs against the mock API (count = MSM_FRAMES)" || FAIL=1
else
  echo "SKIP lua checks: lua5.3 not installed (apt-get install lua5.3)"
fi
tmp=$(mktemp -d)
for f in "$ROOT"/perf/trex/*.py; do
  if python3 -c "import py_compile,sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)" "$f" "$tmp/x.pyc"; then
    echo "PASS python compiles: ${f#"$ROOT"/}"
  else
    FAIL=1
  fi
done
# With TRex's Python client library (TREX_PY = its automation/trex_control_plane/interactive
# directory; no server needed), load the profiles on generated pcaps and check the streams.
if [ -n "${TREX_PY:-}" ]; then
  GEN=${PCAPGEN_BIN:-$ROOT/target/release/msm-pcapgen}
  if "$GEN" registrations --out "$tmp/p" --subscribers 300 >/dev/null &&
     "$GEN" downlink --out "$tmp/p" --subscribers 300 --packets 2000 --size mix >/dev/null &&
     PYTHONPATH=$TREX_PY /usr/bin/python3 -W ignore "$ROOT/perf/trex/check_profiles.py" "$tmp/p"; then :; else FAIL=1; fi
else
  echo "SKIP TRex stream check: set TREX_PY to TRex's automation/trex_control_plane/interactive"
fi
rm -rf "$tmp"
[ "$FAIL" = 0 ]
