#!/usr/bin/env bash
# Hot standby on etcd, end to end against a real 3-member etcd on 127.0.0.1 (no DPDK):
# two members (examples/clusterbench.rs: the MSM's ReplicatedLog, local journal and etcd
# thread, with a map as the table) on one shard.
# 1. Failover: A wins the shard and writes groups of binding changes (several in
#    flight), B follows as a standby; SIGKILL A at a random instant. B must take over,
#    and every change A got acknowledged (durable locally AND in etcd) must be in B's
#    view at the takeover (the same or a later care-of address for its home).
# 2. Zombie: B (now active) is SIGSTOPped past its lease; C (a new standby) takes over;
#    B gets SIGCONT: it must not get any later change acknowledged that C lacks, and it
#    must exit 75 (deposed, restart as a standby).
# 3. The MSM itself (root; namespace testbed, two DPDK processes on the same veths):
#    msm-a and msm-b with [cluster] on a 3-member etcd in the core namespace; a
#    registration storm from the GGSN; SIGKILL of the active (msm-a) at a random instant
#    during it. msm-b must take over, and every request that got code 0 (from either)
#    must be bound to its care-of address in msm-b's table (`msm ctl show`). ARP: the
#    standby does not answer for the MSM's addresses; the new owner sends gratuitous ARP
#    on both ports and answers.
#    CLUSTER_SKIP_MSM=1 skips it.
# etcd: tests/e2e/etcd3.sh (data in a temp dir, removed on exit, with every process).
# Uses namespaces and DPDK: run it under `flock /tmp/msm-e2e.lock`.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${CLUSTERBENCH_BIN:-$ROOT/target/release/examples/clusterbench}
TTL_MS=${CLUSTER_TTL_MS:-1000}
WORK=$(mktemp -d /tmp/msm-cluster.XXXXXX)
PIDS=()
MSM_PIDS=()
PASS=0 FAIL=0
source "$ROOT/tests/e2e/etcd3.sh"
MSM=${MSM_BIN:-$ROOT/target/release/msm}
export MSM_TB=${MSM_TB:-msmclu}
P=$MSM_TB
TESTBED=
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  for p in "${MSM_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${MSM_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  etcd3_down
  [ -n "$TESTBED" ] && MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" down >/dev/null 2>&1
  rm -f /dev/shm/*"$P"* 2>/dev/null
  [ -n "${MSM_E2E_KEEP:-}" ] && { mkdir -p "$MSM_E2E_KEEP"; cp -r "$WORK"/*.log "$WORK"/*.acked "$WORK"/*.dump "$MSM_E2E_KEEP"/ 2>/dev/null; }
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
check() { # name command...
  local name=$1; shift
  if "$@" >"$WORK/out" 2>&1; then
    PASS=$((PASS + 1)); echo "PASS $name"; sed 's/^/    /' "$WORK/out" | tail -4
  else
    FAIL=$((FAIL + 1)); echo "FAIL $name"; sed 's/^/    /' "$WORK/out" | tail -20
  fi
}
[ -x "$BENCH" ] || { echo "cluster e2e: $BENCH not built (cargo build --release --example clusterbench)" >&2; exit 1; }
etcd3_up "$WORK/etcd" "${CLUSTER_ETCD_PORT:-32379}" || exit 1

member() { # name seconds-of-serving extra-args...
  local n=$1 s=$2; shift 2
  "$BENCH" --endpoints "$ETCD_ENDPOINTS" --member "$n" --state "$WORK/$n.state" --ttl-ms "$TTL_MS" \
    --seconds "$s" --group 128 --inflight 8 --homes 5000 \
    --acked "$WORK/$n.acked" --dump "$WORK/$n.dump" "$@" >"$WORK/$n.out" 2>"$WORK/$n.log" &
  PIDS+=($!)
  echo $! >"$WORK/$n.pid"
}
wait_serving() { # name timeout_s
  for _ in $(seq $(($2 * 20))); do grep -q "serving after" "$WORK/$1.log" 2>/dev/null && return 0; sleep 0.05; done
  echo "$1 never served"; tail -5 "$WORK/$1.log"; return 1
}
# Every acknowledged change of $1 is in $2's view at its takeover (same or later care-of).
covered() {
  /usr/bin/python3 - "$WORK/$1.acked" "$WORK/$2.dump" <<'PY'
import sys
acked, view = {}, {}
for l in open(sys.argv[1]):
    h, c = map(int, l.split()); acked[h] = max(acked.get(h, 0), c)
for l in open(sys.argv[2]):
    h, c = map(int, l.split()); view[h] = c
missing = [(h, c, view.get(h)) for h, c in acked.items() if view.get(h, 0) < c]
print(f"{sum(1 for _ in open(sys.argv[1]))} acknowledged changes on {len(acked)} homes; the standby's view: {len(view)} homes")
if not acked:
    print("nothing was acknowledged: no test"); sys.exit(1)
if missing:
    print(f"{len(missing)} acknowledged changes missing, e.g. {missing[:5]}"); sys.exit(1)
PY
}

failover() {
  member a 60 && wait_serving a 10 || return 1
  member b 30 || return 1
  # Let B catch up and A write for a random 2-4 s, then SIGKILL A.
  sleep "$(/usr/bin/python3 -c 'import random; print(2 + 2 * random.random())')"
  local t_kill; t_kill=$(date +%s.%N)
  kill -KILL "$(cat "$WORK/a.pid")" || { echo "A had exited before the SIGKILL:"; tail -3 "$WORK/a.log"; return 1; }
  wait_serving b $((TTL_MS / 1000 + 10)) || return 1
  local t_serv; t_serv=$(date +%s.%N)
  echo "B serving within $(/usr/bin/python3 -c "print(round($t_serv - $t_kill, 2))") s of the SIGKILL (lease TTL ${TTL_MS} ms; upper bound, polled)"
  covered a b
}
[ -z "${CLUSTER_ONLY_MSM:-}" ] && check "failover: SIGKILL of the active, every acknowledged change is in the standby's view" failover

zombie() {
  # B serves (after the failover) for 3 s more; C is a new standby.
  local bpid; bpid=$(cat "$WORK/b.pid")
  kill -0 "$bpid" 2>/dev/null || { echo "B is not running"; return 1; }
  member c 2 || return 1
  sleep 1
  kill -STOP "$bpid" || { echo "B had exited before the SIGSTOP:"; tail -3 "$WORK/b.log"; return 1; }
  local stopped_lines; stopped_lines=$(wc -l <"$WORK/b.acked")
  wait_serving c $((TTL_MS / 1000 + 10)) || { kill -CONT "$bpid"; return 1; }
  kill -CONT "$bpid"
  local rc=0
  for _ in $(seq 100); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.05; done
  wait "$bpid"; rc=$?
  echo "B after SIGCONT: exit $rc (75 = deposed); acked lines at SIGSTOP $stopped_lines, at exit $(wc -l <"$WORK/b.acked")"
  grep -h "deposed\|group failed" "$WORK/b.log" | head -3
  [ "$rc" = 75 ] || return 1
  covered b c
}
[ -z "${CLUSTER_ONLY_MSM:-}" ] && check "zombie: SIGSTOP of the active past its lease, SIGCONT after the takeover: deposed, no split brain" zombie


# --- 3. the MSM: two processes, a registration storm, SIGKILL of the active --------------
msm_part() {
  etcd3_down
  MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up >"$WORK/testbed.log" 2>&1 || { cat "$WORK/testbed.log"; return 1; }
  TESTBED=1
  ETCD_NETNS=$P-core etcd3_up "$WORK/etcd-msm" "${CLUSTER_ETCD_PORT2:-32579}" || return 1
  cp "$ROOT/dpdk-config/testbed-subscribers.txt" "$WORK/subs.txt"
  /usr/bin/python3 - 1000 >>"$WORK/subs.txt" <<'PY'
import hashlib, ipaddress, sys
for i in range(int(sys.argv[1])):
    print(4917300000000 + i, ipaddress.IPv4Address(0x64400001 + i), 256, hashlib.sha256(b"cluster%d" % i).hexdigest())
PY
  local m eps
  eps=$(echo "$ETCD_ENDPOINTS" | sed 's/[^,]*/"&"/g')
  for m in a b; do
    sed -e "s|/run/msm-testbed.sock|$WORK/$m.sock|" -e "s|\"msmtb\"|\"$P$m\"|" \
        -e "s|preload = \"testbed-bindings.txt\"|preload = \"$ROOT/dpdk-config/testbed-bindings.txt\"|" \
        -e "s|subscribers = \"testbed-subscribers.txt\"|subscribers = \"$WORK/subs.txt\"|" \
        -e "s|state_dir = \"/var/lib/msm-testbed\"|state_dir = \"$WORK/$m.msmstate\"|" \
        -e "/^metrics_listen/d" \
        "$ROOT/dpdk-config/testbed.toml" >"$WORK/$m.toml"
    printf '\n[cluster]\nendpoints = [%s]\nmember = "msm-%s"\nlease_ttl_ms = %s\n' "$eps" "$m" "$TTL_MS" >>"$WORK/$m.toml"
  done
  start() { # a|b
    ip netns exec "$P-core" "$MSM" run --config "$WORK/$1.toml" >>"$WORK/msm-$1.log" 2>&1 &
    MSM_PIDS+=($!); echo $! >"$WORK/msm-$1.pid"
    for _ in $(seq 100); do "$MSM" ctl --socket "$WORK/$1.sock" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "msm-$1 did not start"; tail -5 "$WORK/msm-$1.log"; return 1
  }
  field() { # a|b python-expression-on-d
    "$MSM" ctl --socket "$WORK/$1.sock" stats 2>/dev/null | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
  }
  wait_field() { # a|b expr want timeout_s
    for _ in $(seq $(($4 * 10))); do [ "$(field "$1" "$2")" = "$3" ] && return 0; sleep 0.1; done
    echo "msm-$1: $2 is $(field "$1" "$2"), not $3"; return 1
  }
  local role="d['cluster']['shards'][0]['role']"
  local nres="d['total']['neighbours_resolved'] == d['total']['neighbours_total']"
  start a && wait_field a "$role" active 10 && wait_field a "$nres" True 10 || return 1
  start b && wait_field b "$role" standby 10 && wait_field b "$nres" True 10 || return 1
  echo "msm-a active, msm-b standby"
  # ARP: only the shard's owner answers for the MSM's addresses (both processes see every
  # frame of the shared veths). The GGSN forgets the MSM's MAC and pings it: msm-a
  # answers the ARP request, msm-b counts it as arp_not_owner and stays silent.
  local arp="[d['total'].get('arp_replied', 0), d['total'].get('drop_arp_not_owner', 0)]"
  local b0; b0=$(field b "$arp")
  ip netns exec "$P-wwan" ip neigh flush dev eth0
  ip netns exec "$P-wwan" ping -c 1 -W 2 192.0.2.129 >/dev/null || { echo "the GGSN got no answer from the MSM"; return 1; }
  local b1; b1=$(field b "$arp")
  echo "ARP while msm-b is standby: msm-b (replied, not owner) $b0 -> $b1; msm-a replied $(field a "d['total'].get('arp_replied', 0)")"
  /usr/bin/python3 -c "b0, b1 = $b0, $b1; import sys; sys.exit(0 if b1[0] == b0[0] and b1[1] > b0[1] else 1)" \
    || { echo "msm-b (standby) answered ARP or did not see the request"; return 1; }
  # The storm (crash_e2e.sh's client): 1000 homes at 1000/s, one request each, from the GGSN.
  cat >"$WORK/storm.py" <<'PY'
