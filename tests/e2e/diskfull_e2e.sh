#!/usr/bin/env bash
# Disk-full test of the MSM's journal (issue 10, root): the state directory is a 128 KiB
# tmpfs. While the journal cannot commit (the tmpfs is full), no registration gets code 0,
# nothing changes in the data plane (table, forwarding), an operator `bind` fails and the
# `journal_cannot_commit` alarm is raised; once space is freed, service comes back by
# itself (code 0 again, the change forwarded by, the alarm cleared), and a restart on the
# same journal shows exactly the acknowledged state.
#
# tmpfs allocates whole pages, so a full tmpfs still takes appends into the log's last
# partly used page: a registration storm first uses that slack up, until the MSM's
# journal reports its first failed commit; the checks start from there.
# Cleans up its namespaces, mount and processes on every exit path.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MSM=${MSM_BIN:-$ROOT/target/release/msm}
export MSM_TB=${MSM_TB:-msmdf}
P=$MSM_TB
WORK=$(mktemp -d /tmp/msm-diskfull.XXXXXX)
SOCK=$WORK/msm.sock
STATE=$WORK/state
# shellcheck source=tests/e2e/common.sh
. "$ROOT/tests/e2e/common.sh"

cleanup() {
  if [ -n "${MSM_E2E_KEEP:-}" ]; then mkdir -p "$MSM_E2E_KEEP"; cp "$WORK"/*.log "$MSM_E2E_KEEP"/ 2>/dev/null; fi
  e2e_cleanup
  mountpoint -q "$STATE" && umount "$STATE"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "diskfull e2e: needs root" >&2; exit 1; }
[ -x "$MSM" ] || { echo "diskfull e2e: $MSM not built" >&2; exit 1; }

mkdir -p "$STATE"
mount -t tmpfs -o size=128k,mode=0700 "$P-state" "$STATE" || exit 1
MSM_TB_LOG=$WORK/ipip.log "$ROOT/scripts/testbed.sh" up || exit 1
e2e_subscribers "$WORK/subs.txt" 2000
e2e_config "$WORK/subs.txt" "$STATE"

check "msm starts with its state_dir on a 128 KiB tmpfs" start_msm
if [ "$FAIL" != 0 ]; then echo "--- msm log"; cat "$WORK/msm.log"; e2e_summary "diskfull e2e"; exit 1; fi
check "next hops resolved by ARP" wait_resolved

KEY10=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
reg() { # coa lifetime [extra...]: subscriber 192.0.2.10 on path 1
  local coa=$1 life=$2; shift 2
  mip wwan register --src 192.0.2.10 --dst 192.0.2.129 --home 192.0.2.10 --ha 192.0.2.129 \
    --coa "$coa" --lifetime "$life" --msisdn 491700000010 --spi 256 --key $KEY10 "$@"
}
coa_is() { ctl show 192.0.2.10 | grep -q "\"care_of\":$1"; }
storm() { # skip n acked-file: register subscribers skip..skip+n-1 of subs.txt (path 1)
  mip wwan storm --src 192.0.2.130 --dst 192.0.2.129 --ha 192.0.2.129 --coa-base 198.18.0.1 \
    --subscribers "$WORK/subs.txt" --skip "$1" --n "$2" --rate 1000 --acked "$3"
}
alarm_raised() { ctl stats | grep -q '"name":"journal_cannot_commit"'; }

check "registration accepted while the disk has space" reg 203.0.113.10 300
check "binding has care-of 203.0.113.10" coa_is '"203.0.113.10"'

# --- the disk fills up ------------------------------------------------------------------
fill() {
  dd if=/dev/zero of="$STATE/filler" bs=4k 2>&1 | tail -1
  df -k "$STATE" | tail -1
  [ "$(df --output=avail -k "$STATE" | tail -1 | tr -d ' ')" = 0 ]
}
check "state_dir filled up (dd until ENOSPC)" fill
: >"$WORK/acked1"
exhaust() {
  storm 2 1000 "$WORK/acked1"
  echo "acknowledged while the log's last page had room: $(wc -l <"$WORK/acked1")"
  local f; f=$(stat control.journal_commit_failures); echo "journal_commit_failures: $f"
  [ "$f" -gt 0 ]
}
check "a storm uses up the log's last page: the journal's commits start failing" exhaust
check "alarm journal_cannot_commit raised (stats)" alarm_raised
check "... and logged" grep -q 'ALARM raised: journal_cannot_commit' "$WORK/msm.log"
check "... with the reason (control.journal_failure)" bash -c "$MSM ctl --socket $SOCK stats | grep -q 'No space left on device'"

# --- while the journal cannot commit -------------------------------------------------------
b0=$(stat table.bindings)
e0=$(stat control.journal_errors)
: >"$WORK/acked2"
no_ack() {
  storm 1002 300 "$WORK/acked2"
  echo "acknowledged while the disk is full: $(wc -l <"$WORK/acked2")"
  [ ! -s "$WORK/acked2" ]
}
check "storm of 300 new registrations while full: no code 0" no_ack
check "... no binding added to the table" bash -c "[ \"\$($MSM ctl --socket $SOCK stats | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"table\"][\"bindings\"])')\" = $b0 ]"
check "... a refused home is not in the table" bash -c "! $MSM ctl --socket $SOCK show 100.64.3.234 | grep -q care_of"
check "... counted as journal errors (withheld replies)" grew control.journal_errors "$e0"
check "cancel while full: no reply" reg 0.0.0.0 0 --tries 2 --no-reply
check "... binding unchanged (care-of still 203.0.113.10)" coa_is '"203.0.113.10"'
t0=$(stat downlink_tunnel) w0=$(stat downlink_wwan)
check "... downlink still through the tunnel" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10
check "... downlink_tunnel grew" grew downlink_tunnel "$t0"
check "... nothing by the WWAN" bash -c "[ \"\$($MSM ctl --socket $SOCK stats | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"total\"][\"downlink_wwan\"])')\" = $w0 ]"
bind_fails() { local out; out=$(ctl bind 192.0.2.12 203.0.113.12 491700000012); echo "$out"; grep -q 'not durable' <<<"$out"; }
check "operator bind while full: fails, not durable" bind_fails
check "... and is not applied" bash -c "! $MSM ctl --socket $SOCK show 192.0.2.12 | grep -q care_of"
check "alarm still raised" alarm_raised

# --- space freed: service comes back by itself ---------------------------------------------
rm -f "$STATE/filler"
check "cancel after space was freed: code 0" reg 0.0.0.0 0
check "... care-of dropped" coa_is null
check "alarm cleared (stats)" bash -c "! $MSM ctl --socket $SOCK stats | grep -q journal_cannot_commit"
check "... and logged" grep -q 'ALARM cleared: journal_cannot_commit' "$WORK/msm.log"
w0=$(stat downlink_wwan)
check "downlink by the WWAN after the cancel" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10
check "... downlink_wwan grew" grew downlink_wwan "$w0"
check "operator bind works again" ctl bind 192.0.2.12 203.0.113.12 491700000012
check "registration back to 203.0.113.10: code 0" reg 203.0.113.10 300

# --- restart on the same journal: exactly the acknowledged state ----------------------------
stop_msm
check "msm restarts on its journal" start_msm
check "next hops resolved after the restart" wait_resolved
check "192.0.2.10 bound to 203.0.113.10 after the restart" coa_is '"203.0.113.10"'
check "the operator's bind survived" bash -c "$MSM ctl --socket $SOCK show 192.0.2.12 | grep -q 203.0.113.12"
acked_survived() {
  local n=0 bad=0 home coa
  while read -r home coa; do
    n=$((n + 1))
    ctl show "$home" | grep -q "\"care_of\":\"$coa\"" || { bad=$((bad + 1)); echo "LOST $home $coa"; }
  done <"$WORK/acked1"
  echo "$n acknowledged before the failure, $bad lost"; [ "$bad" = 0 ]
}
check "every registration acknowledged before the disk filled survived" acked_survived
refused_absent() {
  local n=0 bad=0
  for i in 0 50 100 150 200 250 299; do
    local home; home=$(python3 -c "import ipaddress; print(ipaddress.IPv4Address(0x64400001 + 1000 + $i))")
    n=$((n + 1))
    if ctl show "$home" | grep -q care_of; then bad=$((bad + 1)); echo "PRESENT $home"; fi
  done
  echo "$n homes refused while full checked, $bad present"; [ "$bad" = 0 ]
}
check "no registration refused while full came back" refused_absent
t0=$(stat downlink_tunnel)
check "forwarding through the tunnel after the restart" nsx inet ping -c 2 -W 2 -i 0.2 192.0.2.10
check "... downlink_tunnel grew" grew downlink_tunnel "$t0"

e2e_summary "diskfull e2e"
