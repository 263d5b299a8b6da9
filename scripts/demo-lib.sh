# Shared by scripts/demo.sh and scripts/demo-cluster.sh (sourced, not run): the cleanup
# trap, the root check and the helpers that drive the handover testbed and the MCM.
# Expects W (work dir), P (testbed prefix), TB, MCM, PY and BG=() to be set; $1 is the
# name used in messages.
demo_name=$1

cleanup() {
  touch "$W/stop" 2>/dev/null
  for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
  "$TB" down >/dev/null 2>&1
  if [ -n "${DEMO_KEEP:-}" ]; then mkdir -p "$DEMO_KEEP" && cp -r "$W"/. "$DEMO_KEEP"/ 2>/dev/null; fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] || { echo "$demo_name: needs root (network namespaces)" >&2; exit 1; }

nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
mcmctl() { "$MCM" ctl --socket "$W/mcm.sock" "$@"; }
mcm_state() { mcmctl status | $PY -c "import json,sys; print(json.load(sys.stdin)['machine']['state'])"; }
wait_state() { # state seconds
  for _ in $(seq $(($2 * 10))); do [ "$(mcm_state 2>/dev/null)" = "$1" ] && return 0; sleep 0.1; done
  return 1
}
stamp() { $PY -c 'import time; print(f"{time.time():.3f}")'; }