import random, select, socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
from mipclient import build_request, ntp_ident, parse_reply, read_subscribers
subs_path, n, rate, log = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
subs = read_subscribers(subs_path, 2 + n)[2:]
out = open(log, "a", buffering=1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.130", 0)); s.setblocking(False)
pending, last, reqs = {}, 0, []
for i in range(n):
    msisdn, home, spi, key = subs[i]
    coa = socket.inet_ntoa(struct.pack("!I", 0xC6120000 + i + 1))
    last = max(ntp_ident(), last + 1)
    reqs.append((i, home, coa, key, last, build_request(home, "192.0.2.129", coa, 600, msisdn, spi, key, last)))
def drain():
    while True:
        try: data, _ = s.recvfrom(2048)
        except BlockingIOError: return
        if len(data) < 20 or data[0] != 3: continue
        (ident,) = struct.unpack("!Q", data[12:20])
        p = pending.pop(ident & 0xFFFFFFFF, None)
        if p is not None:
            i, home, coa, key = p
            r = parse_reply(data, key, 256)
            out.write(f"REPLY {home} {coa} {r['code']} {int(bool(r['auth_ok']))}\n")
out.write("START\n")
t0 = time.time()
for k, (i, home, coa, key, ident, req) in enumerate(reqs):
    pending[ident & 0xFFFFFFFF] = (i, home, coa, key)
    s.sendto(req, ("192.0.2.129", 434))
    drain()
    d = t0 + (k + 1) / rate - time.time()
    if d > 0: time.sleep(d)
end = time.time() + 3
while pending and time.time() < end:
    select.select([s], [], [], 0.05); drain()
out.write(f"END unanswered {len(pending)}\n")
PY
  : >"$WORK/storm.log"
  ip netns exec "$P-wwan" /usr/bin/python3 "$WORK/storm.py" "$ROOT/tests/e2e" "$WORK/subs.txt" 1000 1000 "$WORK/storm.log" >"$WORK/storm.out" 2>&1 &
  local cpid=$!
  for _ in $(seq 100); do grep -q START "$WORK/storm.log" && break; sleep 0.05; done
  sleep "$(printf '0.%03d' $((100 + RANDOM % 600)))"
  local a_ctl="d['control']"
  field a "{k: $a_ctl[k] for k in ('registrations_received','registrations_not_owner','replies_sent','journal_errors','journal_commits')} | {'role': d['cluster']['shards'][0]['role'], 'serving': d['cluster']['shards'][0]['serving'], 'groups': d['cluster']['groups_durable']}"
  local t_kill; t_kill=$(date +%s.%N)
  kill -KILL "$(cat "$WORK/msm-a.pid")" || { echo "msm-a had exited before the SIGKILL"; tail -3 "$WORK/msm-a.log"; return 1; }
  wait_field b "$role" active $((TTL_MS / 1000 + 10)) || return 1
  echo "msm-b active within $(/usr/bin/python3 -c "import time; print(round(time.time() - $t_kill, 2))") s of the SIGKILL (polled; lease TTL $TTL_MS ms)"
  wait "$cpid"
  tail -1 "$WORK/storm.log"
  /usr/bin/python3 - "$WORK/storm.log" "$WORK/b.sock" <<'PY'
import json, socket, sys
acked = []
for l in open(sys.argv[1]):
    f = l.split()
    if f[0] == "REPLY" and f[3] == "0" and f[4] == "1":
        acked.append((f[1], f[2]))
def show(h):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[2]); s.sendall(f"show {h}\n".encode())
    r = b""
    while chunk := s.recv(4096): r += chunk
    return json.loads(r)
