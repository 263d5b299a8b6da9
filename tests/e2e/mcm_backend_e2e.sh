#!/usr/bin/env bash
# End-to-end test of the MCM's choice of tunnel backend at start (`tunnel_backend`,
# mcm/src/backend.rs; root, one namespace, no MSM, a few seconds).
#
# The namespace has the home address on lo and a veth `wwan0` (the MCM binds its
# registration socket to it); no WLAN, so nothing registers. First `ip link add ... type
# ipip` in the namespace tells whether this kernel has ipip. Without it (the machines this
# project is tested on): `auto` must pick the TUN device and log why, `kernel` must refuse
# to start (exit 1, one clear error, nothing left behind: no TUN device, no rule), `tun`
# starts as ever. With ipip (not runnable here): `auto` and `kernel` must pick the kernel
# device, and the probe's temporary device must be gone. `mcm ctl status` shows the
# choice (`tunnel_backend`). A bad value is refused by `mcm check-config`, naming the key.
# Cleans up its namespace and processes on every exit path. Run it, as the other e2e
# scripts, under `flock /tmp/msm-e2e.lock`.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MCM=${MCM_BIN:-$ROOT/target/release/mcm}
NS=msmkbe2e-mobile
WORK=$(mktemp -d /tmp/msm-kb-e2e.XXXXXX)
PY=/usr/bin/python3
PASS=0 FAIL=0 MCM_PID=

cleanup() {
  if [ -n "$MCM_PID" ]; then kill -KILL "$MCM_PID" 2>/dev/null; wait "$MCM_PID" 2>/dev/null; fi
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "e2e: needs root" >&2; exit 1; }
[ -x "$MCM" ] || { echo "e2e: build first: cargo build --release -p mcm" >&2; exit 1; }

# check (and e2e_summary) from the e2e scripts' shared helpers.
source "$ROOT/tests/e2e/common.sh"

ip netns del "$NS" 2>/dev/null
ip netns add "$NS" || exit 1
ip -n "$NS" link set lo up
ip -n "$NS" addr add 192.0.2.10/32 dev lo
ip -n "$NS" link add wwan0 type veth peer name wwanp
ip -n "$NS" link set wwan0 up
ip -n "$NS" link set wwanp up

if ip -n "$NS" link add kbprobe type ipip remote 198.51.100.1 2>"$WORK/ipip.err"; then
  ip -n "$NS" link del kbprobe
  IPIP=1; echo "this kernel has ipip: the kernel-device expectations apply"
else
  IPIP=0; echo "this kernel has no ipip ($(cat "$WORK/ipip.err")): auto must pick tun, kernel must fail"
fi

config() { # backend
  cat <<EOF
msisdn = "491700000010"
home = "192.0.2.10"
spi = 256
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
msm_wwan = "192.0.2.129"
msm_wlan = "198.51.100.1"
wwan = "wwan0"
wlan = ["wlan0"]
socket = "$WORK/mcm.sock"
tunnel_backend = "$1"
EOF
}

# Start the MCM with backend $1; its log in $WORK/$1.log.
start() {
  config "$1" >"$WORK/$1.toml"
  ip netns exec "$NS" "$MCM" run --config "$WORK/$1.toml" >"$WORK/$1.log" 2>&1 &
  MCM_PID=$!
  for _ in $(seq 100); do
    "$MCM" ctl --socket "$WORK/mcm.sock" status >"$WORK/$1.json" 2>/dev/null && return 0
    kill -0 "$MCM_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/$1.log"; return 1
}
stop() {
  kill -TERM "$MCM_PID" 2>/dev/null
  wait "$MCM_PID"; local rc=$?
  MCM_PID=
  return "$rc"
}
backend_is() { # backend-json kind mode reason-substring
  $PY - "$@" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["tunnel_backend"]
print(b)
sys.exit(not (b["kind"] == sys.argv[2] and b["mode"] == sys.argv[3] and sys.argv[4] in b["reason"]))
PY
}
no_probe_device_left() { ! ip -n "$NS" -o link show | grep -q mcmprobe; }
has_link() { ip -n "$NS" -o link show "$1"; }
no_link() { ! ip -n "$NS" -o link show "$1" 2>/dev/null; }
no_rule() { ! ip -n "$NS" rule show | grep -q 'lookup 100'; }
log_has() { grep -F -- "$2" "$WORK/$1.log"; }

