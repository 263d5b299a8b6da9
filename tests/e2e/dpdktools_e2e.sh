#!/usr/bin/env bash
# DPDK's own tools on the MSM, on the namespace testbed (root):
#   * dpdk-telemetry.py (Debian's dpdk): the MSM's /msm/stats, /msm/binding,<home>,
#     /msm/alarms and /msm/info next to DPDK's /ethdev/list; a bad parameter answered
#     with an error, not a crash;
#   * dpdk-dumpcap, a secondary process, captures the wwan port (rte_pdump_init in the
#     MSM) while a registration is made; tshark decodes the Registration Request and
#     its Reply from the capture;
#   * dpdk-proc-info (secondary) reads the ports' packet counts.
# Secondary processes need the MSM's memory in huge pages: the test reserves 2 MiB pages
# (/proc/sys/vm/nr_hugepages) and mounts its own hugetlbfs, and gives both back on every
# exit path. Then the MSM again on --no-huge: it runs, telemetry works, and it says that
# capture is unavailable. Cleans up its namespaces and processes on every exit path.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
export MSM_TB=${MSM_TB:-msmdt}
P=$MSM_TB
WORK=$(mktemp -d /tmp/msm-dpdktools.XXXXXX)
SOCK=$WORK/msm.sock
HUGE=$WORK/huge
HUGEPAGES=256
HP_BEFORE=
DUMPCAP_PID=
# shellcheck source=tests/e2e/common.sh
. "$ROOT/tests/e2e/common.sh"