wrong = [(h, c, show(h)) for h, c in acked]
wrong = [w for w in wrong if w[2].get("care_of") != w[1]]
print(f"{len(acked)} requests got code 0; {len(acked) - len(wrong)} bound to their care-of address in msm-b's table")
for w in wrong[:10]: print("MISSING", w)
sys.exit(1 if wrong or not acked else 0)
PY
  local st=$?
  # The new owner announced itself (gratuitous ARP on both ports) and answers ARP now.
  local garp; garp=$(field b "d['control']['gratuitous_arp_sent']")
  local r0; r0=$(field b "d['total'].get('arp_replied', 0)")
  ip netns exec "$P-wwan" ip neigh flush dev eth0
  ip netns exec "$P-wwan" ping -c 1 -W 2 192.0.2.129 >/dev/null
  local r1; r1=$(field b "d['total'].get('arp_replied', 0)")
  echo "msm-b after the takeover: $garp gratuitous ARP sent, ARP replies $r0 -> $r1"
  { [ "$garp" -ge 2 ] && [ "$r1" -gt "$r0" ]; } || { echo "msm-b did not announce itself or does not answer ARP"; st=1; }
  # msm-b now answers: 100 more requests, all code 0.
  : >"$WORK/storm2.log"
  ip netns exec "$P-wwan" /usr/bin/python3 "$WORK/storm.py" "$ROOT/tests/e2e" "$WORK/subs.txt" 100 500 "$WORK/storm2.log" >>"$WORK/storm.out" 2>&1
  local ok2; ok2=$(grep -c "^REPLY .* 0 1$" "$WORK/storm2.log")
  echo "after the takeover: $ok2 of 100 requests got code 0 from msm-b"
  [ "$ok2" = 100 ] || st=1
  field b "{k: d['cluster']['shards'][0][k] for k in ('role','takeovers','head_seq','table_seq')} | {'not_owner': d['control']['registrations_not_owner'], 'followed': d['control']['followed_batches']}"
  return $st
}
if [ -z "${CLUSTER_SKIP_MSM:-}" ]; then
  [ -x "$MSM" ] || { echo "cluster e2e: $MSM not built" >&2; exit 1; }
  check "msm: SIGKILL of the active MSM mid-storm, every code-0 binding in the standby's table" msm_part
fi
echo "--- C's summary"; cat "$WORK/c.out" 2>/dev/null
echo "cluster e2e: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
