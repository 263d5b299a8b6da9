#!/usr/bin/env bash
# Crash and fault end-to-end test of the MSM on the namespace testbed (root).
#
# 1. A preloaded binding removed while running (unbind) does not come back after a
#    kill -9 and restart (the preload file is applied once per content).
# 2. kill -9 loop: CRASH_ROUNDS (default 20) registration storms from the WWAN side
#    (path 1, 1500 requests/s, a fresh care-of address per home and round), each cut by a
#    SIGKILL of the MSM at a random instant, then a restart on the same state directory.
#    After every restart each storm home is read back (`show`) and checked against a
#    model of what may be bound:
#      * a home whose request got code 0 is bound to that care-of address (or to a later
#        acknowledged one);
#      * a home whose request was never sent, was refused (non-zero code), or carried a
#        bad authenticator keeps its previous state (never this round's address; homes
#        only ever sent bad requests, and homes never sent anything, have no binding);
#      * a request in flight at the kill (sent, no reply seen) may go either way: the
#        home is then bound to this round's address or keeps its previous state (the
#        MSM may have committed it without the reply leaving, or never received it).
#    What is found becomes the model's state for the next round (it is durable: it was
#    replayed from the journal).
# 3. A worker that panics (test-only fault injection, MSM_TEST_PANIC_WORKER) raises the
#    alarm worker_stopped and `msm run` exits with 3 within a bound.
# Cleans up its namespaces and processes on every exit path.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
export MSM_TB=${MSM_TB:-msmcrash}
P=$MSM_TB
ROUNDS=${CRASH_ROUNDS:-20}
GOOD=${CRASH_GOOD:-1300} # storm homes sent valid requests
BAD=${CRASH_BAD:-100}    # storm homes sent only requests with a bad authenticator
NEVER=${CRASH_NEVER:-100} # storm homes never sent anything
RATE=${CRASH_RATE:-1500} # requests per second
WORK=$(mktemp -d /tmp/msm-crash.XXXXXX)
SOCK=$WORK/msm.sock
MSM_PID= CLIENT_PID=
PASS=0 FAIL=0

