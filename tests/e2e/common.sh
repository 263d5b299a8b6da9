# Shared helpers of the namespace e2e scripts (sourced, not run). Root only.
#
# The sourcing script sets P (namespace prefix, also exported as MSM_TB), WORK (its temp
# dir), SOCK (the MSM's control socket) and MSM (the binary) first, and calls
# `e2e_cleanup` from its own EXIT trap. Provides: nsx, ctl, stat, check, grew,
# start_msm, resolved, wait_resolved, mip, e2e_config, e2e_subscribers, e2e_summary.
# shellcheck shell=bash

PASS=${PASS:-0} FAIL=${FAIL:-0}
MSM_PID=

nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
ctl() { "$MSM" ctl --socket "$SOCK" "$@"; }
# A counter summed over workers (`total`), or a dotted path into the stats JSON.
stat() { ctl stats | /usr/bin/python3 -c "
import json,sys; d=json.load(sys.stdin); k='$1'
v=d['total'].get(k) if '.' not in k else None
if v is None:
    v=d
    for p in k.split('.'): v=v[int(p)] if isinstance(v,list) else v[p]
print(v)"; }
check() { # name command...
  local name=$1; shift
  if "$@" >"$WORK/out" 2>&1; then
    PASS=$((PASS + 1)); echo "PASS $name"
  else
    FAIL=$((FAIL + 1)); echo "FAIL $name"; sed 's/^/    /' "$WORK/out" | tail -20
  fi
}
grew() { # counter before: the counter grew
  local now; now=$(stat "$1") || return 1; echo "$1: $2 -> $now"; [ -n "$2" ] && [ "$now" -gt "$2" ]
}
start_msm() {
  # Not through nsx: `ip netns exec` must be the backgrounded process itself, so that
  # $! is the MSM's pid (ip execs it) and SIGKILL really kills the MSM.
  ip netns exec "$P-core" "$MSM" run --config "$WORK/msm.toml" >>"$WORK/msm.log" 2>&1 &
  MSM_PID=$!
  for _ in $(seq 100); do ctl ping >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
stop_msm() {
  [ -n "$MSM_PID" ] || return 0
  kill -TERM "$MSM_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$MSM_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$MSM_PID" 2>/dev/null
  wait "$MSM_PID" 2>/dev/null
  MSM_PID=
}
resolved() { [ "$(stat neighbours_resolved)" = "$(stat neighbours_total)" ]; }
wait_resolved() { for _ in $(seq 50); do resolved 2>/dev/null && return 0; sleep 0.2; done; return 1; }
mip() { # ns args...: the independent scapy/hmac client
  local ns=$1; shift
  nsx "$ns" /usr/bin/python3 "$ROOT/tests/e2e/mipclient.py" "$@"
}
# The testbed's subscribers plus N more for storms (100.64.0.0/16), into FILE.
e2e_subscribers() { # file n
  cp "$ROOT/dpdk-config/testbed-subscribers.txt" "$1"
  /usr/bin/python3 - "$2" >>"$1" <<'PY'
import hashlib, ipaddress, sys
for i in range(int(sys.argv[1])):
    print(4917100000000 + i, ipaddress.IPv4Address(0x64400001 + i), 256, hashlib.sha256(str(i).encode()).hexdigest())
PY
}
# $WORK/msm.toml from dpdk-config/testbed.toml: this test's socket, namespace prefix,
# subscriber file and state directory.
e2e_config() { # subscribers state_dir
  sed -e "s|/run/msm-testbed.sock|$SOCK|" -e "s|\"msmtb\"|\"$P\"|" \
      -e "s|preload = \"testbed-bindings.txt\"|preload = \"$ROOT/dpdk-config/testbed-bindings.txt\"|" \
      -e "s|subscribers = \"testbed-subscribers.txt\"|subscribers = \"$1\"|" \
      -e "s|state_dir = \"/var/lib/msm-testbed\"|state_dir = \"$2\"|" \
      "$ROOT/dpdk-config/testbed.toml" >"$WORK/msm.toml"
}
# Stops the MSM and takes the testbed down (call from the EXIT trap).
e2e_cleanup() {
  stop_msm
  MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" down >/dev/null 2>&1
  rm -f /dev/shm/*"$P"* 2>/dev/null
}
e2e_summary() { # name: prints the tally, exit status 1 if anything failed
  echo "$1: $PASS passed, $FAIL failed"
  [ "$FAIL" = 0 ]
}
