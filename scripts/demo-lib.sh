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

# The MCM's log lines that match the extended regex $1, live on the terminal
# (tail's pid is what is killed; the filter ends with its input).
follow_mcm_log() { # pattern
  tail -n0 -F "$W/mcm.log" 2>/dev/null > >(grep --line-buffered -E "$1" |
    sed -u -E 's/^[0-9T:.-]+Z +//; s/^/    [mcm] /') & BG+=($!)
}

# One long TCP stream from the server to the terminal's home address, with its progress
# file; sets RECV and SEND (the two pids).
start_stream() {
  nsx mobile $PY "$ROOT/scripts/tcpstream.py" recv 192.0.2.10 5001 --progress "$W/progress" >"$W/recv.json" 2>"$W/recv.err" &
  RECV=$!; BG+=($RECV)
  for _ in $(seq 50); do nsx mobile ss -ltn 2>/dev/null | grep -q ':5001' && break; sleep 0.1; done
  nsx srv $PY "$ROOT/scripts/tcpstream.py" send 192.0.2.10 5001 --stop-file "$W/stop" >"$W/send.json" 2>"$W/send.err" &
  SEND=$!; BG+=($SEND)
  echo "== server 203.0.113.130 sends one TCP stream to the terminal's home address 192.0.2.10:5001"
}