cleanup() {
  if [ -n "${MSM_E2E_KEEP:-}" ]; then mkdir -p "$MSM_E2E_KEEP"; cp "$WORK"/*.log "$WORK"/model.json "$MSM_E2E_KEEP"/ 2>/dev/null; fi
  [ -n "$CLIENT_PID" ] && kill -KILL "$CLIENT_PID" 2>/dev/null
  [ -n "$MSM_PID" ] && kill -TERM "$MSM_PID" 2>/dev/null && sleep 1
  [ -n "$MSM_PID" ] && kill -KILL "$MSM_PID" 2>/dev/null
  MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" down >/dev/null 2>&1
  rm -rf "$WORK" /dev/shm/*"$P"* 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
ctl() { "$MSM" ctl --socket "$SOCK" "$@"; }
check() { # name command...
  local name=$1; shift
  if "$@" >"$WORK/out" 2>&1; then
    PASS=$((PASS + 1)); echo "PASS $name"; sed 's/^/    /' "$WORK/out" | tail -3
  else
    FAIL=$((FAIL + 1)); echo "FAIL $name"; sed 's/^/    /' "$WORK/out" | tail -20
  fi
}

[ "$(id -u)" = 0 ] || { echo "crash e2e: needs root" >&2; exit 1; }
# Care-of addresses: 2048 per round in 198.18.0.0/15.
[ "$ROUNDS" -le 63 ] && [ $((GOOD + BAD)) -le 2047 ] || { echo "crash e2e: at most 63 rounds of 2047 homes" >&2; exit 1; }
[ -x "$MSM" ] || { echo "crash e2e: $MSM not built" >&2; exit 1; }

MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up >"$WORK/testbed.log" 2>&1 || {
  cat "$WORK/testbed.log"; exit 1; }
# Subscribers: the testbed's two, then the storm's (homes in 100.64.0.0/16).
cp "$ROOT/dpdk-config/testbed-subscribers.txt" "$WORK/subs.txt"
/usr/bin/python3 - "$((GOOD + BAD + NEVER))" >>"$WORK/subs.txt" <<'PY'
import hashlib, ipaddress, sys
for i in range(int(sys.argv[1])):
    print(4917200000000 + i, ipaddress.IPv4Address(0x64400001 + i), 256, hashlib.sha256(b"crash%d" % i).hexdigest())
PY
sed -e "s|/run/msm-testbed.sock|$SOCK|" -e "s|\"msmtb\"|\"$P\"|" \
    -e "s|preload = \"testbed-bindings.txt\"|preload = \"$ROOT/dpdk-config/testbed-bindings.txt\"|" \
    -e "s|subscribers = \"testbed-subscribers.txt\"|subscribers = \"$WORK/subs.txt\"|" \
    -e "s|state_dir = \"/var/lib/msm-testbed\"|state_dir = \"$WORK/state\"|" \
    -e "s|^stats_interval_ms = .*|&\nstats_file = \"$WORK/stats.json\"|" \
    "$ROOT/dpdk-config/testbed.toml" >"$WORK/msm.toml"

start_msm() {
  # `ip netns exec` must be the backgrounded process itself, so that $! is the MSM's pid
  # (ip execs it) and SIGKILL really kills the MSM.
  ip netns exec "$P-core" "$MSM" run --config "$WORK/msm.toml" >>"$WORK/msm.log" 2>&1 &
  MSM_PID=$!
  for _ in $(seq 100); do ctl ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer on the control socket"; tail -5 "$WORK/msm.log"; return 1
}
kill9() {
  kill -KILL "$MSM_PID" 2>/dev/null; wait "$MSM_PID" 2>/dev/null
  ! kill -0 "$MSM_PID" 2>/dev/null || { echo "MSM survived SIGKILL?"; return 1; }
  MSM_PID=
}
# Replies go out only once the GGSN's MAC is known: wait for ARP after each start.
resolved() {
  for _ in $(seq 100); do
    ctl stats 2>/dev/null | /usr/bin/python3 -c "
import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['total']['neighbours_resolved'] == d['total']['neighbours_total'] else 1)" && return 0
    sleep 0.05
  done
  echo "next hops not resolved"; return 1
}

# --- 1. a removed preloaded binding stays removed ------------------------------------------
preload_stays_removed() {
  start_msm && resolved || return 1
  ctl show 192.0.2.10 | grep -q 203.0.113.10 || { echo "not preloaded"; return 1; }
  ctl unbind 192.0.2.10 || return 1
  kill9 && start_msm || return 1
  local out; out=$(ctl show 192.0.2.10); echo "after restart: $out"
  [[ "$out" == *"no binding"* ]] || return 1
  grep -q "was applied before: not again" "$WORK/msm.log" || { echo "no 'not again' log line"; return 1; }
}
check "preloaded binding removed by unbind does not come back after kill -9 + restart" preload_stays_removed
if [ -z "$MSM_PID" ]; then
  echo "--- msm log"; tail -20 "$WORK/msm.log"; echo "crash e2e: $PASS passed, $FAIL failed"; exit 1
fi

# --- 2. kill -9 loop during registration storms --------------------------------------------
cat >"$WORK/storm.py" <<'PY'
# One round's storm: valid requests for homes [0, GOOD), bad-authenticator ones for
# [GOOD, GOOD+BAD), shuffled, at RATE/s, care-of 198.18.0.0 + 2048*round + i + 1.
# Logs "START", then "SENT i coa good|bad" before each send and "REPLY i code auth_ok".
# The shell freezes it (SIGSTOP) at the kill instant.
import random, select, socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
from mipclient import build_request, ntp_ident, parse_reply, read_subscribers
subs_path, rnd, good, bad, rate, log = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
subs = read_subscribers(subs_path, 2 + good + bad)[2:]
out = open(log, "a", buffering=1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.130", 0))
s.setblocking(False)
order = list(range(good + bad))
random.shuffle(order)
pending, last = {}, 0
def drain():
    while True:
        try:
            data, _ = s.recvfrom(2048)
        except BlockingIOError:
            return
        if len(data) < 20 or data[0] != 3:
            continue
        (ident,) = struct.unpack("!Q", data[12:20])
        p = pending.pop(ident & 0xFFFFFFFF, None)
        if p is not None:
            i, key = p
            r = parse_reply(data, key, 256)
            out.write(f"REPLY {i} {r['code']} {int(bool(r['auth_ok']))}\n")
reqs = []  # built first (scapy is slower than the storm's rate)
for i in order:
    msisdn, home, spi, key = subs[i]
    coa = socket.inet_ntoa(struct.pack("!I", 0xC6120000 + 2048 * rnd + i + 1))
    last = max(ntp_ident(), last + 1)
    reqs.append((i, coa, key, last, build_request(home, "192.0.2.129", coa, 600, msisdn, spi, key, last, bad_auth=i >= good)))
out.write("START\n")
t0 = time.time()
for n, (i, coa, key, ident, req) in enumerate(reqs):
    pending[ident & 0xFFFFFFFF] = (i, key)
    out.write(f"SENT {i} {coa} {'bad' if i >= good else 'good'}\n")
    s.sendto(req, ("192.0.2.129", 434))
    drain()
    delay = t0 + (n + 1) / rate - time.time()
    if delay > 0:
        time.sleep(delay)
deadline = time.time() + 3
while pending and time.time() < deadline:
    select.select([s], [], [], 0.05)
    drain()
out.write("END\n")
PY
cat >"$WORK/check.py" <<'PY'
# Reads one round's log, checks every storm home's binding against the model, updates it.
import ipaddress, json, os, socket, sys, time
from concurrent.futures import ThreadPoolExecutor
sock, model_path, log, good, total, rnd = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
home = lambda i: str(ipaddress.IPv4Address(0x64400001 + i))
# model: allowed states per home index (a care-of address, or None = no binding)
model = json.load(open(model_path)) if os.path.exists(model_path) else {str(i): [None] for i in range(total)}
sent, replied, started, ended = {}, {}, False, False
for line in open(log):
    f = line.split()
    if not f:
        continue
    if f[0] == "START": started = True
    elif f[0] == "END": ended = True
    elif f[0] == "SENT" and len(f) == 4: sent[int(f[1])] = (f[2], f[3])
    elif f[0] == "REPLY" and len(f) == 4: replied[int(f[1])] = (int(f[2]), f[3] == "1")
acked = inflight = refused = bad = 0
for i, (coa, kind) in sent.items():
    allowed = model[str(i)]
    if kind == "bad":
        bad += 1
        if i in replied and replied[i][0] == 0:
            print(f"FAIL {home(i)}: a bad-authenticator request got code 0"); sys.exit(1)
        continue
    r = replied.get(i)
    if r is None:
        inflight += 1; model[str(i)] = allowed + [coa]       # either way
    elif r[0] == 0 and r[1]:
        acked += 1; model[str(i)] = [coa]                     # must be bound to it
    else:
        refused += 1                                          # unchanged
def show(h):
    for _ in range(50):
        s = socket.socket(socket.AF_UNIX); s.connect(sock); s.sendall(f"show {h}\n".encode())
        r = b""
        while chunk := s.recv(4096): r += chunk
        s.close()
        r = json.loads(r)
        if r.get("error") != "busy":
            return r
        time.sleep(0.01)
    return r
# Concurrent requests: the operator socket's accept loop then finds them waiting.
with ThreadPoolExecutor(8) as ex:
    answers = list(ex.map(show, [home(i) for i in range(total)]))
bad_homes, bound_inflight = [], 0
for i, r in enumerate(answers):
    if "error" in r:
        if "no binding" not in r["error"]:
            print("unexpected answer", home(i), r); sys.exit(1)
        got = None
    else:
        got = r.get("care_of")
    allowed = model[str(i)]
    if got not in allowed:
        kind = sent.get(i, (None, "never sent"))[1]
        bad_homes.append(f"{home(i)} ({kind}, reply {replied.get(i)}): found {got}, allowed {allowed}")
    elif i in sent and i not in replied and sent[i][1] == "good" and got == sent[i][0]:
        bound_inflight += 1
    model[str(i)] = [got]
json.dump(model, open(model_path, "w"))
never = total - len(sent)
cut = len(sent) < good + int(sys.argv[7])
print(f"round {rnd}: sent {len(sent)} (storm {'cut' if cut else 'all sent'}), code 0 {acked}, "
      f"refused {refused}, bad-auth {bad}, in flight {inflight} (bound after restart {bound_inflight}), "
      f"not sent {never}; {len(bad_homes)} wrong")
for b in bad_homes[:20]:
    print("WRONG", b)
sys.exit(1 if bad_homes or not started else 0)
PY

: >"$WORK/rounds.log"
round() { # r
  local r=$1 log=$WORK/round$1.log
  : >"$log"
  # Not through nsx (a function: $! would be a subshell): $! is the client itself.
  ip netns exec "$P-wwan" /usr/bin/python3 "$WORK/storm.py" "$ROOT/tests/e2e" "$WORK/subs.txt" "$r" "$GOOD" "$BAD" "$RATE" "$log" \
    >"$WORK/storm$r.out" 2>&1 &
  CLIENT_PID=$!
  for _ in $(seq 100); do grep -q START "$log" && break; sleep 0.05; done
  grep -q START "$log" || { echo "storm client did not start"; cat "$WORK/storm$r.out"; return 1; }
  # A random instant in the storm (20 .. 800 ms after its start; sending lasts ~0.93 s).
  sleep "$(printf '0.%03d' $((20 + RANDOM % 780)))"
  # Freeze the client (what it has not sent by now is never sent), then kill the MSM.
  kill -STOP "$CLIENT_PID" 2>/dev/null
  kill9 || return 1
  # The log is line-buffered and each SENT line precedes its send: the log holds every
  # request sent and every reply received.
  kill -KILL "$CLIENT_PID" 2>/dev/null; wait "$CLIENT_PID" 2>/dev/null; CLIENT_PID=
  start_msm && resolved || return 1
  /usr/bin/python3 "$WORK/check.py" "$SOCK" "$WORK/model.json" "$log" "$GOOD" "$((GOOD + BAD + NEVER))" "$r" "$BAD" \
    | tee -a "$WORK/rounds.log"
}
t0=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
  check "kill -9 round $r: acknowledged bindings present, nothing unacknowledged bound" round "$r"
  [ -n "$MSM_PID" ] || break
done
loop_summary() {
  /usr/bin/python3 - "$WORK/rounds.log" "$ROUNDS" <<'PY'
import re, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("round ")]
tot = lambda k: sum(int(re.search(k + r" (\d+)", l).group(1)) for l in lines)
print(f"{len(lines)} rounds: code 0 {tot('code 0')}, in flight {tot('in flight')} "
      f"(bound after restart {tot('bound after restart')}), refused {tot('refused')}, "
      f"bad-auth {tot('bad-auth')}, not sent {tot('not sent')}, "
      f"storms cut before all was sent {sum('(storm cut)' in l for l in lines)}")
sys.exit(0 if len(lines) == int(sys.argv[2]) and tot("code 0") > 0 and tot("in flight") > 0
         and sum('(storm cut)' in l for l in lines) > 0 else 1)
PY
}
check "kill -9 loop: $ROUNDS rounds checked, acks seen, storms cut mid-way ($(( $(date +%s) - t0 )) s)" loop_summary

# --- 3. a worker panic: alarm, the others stopped, exit 3 --------------------------------
worker_panic() {
  if [ -n "$MSM_PID" ]; then kill -TERM "$MSM_PID"; wait "$MSM_PID" 2>/dev/null; MSM_PID=; fi
  : >"$WORK/panic.log"
  ip netns exec "$P-core" env MSM_TEST_PANIC_WORKER=0:1500 "$MSM" run --config "$WORK/msm.toml" \
    >"$WORK/panic.log" 2>&1 &
  MSM_PID=$!
  for _ in $(seq 100); do ctl ping >/dev/null 2>&1 && break; sleep 0.1; done
  ctl ping >/dev/null 2>&1 || { echo "did not start"; tail "$WORK/panic.log"; return 1; }
  local rc=
  for _ in $(seq 150); do # 15 s bound
    if ! kill -0 "$MSM_PID" 2>/dev/null; then wait "$MSM_PID"; rc=$?; break; fi
    sleep 0.1
  done
  [ -n "$rc" ] || { echo "still running 15 s after the injected panic"; return 1; }
  MSM_PID=
  grep -E "ALARM|panicked|exit|stopped" "$WORK/panic.log" | tail -6
  echo "exit status $rc"
  [ "$rc" = 3 ] &&
    grep -q "ALARM raised: worker_stopped: worker\[0\] panicked: fault injection" "$WORK/panic.log" &&
    grep -q '"name": "worker_stopped"' "$WORK/panic.log" &&
    { grep -q '"name":"worker_stopped"' "$WORK/stats.json" || { echo "alarm not in the stats file"; false; }; }
}
check "worker panic (MSM_TEST_PANIC_WORKER): alarm worker_stopped, exit 3 within 15 s" worker_panic

echo "--- msm log (tail)"; tail -3 "$WORK/msm.log"
echo "crash e2e: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