# --- auto -------------------------------------------------------------------------------
check "auto: the MCM starts" start auto
if [ "$IPIP" = 0 ]; then
  check "auto: status shows tunnel_backend tun (mode auto, kernel ipip unavailable)" \
    backend_is "$WORK/auto.json" tun auto "kernel ipip unavailable: Unknown device type"
  check "auto: one log line says which backend and why" \
    log_has auto 'tunnel backend: tun (tunnel_backend = "auto": kernel ipip unavailable: Unknown device type'
  check "auto: the TUN device mip0 exists" has_link mip0
else
  check "auto: status shows tunnel_backend kernel" backend_is "$WORK/auto.json" kernel auto "test ipip device"
  check "auto: one log line says which backend and why" log_has auto 'tunnel backend: kernel (tunnel_backend = "auto"'
  check "auto: no kernel tunnel device before a binding" no_link mcmip0
fi
check "auto: the probe's temporary device is gone" no_probe_device_left
check "auto: SIGTERM stops it with status 0" stop
check "auto: the rule is removed at exit" no_rule

# --- kernel -----------------------------------------------------------------------------
config kernel >"$WORK/kernel.toml"
if [ "$IPIP" = 0 ]; then
  ip -n "$NS" link del mip0 2>/dev/null
  timeout 20 ip netns exec "$NS" "$MCM" run --config "$WORK/kernel.toml" >"$WORK/kernel.log" 2>&1
  rc=$?
  echo "kernel: exit status $rc"
  check "kernel: refuses to start with exit status 1 (no panic: 101, no hang: 124)" test "$rc" = 1
  check "kernel: the error names the option and the kernel's reason" \
    log_has kernel 'tunnel_backend = "kernel": the kernel cannot create an ipip device: Unknown device type'
  check "kernel: no panic" sh -c "! grep -q panicked '$WORK/kernel.log'"
  check "kernel: nothing set up before it stopped (no TUN device, no rule, no socket)" \
    sh -c "! ip -n $NS -o link show mip0 2>/dev/null && ! ip -n $NS rule show | grep -q 'lookup 100' && [ ! -e '$WORK/mcm.sock' ]"
  check "kernel: the probe's temporary device is gone" no_probe_device_left
else
  check "kernel: the MCM starts" start kernel
  check "kernel: status shows tunnel_backend kernel" backend_is "$WORK/kernel.json" kernel kernel "kernel"
  check "kernel: SIGTERM stops it with status 0" stop
  check "kernel: no kernel tunnel device left" no_link mcmip0
fi

# --- tun --------------------------------------------------------------------------------
check "tun: the MCM starts" start tun
check "tun: status shows tunnel_backend tun (mode tun)" backend_is "$WORK/tun.json" tun tun 'tunnel_backend = "tun"'
check "tun: the log says so" log_has tun 'tunnel backend: tun (tunnel_backend = "tun")'
check "tun: SIGTERM stops it with status 0" stop

# --- a bad value ------------------------------------------------------------------------
config ipip >"$WORK/bad.toml"
check "check-config refuses tunnel_backend = \"ipip\" naming the key" \
  sh -c "! '$MCM' check-config '$WORK/bad.toml' 2>'$WORK/bad.err' && grep -F 'tunnel_backend: \"ipip\" must be \"auto\", \"kernel\" or \"tun\"' '$WORK/bad.err'"

echo
e2e_summary "mcm backend e2e"
