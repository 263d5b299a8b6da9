#!/usr/bin/env bash
# The operator's surface on the namespace testbed (root): the Prometheus/OpenMetrics
# endpoint scraped by a real Prometheus server (Debian's `prometheus`), which must see the
# target up and return the MSM's counters for a query; systemd's notify protocol (this
# machine has no systemd as PID 1: a listener on NOTIFY_SOCKET stands in for it, with
# WATCHDOG_USEC set) and the unit file checked by `systemd-analyze verify`; the packet
# trace, the audit log, and the top-N view (`msm ctl top`, two mobiles with very different
# traffic).
# Cleans up its namespaces and processes on every exit path.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
export MSM_TB=${MSM_TB:-msmop}
P=$MSM_TB
WORK=$(mktemp -d /tmp/msm-operator.XXXXXX)
SOCK=$WORK/msm.sock
PROM_PID=
NOTIFY_PID=
# shellcheck source=tests/e2e/common.sh
. "$ROOT/tests/e2e/common.sh"

cleanup() {
  if [ -n "${MSM_E2E_KEEP:-}" ]; then mkdir -p "$MSM_E2E_KEEP"; cp "$WORK"/*.log "$MSM_E2E_KEEP"/ 2>/dev/null; fi
  [ -n "$PROM_PID" ] && kill -TERM "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
  [ -n "$NOTIFY_PID" ] && kill -TERM "$NOTIFY_PID" 2>/dev/null
  e2e_cleanup
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "operator e2e: needs root" >&2; exit 1; }
[ -x "$MSM" ] || { echo "operator e2e: $MSM not built" >&2; exit 1; }
command -v prometheus >/dev/null || { echo "operator e2e: prometheus not installed (make deps)" >&2; exit 1; }

MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up || exit 1
e2e_subscribers "$WORK/subs.txt" 100
e2e_config "$WORK/subs.txt" "$WORK/state"
grep -q '^metrics_listen = "127.0.0.1:9464"' "$WORK/msm.toml" || { echo "testbed.toml has no metrics_listen"; exit 1; }
sed -i "/^\[control\]/a audit_log = \"$WORK/audit.jsonl\"\naudit_log_max_bytes = 4096\naudit_log_keep = 2" "$WORK/msm.toml"
# CPU 1 (the worker's here): neither the control lcore's CPU the threads would inherit
# nor "every CPU", so the check below tells that the setting moved them.
sed -i "/^\[control\]/a housekeeping_cpus = [1]" "$WORK/msm.toml"
# The top-N view: 1 packet in 4 sampled (production: 1024), so that a few hundred packets
# give a usable estimate.
sed -i "/^\[control\]/a top_sample_every = 4\ntop_window_s = 30" "$WORK/msm.toml"

# systemd's side of the notify protocol: every datagram on one line ('|' for newlines).
/usr/bin/python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
out = open(sys.argv[2], 'a', buffering=1)
while True:
    out.write(s.recv(4096).decode().replace(chr(10), '|') + chr(10))" "$WORK/notify.sock" "$WORK/notify.log" &
NOTIFY_PID=$!
for _ in $(seq 50); do [ -S "$WORK/notify.sock" ] && break; sleep 0.1; done
: >>"$WORK/notify.log"
MSM_LOG_FORMAT=json NOTIFY_SOCKET=$WORK/notify.sock WATCHDOG_USEC=400000 check "msm starts (under the notify protocol, JSON logs)" start_msm
check "next hops resolved by ARP" wait_resolved

on_housekeeping_cpus() { # every named thread is on CPU 1 only
  local name t ok=0
  for name in msm-metrics msm-audit; do
    for t in /proc/"$MSM_PID"/task/*; do
      [ "$(cat "$t/comm")" = "$name" ] || continue
      echo "$name: $(grep Cpus_allowed_list "$t/status")"
      grep -q 'Cpus_allowed_list:[[:space:]]*1$' "$t/status" && ok=$((ok + 1))
    done
  done
  [ "$ok" = 2 ]
}
check "control.housekeeping_cpus: the metrics and audit threads run on CPU 1 only" on_housekeeping_cpus

KEY10=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
check "registration accepted (code 0)" mip wwan register --src 192.0.2.10 --dst 192.0.2.129 \
  --home 192.0.2.10 --ha 192.0.2.129 --coa 203.0.113.10 --lifetime 300 --msisdn 491700000010 \
  --spi 256 --key $KEY10
check "ping through the tunnel" nsx inet ping -c 3 -W 2 -i 0.2 192.0.2.10
check "a forged request (bad authenticator): 131" mip wwan register --src 192.0.2.10 --dst 192.0.2.129 \
  --home 192.0.2.10 --ha 192.0.2.129 --coa 203.0.113.10 --lifetime 300 --msisdn 491700000010 \
  --spi 256 --key $KEY10 --bad-auth --expect 131

json_logs() {
  /usr/bin/python3 - "$WORK/msm.log" <<'PY'
import json, sys
logs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(len(logs), "JSON log lines;", logs[0] if logs else "")
sys.exit(0 if any("msm running" in l.get("fields", {}).get("message", "") and l.get("level") == "INFO" for l in logs) else 1)
PY
}
check "MSM_LOG_FORMAT=json: the log is JSON lines (level, fields.message)" json_logs

# --- packet trace ---------------------------------------------------------------------------
check "trace armed for the next 40 packets per worker" bash -c "$MSM ctl --socket $SOCK trace 40 | grep -q '\"armed\":40'"
check "ping through the tunnel while tracing" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10
trace_shows() {
  ctl trace show >"$WORK/trace.json" || return 1
  /usr/bin/python3 - "$WORK/trace.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); recs = d["records"]
print(len(recs), "records, remaining", d["remaining"])
down = [r for r in recs if r["kind"] == "transit" and r.get("dst") == "192.0.2.10"]
up = [r for r in recs if r["kind"] == "tunnel" and r.get("inner_src") == "192.0.2.10"]
for r in (down[:1] + up[:1]): print(json.dumps(r))
ok = any(r["ingress"] == "internet" and r["binding"] == {"care_of": "203.0.113.10"}
         and r["action"] == {"tx": "internet"} and "downlink_tunnel" in r["events"]
         and r["drop_reason"] is None for r in down)
ok = ok and any(r["binding"] == {"care_of": "203.0.113.10"} and "uplink_tunnel" in r["events"]
                and r["action"] == {"tx": "internet"} for r in up)
sys.exit(0 if ok else 1)
PY
}
check "trace show: the echo request tunnelled (ingress, binding, action, event) and the reply decapsulated" trace_shows
check "trace clear" bash -c "$MSM ctl --socket $SOCK trace clear >/dev/null && $MSM ctl --socket $SOCK trace show | grep -q '\"records\":\[\]'"

# --- the top-N view: two mobiles with very different traffic --------------------------------
# 192.0.2.10 (bound, care-of 203.0.113.10): 300 echo requests of 1042-byte frames down the
# tunnel, and the 300 replies (1062 bytes) back up it; 192.0.2.11 (no binding: forwarded to
# the WWAN, unanswered): 40 frames of 142 bytes.
check "traffic: 300 x 1000-byte pings to 192.0.2.10" nsx inet ping -q -c 300 -i 0.005 -s 1000 -W 2 192.0.2.10
nsx inet ping -q -c 40 -i 0.005 -s 100 -W 1 192.0.2.11 >/dev/null 2>&1
top_ranks() {
  ctl top 5 >"$WORK/top.json" || return 1
  /usr/bin/python3 - "$WORK/top.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); t = d["top"]
print(json.dumps(d))
heavy = 300 * 1042 + 300 * 1062  # +- the earlier pings (a few hundred bytes)
ok = d["sample_every"] == 4 and len(t) >= 2 and t[0]["home"] == "192.0.2.10"
ok = ok and 0.6 * heavy <= t[0]["bytes"] <= 1.5 * heavy and t[0]["bytes_min"] <= t[0]["bytes"]
ok = ok and t[0]["downlink_bytes"] > 0 and t[0]["uplink_bytes"] > 0 and t[0]["samples"] >= 50
light = [e for e in t if e["home"] == "192.0.2.11"]
ok = ok and len(light) == 1 and light[0]["rank"] > 1 and light[0]["bytes"] < 0.1 * t[0]["bytes"]
s = d["samples"]
ok = ok and s["lost"] == 0 and s["taken"] == s["downlink"] + s["uplink"] + s["other"] and s["downlink"] > 0
print("heavy estimate", t[0]["bytes"], "of", heavy)
sys.exit(0 if ok else 1)
PY
}
check "ctl top 5: 192.0.2.10 first with a byte estimate within -40/+50 % of its traffic, 192.0.2.11 after it" top_ranks
check "ctl top: the count is checked on the client (21 refused)" bash -c "! $MSM ctl --socket $SOCK top 21 2>/dev/null"
top_in_stats() { [ "$(stat top.top.0.home)" = 192.0.2.10 ]; }
check "stats: top.top[0] is 192.0.2.10" top_in_stats

# --- the registration audit log -------------------------------------------------------------
audit_has() { # python condition on the record r: some line matches
  for _ in $(seq 20); do
    /usr/bin/python3 - "$WORK/audit.jsonl" "$1" <<'PY' && return 0
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(len(recs), "records;", recs[-1] if recs else "")
sys.exit(0 if any(eval(sys.argv[2], {}, {"r": r}) for r in recs) else 1)
PY
    sleep 0.2
  done
  return 1
}
check "audit: the code 0 decision (MSISDN, home, care-of, path 1, lifetime)" audit_has \
  'r["msisdn"] == "491700000010" and r["home"] == "192.0.2.10" and r["care_of"] == "203.0.113.10" and r["path"] == 1 and r["code"] == 0 and r["lifetime"] == 300 and r["acknowledged"] and r["time_unix_ms"] > 1.7e12'
check "audit: the refused one (131)" audit_has 'r["code"] == 131 and r["msisdn"] == "491700000010"'
storm_rotates() {
  mip wwan storm --src 192.0.2.130 --dst 192.0.2.129 --ha 192.0.2.129 \
    --coa-base 198.18.0.1 --subscribers "$WORK/subs.txt" --skip 2 --n 100 --rate 500 --acked "$WORK/acked" >/dev/null
  sleep 0.5
  ls -l "$WORK"/audit.jsonl*
  [ -s "$WORK/audit.jsonl.1" ] && [ -s "$WORK/audit.jsonl.2" ] && [ ! -e "$WORK/audit.jsonl.3" ]
}
check "audit: 100 more decisions rotate the log at 4 KiB, 2 old files kept" storm_rotates

# --- the endpoint itself -------------------------------------------------------------------
fetch() { nsx core /usr/bin/python3 -c "
import sys, urllib.request
r = urllib.request.urlopen('http://127.0.0.1:9464' + sys.argv[1], timeout=5)
print(r.headers['Content-Type']); sys.stdout.write(r.read().decode())" "$1"; }
endpoint() {
  local out
  for _ in $(seq 30); do
    out=$(fetch /metrics) || return 1
    grep -q 'msm_events_total{event="downlink_tunnel"} [1-9]' <<<"$out" && break
    sleep 0.2
  done
  head -1 <<<"$out"
  grep -E '^msm_(events_total\{event="downlink_tunnel"|registration_replies_total|alarm|table_bindings|top_)' <<<"$out"
  grep -q '^application/openmetrics-text' <<<"$out" &&
    grep -q 'msm_events_total{event="downlink_tunnel"} [1-9]' <<<"$out" &&
    grep -q 'msm_registration_replies_total{code="0"} [1-9]' <<<"$out" &&
    grep -q 'msm_registration_reply_latency_seconds_count [1-9]' <<<"$out" &&
    grep -q 'msm_alarm{name="journal_cannot_commit"} 0' <<<"$out" &&
    grep -q 'msm_top_bytes{rank="1",home="192.0.2.10"} [1-9]' <<<"$out" &&
    tail -1 <<<"$out" | grep -q '^# EOF'
}
check "GET /metrics: OpenMetrics with the MSM's counters" endpoint
check "GET of another path: 404" bash -c "! ip netns exec $P-core /usr/bin/python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/x', timeout=5)\" 2>/dev/null"

# --- a real Prometheus scrapes it ------------------------------------------------------------
cat >"$WORK/prometheus.yml" <<'YML'
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: msm
    static_configs:
      - targets: ["127.0.0.1:9464"]
YML
ip netns exec "$P-core" prometheus --config.file="$WORK/prometheus.yml" \
  --storage.tsdb.path="$WORK/prom" --web.listen-address=127.0.0.1:9090 >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
query() { # PromQL -> the first sample's value (empty if none)
  nsx core /usr/bin/python3 -c "
import json, sys, urllib.parse, urllib.request
u = 'http://127.0.0.1:9090/api/v1/query?query=' + urllib.parse.quote(sys.argv[1])
r = json.load(urllib.request.urlopen(u, timeout=5))['data']['result']
print(r[0]['value'][1] if r else '')" "$1" 2>/dev/null
}
target_up() {
  local v
  for _ in $(seq 60); do v=$(query 'up{job="msm"}'); [ "$v" = 1 ] && break; sleep 0.5; done
  echo "up{job=\"msm\"} = $v"; [ "$v" = 1 ]
}
check "prometheus: the msm target is up" target_up
expected_counter() {
  local want got
  want=$(stat downlink_tunnel)
  for _ in $(seq 40); do
    got=$(query 'msm_events_total{job="msm",event="downlink_tunnel"}')
    [ "$got" = "$want" ] && break
    sleep 0.5
  done
  echo "ctl stats downlink_tunnel=$want, prometheus=$got"; [ -n "$got" ] && [ "$got" = "$want" ]
}
check "prometheus: a query returns the expected counter (downlink_tunnel = ctl stats)" expected_counter
code0() { local v; v=$(query 'sum(msm_registration_replies_total{code="0"})'); echo "replies code 0: $v"; [ "${v:-0}" -ge 1 ]; }
check "prometheus: registrations by code" code0
latency() {
  local n le
  n=$(query 'msm_registration_reply_latency_seconds_count{job="msm"}')
  le=$(query 'msm_registration_reply_latency_seconds_bucket{job="msm",le="+Inf"}')
  echo "reply latency observations: $n (le=+Inf bucket: $le)"; [ "${n:-0}" -ge 1 ] && [ "$n" = "$le" ]
}
check "prometheus: the reply latency histogram is scraped" latency

# --- systemd: notify protocol and unit file ---------------------------------------------------
ready() {
  head -1 "$WORK/notify.log"
  head -1 "$WORK/notify.log" | grep -q "^READY=1|STATUS=forwarding: .* bindings, 1 worker(s)|MAINPID=$MSM_PID\$"
}
check "READY=1 first, with the status and the MSM's pid" ready
watchdog() { local n; n=$(grep -c '^WATCHDOG=1$' "$WORK/notify.log"); echo "WATCHDOG=1 x $n"; [ "$n" -ge 3 ]; }
check "WATCHDOG=1 at half of WATCHDOG_USEC from the control loop" watchdog
stop_msm
check "STOPPING=1 on SIGTERM" grep -q '^STOPPING=1$' "$WORK/notify.log"
unit() {
  sed "s|/usr/local/bin/msm|$MSM|g" "$ROOT/packaging/systemd/msm.service" >"$WORK/msm.service"
  systemd-analyze verify "$WORK/msm.service" && grep -q '^Type=notify' "$WORK/msm.service" &&
    grep -q '^WatchdogSec=' "$WORK/msm.service" && grep -q '^Restart=on-failure' "$WORK/msm.service"
}
if command -v systemd-analyze >/dev/null; then
  check "the unit file verifies (systemd-analyze verify): Type=notify, WatchdogSec, Restart=on-failure" unit
else
  echo "SKIP unit file check: no systemd-analyze"
fi

e2e_summary "operator e2e"
