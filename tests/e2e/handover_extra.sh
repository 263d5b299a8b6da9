# Sourced by scripts/demo.sh (DEMO_EXTRA) at the end of the handover scenario, with the
# testbed still up (terminal in GPRS, WLAN detached): registration through the WLAN with
# the WWAN down (path 2: reverse-tunnelled request, tunnelled reply). Results go to
# $E2E_RESULTS as "PASS|FAIL name detail" lines; tests/e2e/handover_e2e.sh reports them.
res() { echo "$1 $2 ${3:-}" >>"$E2E_RESULTS"; echo "  [e2e] $1 $2 ${3:-}"; }
jq_py() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo; echo "== extra: GPRS coverage lost, then the terminal enters WLAN 108 (registration through the WLAN)"
before_rep=$(mcmctl status | jq_py "d['relay']['tunnelled_replies']")
before_dl=$(msm_counters | jq_py "d['downlink_tunnel']")
before_ul=$(msm_counters | jq_py "d['uplink_tunnel']")
"$TB" wwan down
for _ in $(seq 50); do [ "$(mcmctl status | jq_py "d['machine']['wwan_up']")" = False ] && break; sleep 0.1; done
[ "$(mcmctl status | jq_py "d['machine']['wwan_up']")" = False ] \
  && res PASS mcm_sees_wwan_down || res FAIL mcm_sees_wwan_down "MCM still thinks the WWAN is up"
"$TB" wlan 108
if wait_state tunnel 15; then res PASS wlan_registration_with_wwan_down; else
  res FAIL wlan_registration_with_wwan_down "state $(mcm_state)"; fi
after_rep=$(mcmctl status | jq_py "d['relay']['tunnelled_replies']")
[ "$after_rep" -gt "$before_rep" ] && res PASS reply_came_back_through_the_tunnel "tunnelled replies $before_rep -> $after_rep" \
  || res FAIL reply_came_back_through_the_tunnel "tunnelled replies $before_rep -> $after_rep"
if nsx srv ping -c 3 -i 0.3 -W 2 192.0.2.10 >"$W/ping-wwan-down.log" 2>&1; then
  res PASS ping_home_through_tunnel_with_wwan_down; else res FAIL ping_home_through_tunnel_with_wwan_down "$(tail -2 "$W/ping-wwan-down.log" | tr '\n' ' ')"; fi
after_dl=$(msm_counters | jq_py "d['downlink_tunnel']")
after_ul=$(msm_counters | jq_py "d['uplink_tunnel']")
[ "$after_dl" -gt "$before_dl" ] && [ "$after_ul" -gt "$before_ul" ] \
  && res PASS msm_tunnelled_both_ways "downlink_tunnel +$((after_dl - before_dl)), uplink_tunnel +$((after_ul - before_ul))" \
  || res FAIL msm_tunnelled_both_ways "downlink_tunnel $before_dl -> $after_dl, uplink_tunnel $before_ul -> $after_ul"
# Mobility binding as the MSM sees it.
"$MSM" ctl --socket "$W/msm.sock" show 192.0.2.10 >"$W/show.json" 2>&1
grep -q 203.0.113.10 "$W/show.json" && res PASS msm_binding_has_the_care_of_address \
  || res FAIL msm_binding_has_the_care_of_address "$(cat "$W/show.json")"
"$TB" wwan up
true

echo; echo "== extra: the MCM restarts with its clock 100 s slow (clock_offset_s = -100): 133, resync, accepted"
echo "clock_offset_s = -100" >>"$W/mcm.toml"
"$TB" mcm-restart "$W/mcm-skew.log" || res FAIL mcm_restart "see $W/mcm-skew.log"
if wait_state tunnel 15; then res PASS registered_after_clock_resync; else
  res FAIL registered_after_clock_resync "state $(mcm_state)"; fi
st=$(mcmctl status)
r133=$(echo "$st" | jq_py "d['machine']['stats']['replies'].get('133', 0)")
rs=$(echo "$st" | jq_py "d['machine']['stats']['resyncs']")
off=$(echo "$st" | jq_py "d['machine']['clock_offset_s']")
[ "$r133" -ge 1 ] && [ "$rs" -ge 1 ] && [ "$off" -ge -3 ] && [ "$off" -le 3 ] \
  && res PASS identification_mismatch_resynchronised "133 replies $r133, resyncs $rs, offset now ${off} s" \
  || res FAIL identification_mismatch_resynchronised "133 replies $r133, resyncs $rs, offset ${off} s"
cp "$W/mcm-skew.log" "$W/mcm-skew.kept.log" 2>/dev/null
true