cleanup() {
  if [ -n "${MSM_E2E_KEEP:-}" ]; then mkdir -p "$MSM_E2E_KEEP"; cp "$WORK"/*.log "$WORK"/*.pcapng "$MSM_E2E_KEEP"/ 2>/dev/null; fi
  [ -n "$DUMPCAP_PID" ] && kill -KILL "$DUMPCAP_PID" 2>/dev/null && wait "$DUMPCAP_PID" 2>/dev/null
  e2e_cleanup
  mountpoint -q "$HUGE" && umount "$HUGE"
  [ -n "$HP_BEFORE" ] && echo "$HP_BEFORE" >/proc/sys/vm/nr_hugepages
  rm -rf "/var/run/dpdk/$P" "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "dpdktools e2e: needs root" >&2; exit 1; }
[ -x "$MSM" ] || { echo "dpdktools e2e: $MSM not built" >&2; exit 1; }
for t in dpdk-telemetry.py dpdk-dumpcap dpdk-proc-info tshark; do
  command -v $t >/dev/null || { echo "dpdktools e2e: $t not installed (make deps)" >&2; exit 1; }
done

# --- huge pages: 256 more 2 MiB pages than are free now, our own hugetlbfs mount -----------
HP_BEFORE=$(cat /proc/sys/vm/nr_hugepages)
free_hp=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
echo $((HP_BEFORE + HUGEPAGES - free_hp)) >/proc/sys/vm/nr_hugepages
free_hp=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
echo "huge pages: $HP_BEFORE before, $(cat /proc/sys/vm/nr_hugepages) now, $free_hp free"
[ "$free_hp" -ge "$HUGEPAGES" ] || { echo "dpdktools e2e: could not reserve $HUGEPAGES huge pages" >&2; exit 1; }
mkdir -p "$HUGE" && mount -t hugetlbfs none "$HUGE" || exit 1

MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up || exit 1
e2e_subscribers "$WORK/subs.txt" 10
e2e_config "$WORK/subs.txt" "$WORK/state"
cp "$WORK/msm.toml" "$WORK/msm-nohuge.toml"
# Huge pages instead of --no-huge; max_bindings 3: the 2 preloaded + 1 registration fill
# the table, which raises table_full (an alarm for /msm/alarms to show).
sed -i -e "s|\"--no-huge\", \"-m\", \"512\",|\"--huge-dir\", \"$HUGE\",|" \
  -e '/^\[table\]/a max_bindings = 3' "$WORK/msm.toml"
grep -q -- "--huge-dir" "$WORK/msm.toml" || { echo "testbed.toml's EAL args changed: no --no-huge to replace"; exit 1; }

# dpdk-telemetry.py reads commands from stdin, prints one JSON reply per line:
# tel CMD prints the reply's value.
tel() {
  printf '%s\n' "$1" | dpdk-telemetry.py -f "$P" |
    /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(json.dumps(list(d.values())[0]))'
}
# jcheck CMD PYTHON-CONDITION: the reply of CMD, as v, satisfies the condition.
jcheck() {
  local out
  out=$(tel "$1") || { echo "no reply to $1"; return 1; }
  echo "$1 (${#out} bytes) -> ${out:0:1500}"
  /usr/bin/python3 -c 'import json,sys; v=json.loads(sys.argv[1]); sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$out" "$2"
}

check "msm starts on huge pages" start_msm
check "next hops resolved by ARP" wait_resolved
check "the log says capture is ready (rte_pdump_init)" grep -q "capture ready: dpdk-dumpcap --file-prefix $P" "$WORK/msm.log"
check "the log names the telemetry socket" grep -q "DPDK telemetry at /var/run/dpdk/$P/dpdk_telemetry.v2" "$WORK/msm.log"

# --- telemetry ------------------------------------------------------------------------------
check "telemetry: DPDK's own /ethdev/list still answers (ports 0 and 1)" jcheck /ethdev/list 'v == [0, 1]'
check "telemetry: the /msm commands are listed" jcheck / 'all(c in v for c in ["/msm/stats", "/msm/binding", "/msm/alarms", "/msm/info"])'
stats_ok() {
  local bindings
  bindings=$(stat table.bindings)
  for _ in $(seq 20); do tel /msm/stats | grep -q '"age_ms"' && break; sleep 0.2; done
  jcheck /msm/stats "v['table']['bindings'] == $bindings and v['table']['max_bindings'] == 3
    and v['total']['rx_packets'] > 0 and 'wwan' in v['control']['registrations_by_path']
    and 'commits' in v['control']['journal_stats'] and v['ports']['wwan']['device'] == 'net_af_packet0'
    and v['alarms']['active'] == 0 and v['uptime_s'] >= 0 and 'workers' not in v"
}
check "telemetry: /msm/stats (summed counters, registrations by path, journal, table, ports, alarms; whole, not truncated)" stats_ok
check "telemetry: /msm/info says capture is ready and maps ports to devices" \
  jcheck /msm/info "v['pdump'].startswith('ready') and v['ports']['wwan'] == {'device': 'net_af_packet0', 'port_id': 0} and v['file_prefix'] == '$P'"
check "telemetry: /msm/binding of an unknown home: not found" \
  jcheck /msm/binding,100.64.0.1 "v == {'error': 'no binding for 100.64.0.1'}"
check "telemetry: /msm/binding of a preloaded one (care-of, MSISDN, static: never expires)" \
  jcheck /msm/binding,192.0.2.10 "v['care_of'] == '203.0.113.10' and v['udp_port'] == 'none' and v['msisdn'] == '491700000010' and v['remaining_lifetime_s'] == 'never'"
check "telemetry: a parameter that is no IPv4 address gets an error" \
  jcheck /msm/binding,not-an-address "v == {'error': \"'not-an-address' is not an IPv4 address\"}"
check "telemetry: no parameter gets the usage" jcheck /msm/binding "v['error'].startswith('usage: /msm/binding,')"
check "the MSM still answers after the bad parameters" ctl ping
check "telemetry: /msm/alarms, none active" jcheck /msm/alarms "v == {'active': 0}"

# --- capture with dpdk-dumpcap (a secondary process) while a registration is made ----------
ip netns exec "$P-core" dpdk-dumpcap --file-prefix "$P" -i net_af_packet0 -w "$WORK/wwan.pcapng" \
  >"$WORK/dumpcap.log" 2>&1 &
DUMPCAP_PID=$!
capturing() {
  for _ in $(seq 100); do grep -q "Packets captured" "$WORK/dumpcap.log" && break; sleep 0.1; done
  cat "$WORK/dumpcap.log"; grep -q "Packets captured" "$WORK/dumpcap.log" && kill -0 "$DUMPCAP_PID"
}
check "dpdk-dumpcap attaches to the MSM and captures net_af_packet0" capturing
check "while capturing: a registration accepted (code 0, care-of 198.18.0.77)" \
  mip wwan register --src 192.0.2.130 --dst 192.0.2.129 --home 100.64.0.1 --ha 192.0.2.129 \
  --coa 198.18.0.77 --lifetime 300 --msisdn 4917100000000 --spi 256 \
  --key "$(printf 0 | sha256sum | cut -d' ' -f1)"
check "while capturing: ping through the tunnel" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10
sleep 0.5
stop_dumpcap() {
  kill -INT "$DUMPCAP_PID"; wait "$DUMPCAP_PID"; local rc=$?; DUMPCAP_PID=
  cat "$WORK/dumpcap.log"; echo "dumpcap exit $rc"
  [ "$rc" = 0 ] && [ -s "$WORK/wwan.pcapng" ] && grep -q "Capturing on 'net_af_packet0'" "$WORK/dumpcap.log"
}
check "dpdk-dumpcap stops on SIGINT and leaves a file" stop_dumpcap
decodes() { # display filter, fields...: tshark finds a matching packet
  local filter=$1; shift
  local f=() out; for x in "$@"; do f+=(-e "$x"); done
  out=$(tshark -r "$WORK/wwan.pcapng" -Y "$filter" -T fields "${f[@]}" 2>/dev/null)
  echo "$filter: ${out:-nothing}"; [ -n "$out" ]
}
check "tshark decodes the Registration Request (received: rx callback) from the capture" \
  decodes "ip.src == 192.0.2.130 && mip.type == 1 && mip.homeaddr == 100.64.0.1 && mip.coa == 198.18.0.77" mip.homeaddr mip.coa
check "tshark decodes its Reply, code 0 (sent back on the same port: tx callback)" \
  decodes "ip.src == 192.0.2.129 && mip.type == 3 && mip.code == 0 && mip.homeaddr == 100.64.0.1" mip.code ip.dst
check "the MSM forwards on after dumpcap left" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10

check "telemetry: /msm/binding after the registration (care-of matches, MSISDN, lifetime left)" \
  jcheck /msm/binding,100.64.0.1 "v['care_of'] == '198.18.0.77' and v['msisdn'] == '4917100000000' and 250 < v['remaining_lifetime_s'] <= 300"
alarm_raised() {
  for _ in $(seq 30); do tel /msm/alarms | grep -q table_full && break; sleep 0.2; done
  jcheck /msm/alarms "v['active'] == 1 and v['table_full']['detail'] == '3 of 3 bindings' and v['table_full']['since_unix'] > 1.7e9"
}
check "telemetry: /msm/alarms shows table_full once the registration filled the table" alarm_raised
check "telemetry: /msm/stats counts the request on the WWAN path and the code 0" \
  jcheck /msm/stats "v['control']['registrations_by_path']['wwan'] >= 1 and v['control']['registration']['by_code']['0'] >= 1"

# --- dpdk-proc-info (a secondary process) reads the ports -----------------------------------
proc_info() {
  local before after out rx
  before=$(stat ports.0.ipackets)
  out=$(ip netns exec "$P-core" dpdk-proc-info --file-prefix "$P" -- --stats 2>&1)
  after=$(stat ports.0.ipackets)
  echo "$out" | grep -E "NIC statistics for port|RX-packets|TX-packets" | head -6
  rx=$(echo "$out" | awk '/NIC statistics for port 0/ {p=1} p && /RX-packets:/ {print $2; exit}')
  echo "port 0 RX-packets: proc-info $rx, msm ctl stats $before .. $after"
  [ -n "$rx" ] && [ "$rx" -ge "$before" ] && [ "$rx" -le "$after" ] && [ "$rx" -gt 0 ]
}
check "dpdk-proc-info reads port 0's packet count (= msm ctl stats ports[0].ipackets)" proc_info
check "the MSM still runs after the secondaries left" ctl ping
stop_msm

# --- --no-huge keeps working; capture is then unavailable, and the log says so -------------
cp "$WORK/msm-nohuge.toml" "$WORK/msm.toml"
: >"$WORK/msm.log"
check "msm starts on --no-huge" start_msm
check "the log says capture is unavailable under --no-huge" grep -q "capture (dpdk-dumpcap) and dpdk-proc-info unavailable: --no-huge" "$WORK/msm.log"
check "telemetry works on --no-huge: /msm/info says why capture is unavailable" \
  jcheck /msm/info "v['pdump'].startswith('unavailable: --no-huge')"
dumpcap_refused() {
  local rc
  timeout 20 ip netns exec "$P-core" dpdk-dumpcap --file-prefix "$P" -i net_af_packet0 -w "$WORK/nohuge.pcapng" >"$WORK/dumpcap-nohuge.log" 2>&1
  rc=$?; cat "$WORK/dumpcap-nohuge.log"; echo "dumpcap exit $rc"; [ "$rc" != 0 ] && [ "$rc" != 124 ]
}
check "on --no-huge dpdk-dumpcap fails (exits, does not hang)" dumpcap_refused
check "the MSM on --no-huge survives dpdk-dumpcap's attempt" ctl ping
check "telemetry on --no-huge: /msm/binding (journalled registration replayed)" \
  jcheck /msm/binding,100.64.0.1 "v['care_of'] == '198.18.0.77'"

e2e_summary "dpdktools e2e"
