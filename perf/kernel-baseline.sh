#!/usr/bin/env bash
# Kernel baseline for the MSM data plane: the Linux kernel tunnelling downlink
# to N bound home addresses with per-mobile lightweight-tunnel routes, and the MSM doing
# the same job, on the same veths, driven by the same generator. See perf/README.md,
# "Kernel baseline".
#
#   perf/kernel-baseline.sh --out FILE.json [--bindings 1000,100000,1000000] [--secs 3]
#       [--warmup-ms 1000] [--wait-quiet 20] [--wait-quiet-run 3] [--attempts 2]
#       [--in-flight 256] [--profile DIR] [--no-build] [--keep-tmp]
#
# Needs root. Creates network namespaces msmkb-<pid>-{gen,fwd} and removes them on every
# exit (including errors and signals). Writes one JSON document to --out:
#   {"status":"ok"|"unavailable","reason":str,"method":str,
#    "runs":[{"bindings":N,"direction":"downlink","frame_bytes":60,"kernel_mpps":x,
#             "msm_mpps":y,"ratio":y/x, ...details}],"commands":[str]}
# When something the comparison needs is missing (root, 2 CPUs, LWTUNNEL_BPF, clang,
# libbpf) the status is "unavailable" with the reason, and no figure is printed.
#
# Topology (one veth pair carries the traffic both ways, like the MSM's Internet port):
#
#   [gen] eth0 198.51.100.2 ======= inet0 [fwd] wwan0 ======= eth1 192.0.2.130 [gen]
#         kbgen (DPDK af_packet,          kernel: 198.51.100.1, ip_forward, N routes
#         lcore 0 = CPU 0)                  HOME/32 encap bpf xmit (push IPIP)
#         counts what comes back          MSM: DPDK af_packet on inet0 + wwan0,
#                                           worker lcore 1 = CPU 1
#
# Downlink frames (60 bytes, UDP from 203.0.113.10 to a home drawn uniformly from the
# N bound ones) go from the generator into inet0; the forwarder tunnels them to the
# care-of address (80 bytes, outer 198.51.100.1 -> care-of) back out of inet0 to its
# gateway 198.51.100.2, i.e. into the generator's eth0, whose kernel rx counter is the
# sink. RPS steers inet0's receive processing to CPU 1 in both cases, so the kernel's
# forwarding (softirq) runs on CPU 1, the MSM worker's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

OUT=""
BINDINGS="1000,100000,1000000"
SECS=3
WARMUP_MS=1000
WAIT_QUIET=20
IN_FLIGHT=256
ATTEMPTS=2
WAIT_QUIET_RUN=3
PROFILE=""
BUILD=1
KEEP=0
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --bindings) BINDINGS=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --warmup-ms) WARMUP_MS=$2; shift 2 ;;
    --wait-quiet) WAIT_QUIET=$2; shift 2 ;;
    --in-flight) IN_FLIGHT=$2; shift 2 ;;
    --attempts) ATTEMPTS=$2; shift 2 ;;
    --wait-quiet-run) WAIT_QUIET_RUN=$2; shift 2 ;;
    --profile) PROFILE=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep-tmp) KEEP=1; shift ;;
    -h|--help) usage ;;
    *) echo "kernel-baseline: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$OUT" ] || usage
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 1 ]] || { echo "--secs: whole seconds >= 1" >&2; exit 2; }
[[ "$WARMUP_MS" =~ ^[0-9]+$ ]] || { echo "--warmup-ms: milliseconds" >&2; exit 2; }
IFS=, read -r -a SIZES <<<"$BINDINGS"
for n in "${SIZES[@]}"; do
  [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le 16000000 ]] || { echo "--bindings: 1..16000000" >&2; exit 2; }
done
mapfile -t SIZES < <(printf '%s\n' "${SIZES[@]}" | sort -n -u)
MAXN=${SIZES[-1]}

P=msmkb-$$
GEN=$P-gen FWD=$P-fwd
GEN_CPU=0 FWD_CPU=1
TMP=$(mktemp -d /tmp/msmkb.XXXXXX)
BPFFS=$TMP/bpffs
METHOD="kernel: per-mobile routes HOME/32 encap bpf xmit (lightweight tunnel running a BPF program: care-of address from a BPF hash map home->care-of, bpf_lwt_push_encap(BPF_LWT_ENCAP_IP) prepends the outer IPv4 header (proto 4), BPF_LWT_REROUTE routes it to the care-of address), not encap ip: no CONFIG_NET_IPIP; forwarding in softirq on CPU $FWD_CPU (RPS on the ingress veth). msm: target/release/msm run, net_af_packet on the same veths (qpairs=2), worker lcore $FWD_CPU, control lcore $GEN_CPU; kernel IP input on those veths cut by a tc ingress drop (after the packet taps). Same generator for both: examples/kbgen (DPDK net_af_packet on the peer veth, lcore $GEN_CPU), 60-byte UDP frames to homes uniform over the N bound, closed loop (at most --in-flight frames sent and not yet back, so neither forwarder is driven into overload), rate = tunnelled frames received back by the generator over the window. mpps_per_fwd_cpu = the same frames per CPU-second the forwarder got (kernel: softirq time of CPU $FWD_CPU; msm: its worker thread + softirq time of CPU $FWD_CPU), for runs where other processes share the CPUs."
MSM_PID="" GEN_PID="" DUMP_PID=""

: >"$TMP/commands.txt"
: >"$TMP/runs.jsonl"
rec() { local s="$*"; printf '%s\n' "${s/#nsx /ip netns exec }" >>"$TMP/commands.txt"; }
run() { rec "$*"; "$@"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
log() { echo "kernel-baseline: $*" >&2; echo "$*" >>"$TMP/errors.log"; }
EMITTED=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in $DUMP_PID $GEN_PID $MSM_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $DUMP_PID $GEN_PID $MSM_PID; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for ns in $GEN $FWD; do
    if ip netns list | grep -qx "$ns\( (id: [0-9]*)\)\{0,1\}"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  mountpoint -q "$BPFFS" 2>/dev/null && umount "$BPFFS"
  if [ "$rc" -ne 0 ] && [ -z "$EMITTED" ] && [ -n "${TMP:-}" ] && [ -d "$TMP" ]; then
    emit unavailable "the baseline failed (exit $rc): $(tail -n 3 "$TMP/errors.log" 2>/dev/null | tr '\n' ' ')" || true
  fi
  if [ "$KEEP" = 1 ] || [ "$rc" -ne 0 ]; then
    log "work files kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

emit() { # status reason
  mkdir -p "$(dirname "$OUT")"
  jq -n --arg status "$1" --arg reason "$2" --arg method "$METHOD" \
    --slurpfile runs "$TMP/runs.jsonl" \
    --rawfile commands "$TMP/commands.txt" \
    --argjson machine "$(machine_json)" \
    '{status: $status, reason: $reason, method: $method, runs: $runs,
      commands: ($commands | split("\n") | map(select(length > 0))), machine: $machine}' \
    >"$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
  EMITTED=1
  log "wrote $OUT ($1)"
}
unavailable() { emit unavailable "$1"; exit 0; }

machine_json() {
  jq -n --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
    --arg kernel "$(uname -r)" --arg cpus "$(nproc)" \
    --arg dpdk "$(pkg-config --modversion libdpdk 2>/dev/null || echo unknown)" \
    --arg git "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo -dirty)" \
    --arg load "${LOAD_AT_START:-}" --arg date "$(date -u +%FT%TZ)" \
    '{cpu: $cpu, cpus: ($cpus | tonumber), kernel: $kernel, dpdk: $dpdk, git: $git,
      load_at_start: $load, date: $date}'
}

# --- prerequisites -------------------------------------------------------------------
command -v jq >/dev/null || { echo "kernel-baseline: jq is required" >&2; exit 1; }
[ "$(id -u)" = 0 ] || unavailable "needs root (network namespaces, DPDK EAL, BPF)"
[ "$(nproc)" -ge 2 ] || unavailable "needs 2 CPUs (generator on CPU $GEN_CPU, forwarder on CPU $FWD_CPU); this machine has $(nproc)"
for t in ip tc ethtool clang tcpdump; do
  command -v "$t" >/dev/null || unavailable "$t not installed"
done
[ -f /usr/include/bpf/libbpf.h ] || unavailable "libbpf headers missing (apt-get install libbpf-dev)"
KCONFIG=""
if [ -r /proc/config.gz ]; then KCONFIG=$(zcat /proc/config.gz)
elif [ -r "/boot/config-$(uname -r)" ]; then KCONFIG=$(cat "/boot/config-$(uname -r)")
fi
kconf() { grep -E "^(# )?CONFIG_$1[= ]" <<<"$KCONFIG" | head -1; }
if [ -n "$KCONFIG" ]; then
  [ "$(kconf LWTUNNEL_BPF)" = "CONFIG_LWTUNNEL_BPF=y" ] || unavailable "kernel without CONFIG_LWTUNNEL_BPF ($(kconf LWTUNNEL_BPF)) and without a usable encap ip"
fi

# Why not `encap ip`: the route is accepted, but only a collect_md ipip device
# (`ip link add NAME type ipip external`, CONFIG_NET_IPIP) turns its metadata into an
# outer header; without it the packet leaves untunnelled.
ip netns add "$P-probe"
IPIP_ERR=$(ip -n "$P-probe" link add "${P}ip" type ipip external 2>&1) && IPIP_OK=1 || IPIP_OK=0
ip netns del "$P-probe"
REASON="kernel lwtunnel encap bpf (push IPIP), not encap ip: no CONFIG_NET_IPIP ($(kconf NET_IPIP || true); 'ip link add X type ipip external': ${IPIP_ERR:-ok}); an 'encap ip' route is accepted but, without a collect_md ipip device, sends the packet untunnelled"
if [ "$IPIP_OK" = 1 ]; then
  REASON="kernel lwtunnel encap bpf (push IPIP); this kernel could also create a collect_md ipip device (encap ip), not used so that the method is the same everywhere"
fi

# --- build -----------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  run cargo build --release --bin msm --example kbgen >&2
fi
MSM=$ROOT/target/release/msm
KBGEN=$ROOT/target/release/examples/kbgen
[ -x "$MSM" ] && [ -x "$KBGEN" ] || { echo "kernel-baseline: build msm and examples/kbgen first" >&2; exit 1; }
BPF_CFLAGS=(-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu)
run clang "${BPF_CFLAGS[@]}" -c perf/kernel/lwt_ipip.bpf.c -o "$TMP/lwt_ipip.o"
run clang "${BPF_CFLAGS[@]}" -c perf/kernel/tc_drop.bpf.c -o "$TMP/tc_drop.o"
run clang -O2 -Wall -o "$TMP/lwt_load" perf/kernel/lwt_load.c -lbpf

# --- quiet machine -------------------------------------------------------------------
busy_pct() { # busy % of each CPU over 1 s, e.g. "3 97"
  local a b
  a=$(grep '^cpu[0-9]' /proc/stat); sleep 1; b=$(grep '^cpu[0-9]' /proc/stat)
  paste <(echo "$a") <(echo "$b") | awk '{n=NF/2; t0=0; t1=0; for(i=2;i<=n;i++){t0+=$i; t1+=$(i+n)}
    i0=$5+$6; i1=$(5+n)+$(6+n); d=t1-t0; printf "%d ", (d>0 ? 100*(d-(i1-i0))/d : 0)}'
}
# Waits up to $1 s for both CPUs to be <= 10 % busy (other processes); sets BUSY to
# the last reading ("3 97" = CPU 0 3 %, CPU 1 97 %).
wait_quiet() {
  local deadline=$((SECONDS + $1)) quiet b
  while :; do
    BUSY=$(busy_pct)
    quiet=1
    for b in $BUSY; do [ "$b" -le 10 ] || quiet=0; done
    [ "$quiet" = 1 ] && return 0
    [ $SECONDS -ge "$deadline" ] && { log "CPUs busy (${BUSY}%) after ${1}s of waiting: measuring anyway"; return 0; }
  done
}
wait_quiet "$WAIT_QUIET"
LOAD_AT_START="cpu busy % ${BUSY}; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
log "$LOAD_AT_START"

# --- topology ------------------------------------------------------------------------
GEN_MAC=02:00:00:00:02:01 INET_MAC=02:00:00:00:01:02 WWAN_MAC=02:00:00:00:01:01
for ns in $GEN $FWD; do
  run ip netns add "$ns"
  nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  nsx "$ns" ip link set lo up
done
run ip link add eth0 netns "$GEN" address $GEN_MAC type veth peer name inet0 netns "$FWD" address $INET_MAC
run ip link add eth1 netns "$GEN" type veth peer name wwan0 netns "$FWD" address $WWAN_MAC
for d in "$GEN eth0" "$GEN eth1" "$FWD inet0" "$FWD wwan0"; do
  set -- $d
  nsx "$1" sysctl -qw "net.ipv4.conf.$2.rp_filter=0"
  run nsx "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null
  nsx "$1" ip link set "$2" up
done
run nsx "$GEN" ip addr add 198.51.100.2/24 dev eth0
run nsx "$GEN" ip addr add 192.0.2.130/29 dev eth1
# Receive processing: the forwarder's veths on the forwarder's CPU, the generator's
# veth (the sink) on the generator's CPU.
rps() { # ns dev cpu
  local m
  m=$(printf '%x' $((1 << $3)))
  rec "ip netns exec $1 sh -c 'echo $m > /sys/class/net/$2/queues/rx-0/rps_cpus'"
  nsx "$1" sh -c "echo $m > /sys/class/net/$2/queues/rx-0/rps_cpus"
}
rps "$FWD" inet0 $FWD_CPU
rps "$FWD" wwan0 $FWD_CPU
rps "$GEN" eth0 $GEN_CPU
run nsx "$GEN" tc qdisc add dev eth0 clsact
run nsx "$GEN" tc filter add dev eth0 ingress bpf da obj "$TMP/tc_drop.o" sec classifier
run nsx "$FWD" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.inet0.send_redirects=0
mkdir -p "$BPFFS"
run mount -t bpf bpf "$BPFFS"
run "$TMP/lwt_load" load "$TMP/lwt_ipip.o" "$BPFFS" "$MAXN"

run "$KBGEN" bindings --count "$MAXN" --seed 1 --out "$TMP/bindings.txt"

# inet0 keeps its address throughout: removing a device's last IPv4 address flushes
# every route through it.
run nsx "$FWD" ip addr add 198.51.100.1/24 dev inet0
run nsx "$FWD" ip route add default via 198.51.100.2 dev inet0
msm_mode() {
  nsx "$FWD" sysctl -qw net.ipv4.ip_forward=0
  for d in inet0 wwan0; do
    nsx "$FWD" tc qdisc add dev $d clsact
    nsx "$FWD" tc filter add dev $d ingress bpf da obj "$TMP/tc_drop.o" sec tc
  done
}
kernel_mode() {
  for d in inet0 wwan0; do nsx "$FWD" tc qdisc del dev $d clsact 2>/dev/null || true; done
  nsx "$FWD" sysctl -qw net.ipv4.ip_forward=1
}
rec "msm runs: sysctl net.ipv4.ip_forward=0; tc qdisc add dev {inet0,wwan0} clsact; tc filter add dev {inet0,wwan0} ingress bpf da obj tc_drop.o sec tc"
rec "kernel runs: tc qdisc del dev {inet0,wwan0} clsact; sysctl net.ipv4.ip_forward=1"

GEN_EAL="-l $GEN_CPU --no-huge -m 256 --no-pci --file-prefix $P-gen --vdev=net_af_packet0,iface=eth0,qpairs=1,blocksz=4096,framesz=2048,framecnt=2048 --log-level=pmd.net.af_packet:warning --log-level=eal:warning"

# One generator run; its JSON line goes to $TMP/gen-TAG.json. $1 = bindings, $2 = TAG,
# $3 = thread ids of a user-space forwarder (comma-separated) or "".
generate() {
  local n=$1 tag=$2 tasks=${3:-} cmd
  wait_quiet "$WAIT_QUIET_RUN"
  echo "$BUSY" >"$TMP/busy-$tag.txt"
  ip netns exec "$GEN" timeout 5 tcpdump -t -nn -i eth0 -Q in -c 64 'ip proto 4' \
    >"$TMP/sample-$tag.txt" 2>/dev/null &
  DUMP_PID=$!
  sleep 0.3
  cmd=(ip netns exec "$GEN" "$KBGEN" send --eal "$GEN_EAL" --bindings "$TMP/bindings.txt" --count "$n"
    --dst-mac $INET_MAC --warmup-ms "$WARMUP_MS" --window-ms $((SECS * 1000)) --in-flight "$IN_FLIGHT"
    --fwd-cpu "$FWD_CPU")
  [ -z "$tasks" ] || cmd+=(--fwd-tasks "$tasks")
  rec "${cmd[*]}"
  "${cmd[@]}" >"$TMP/gen-$tag.json" 2>"$TMP/gen-$tag.log" &
  GEN_PID=$!
  if [ -n "$PROFILE" ]; then # the forwarder's CPU during the window
    mkdir -p "$PROFILE"
    sleep "$(awk -v w="$WARMUP_MS" 'BEGIN {print w / 1000 + 0.5}')"
    perf record -q -e cpu-clock -g -C "$FWD_CPU" -o "$PROFILE/$tag.perf.data" -- sleep 2 >/dev/null 2>&1 || true
  fi
  wait "$GEN_PID" || { log "generator failed: $(tail -3 "$TMP/gen-$tag.log")"; GEN_PID=""; return 1; }
  GEN_PID=""
  wait "$DUMP_PID" 2>/dev/null || true
  DUMP_PID=""
}

# generate, repeated (up to --attempts times) while other processes took more than 10 %
# of the forwarder's CPU during the window; the last attempt counts.
measure() {
  local a other
  for a in $(seq "$ATTEMPTS"); do
    generate "$@"
    echo "$a" >"$TMP/attempts-$2.txt"
    other=$(tail -1 "$TMP/gen-$2.json" | jq '.fwd_other_share')
    awk -v o="$other" 'BEGIN {exit !(o <= 0.10)}' && break
    if [ "$a" -lt "$ATTEMPTS" ]; then
      log "$2: other processes took ${other} of CPU $FWD_CPU: again"
    else
      log "$2: other processes took ${other} of CPU $FWD_CPU in all $ATTEMPTS attempts: keeping the last"
    fi
  done
}

# "ok checked" for the captured tunnelled frames: outer source = IPmsm-wlan, outer
# destination = the care-of address bound to the inner destination.
check_sample() { # sample-file n
  head -n "$2" "$TMP/bindings.txt" | awk -v src=198.51.100.1 '
    FILENAME == ARGV[1] {
      if ($1 != "IP" || $5 != "IP") next
      k++; osrc[k] = $2; odst[k] = $4; sub(/:$/, "", odst[k])
      h = $8; sub(/:$/, "", h); sub(/\.[0-9]+$/, "", h); inner[k] = h; want[h] = 1
      next
    }
    ($1 in want) { coa[$1] = $2 }
    END { ok = 0; for (i = 1; i <= k; i++) if (osrc[i] == src && coa[inner[i]] == odst[i]) ok++
          printf "%d/%d", ok, k }' "$1" -
}

slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }

installed=0
for n in "${SIZES[@]}"; do
  head -n "$n" "$TMP/bindings.txt" >"$TMP/bindings-$n.txt"

  # --- MSM ----------------------------------------------------------------------------
  msm_mode
  cap=$(( n < 1024 ? 1024 : n ))
  cat >"$TMP/msm-$n.toml" <<EOF
[eal]
args = [
  "-l", "$GEN_CPU,$FWD_CPU", "--no-huge", "-m", "512", "--no-pci", "--file-prefix", "$P-msm",
  "--vdev=net_af_packet0,iface=wwan0,qpairs=2,blocksz=4096,framesz=2048,framecnt=1024",
  "--vdev=net_af_packet1,iface=inet0,qpairs=2,blocksz=4096,framesz=2048,framecnt=1024",
  "--log-level=pmd.net.af_packet:warning",
]
[[port]]
name = "wwan"
device = "net_af_packet0"
role = "wwan"
address = "192.0.2.129"
prefix_len = 29
gateway = "192.0.2.130"
[[port]]
name = "internet"
device = "net_af_packet1"
role = "internet"
address = "198.51.100.1"
prefix_len = 24
gateway = "198.51.100.2"
[[worker]]
lcore = $FWD_CPU
queues = [
  { port = "wwan", queue = 0 }, { port = "wwan", queue = 1 },
  { port = "internet", queue = 0 }, { port = "internet", queue = 1 },
]
[home]
pools = ["10.0.0.0/8"]
[table]
capacity = $cap
preload = "bindings-$n.txt"
[mempool]
mbufs = 16383
EOF
  rec "ip netns exec $FWD $MSM run --config msm-$n.toml  # $(tr '\n' ' ' <"$TMP/msm-$n.toml" | sed 's/  */ /g')"
  t0=$SECONDS
  # Directly `ip netns exec` (it execs msm): $! is msm itself, which takes SIGINT.
  ip netns exec "$FWD" "$MSM" run --config "$TMP/msm-$n.toml" >"$TMP/msm-$n.log" 2>&1 &
  MSM_PID=$!
  until grep -q "msm running" "$TMP/msm-$n.log"; do
    kill -0 "$MSM_PID" 2>/dev/null || { log "msm exited: $(tail -5 "$TMP/msm-$n.log")"; exit 1; }
    [ $((SECONDS - t0)) -lt 300 ] || { log "msm did not start in 300 s"; exit 1; }
    sleep 0.2
  done
  sleep 1 # first ARP round for the gateways
  log "N=$n: msm started in $((SECONDS - t0)) s; measuring"
  wtid=""
  for t in /proc/"$MSM_PID"/task/*; do
    grep -q "worker-$FWD_CPU" "$t/comm" 2>/dev/null && wtid=${t##*/}
  done
  [ -n "$wtid" ] || log "N=$n: MSM worker thread not found ($(cat /proc/"$MSM_PID"/task/*/comm | tr '\n' ' '))"
  measure "$n" "msm-$n" "$wtid"
  msm_json=$(tail -1 "$TMP/gen-msm-$n.json")
  msm_check=$(check_sample "$TMP/sample-msm-$n.txt" "$n")
  kill -INT "$MSM_PID"
  wait "$MSM_PID" || true
  MSM_PID=""
  log "N=$n msm: $msm_json check $msm_check"

  # --- kernel -------------------------------------------------------------------------
  kernel_mode
  if [ "$n" -gt "$installed" ]; then
    tail -n +$((installed + 1)) "$TMP/bindings-$n.txt" >"$TMP/new.txt"
    awk -v pin="$BPFFS/prog" '{print "route add " $1 "/32 encap bpf xmit pinned " pin " headroom 20 dev inet0"}' \
      "$TMP/new.txt" >"$TMP/routes.batch"
    rm -f "$TMP"/routes.part.*
    # iproute2 6.1 keeps the descriptor of each `pinned` program it opens until it exits:
    # stay under the descriptor limit per `ip -batch` process.
    split -l 15000 "$TMP/routes.batch" "$TMP/routes.part."
    rec "ip -n $FWD -batch routes.part.* ($(wc -l <"$TMP/new.txt") lines in files of 15000, e.g. '$(head -1 "$TMP/routes.batch")')"
    s0=$(slab_kb)
    t0=$(date +%s.%N)
    for f in "$TMP"/routes.part.*; do
      ip -n "$FWD" -batch "$f" >&2 || { log "route install failed at $f"; break; }
    done
    t1=$(date +%s.%N)
    s1=$(slab_kb)
    run "$TMP/lwt_load" fill "$BPFFS/coa_map" "$TMP/new.txt" >/dev/null
    t2=$(date +%s.%N)
    install_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    fill_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.2f", b - a}')
    slab_mib=$(( (s1 - s0) / 1024 ))
    installed=$n
  else
    install_s=0 fill_s=0 slab_mib=0
  fi
  routes=$(nsx "$FWD" awk '/^Main:/ {m=1} m && /Leaves:/ {print $2; exit}' /proc/net/fib_triestat)
  log "N=$n kernel: $routes FIB leaves, routes added in ${install_s}s, map in ${fill_s}s, slab +${slab_mib} MiB; measuring"
  measure "$n" "kernel-$n"
  kernel_json=$(tail -1 "$TMP/gen-kernel-$n.json")
  kernel_check=$(check_sample "$TMP/sample-kernel-$n.txt" "$n")
  log "N=$n kernel: $kernel_json check $kernel_check"

  jq -n -c --argjson n "$n" --argjson k "$kernel_json" --argjson m "$msm_json" \
    --arg kc "$kernel_check" --arg mc "$msm_check" --argjson routes "${routes:-0}" \
    --arg kb "$(cat "$TMP/busy-kernel-$n.txt")" --arg mb "$(cat "$TMP/busy-msm-$n.txt")" \
    --argjson ka "$(cat "$TMP/attempts-kernel-$n.txt")" --argjson ma "$(cat "$TMP/attempts-msm-$n.txt")" \
    --argjson inst "$install_s" --argjson fill "$fill_s" --argjson slab "$slab_mib" \
    '{bindings: $n, direction: "downlink", frame_bytes: $k.frame_bytes,
      kernel_mpps: $k.received_mpps, msm_mpps: $m.received_mpps,
      ratio: (if $k.received_mpps > 0 then (($m.received_mpps / $k.received_mpps) * 1000 | round) / 1000 else null end),
      kernel_lost: $k.presumed_lost, msm_lost: $m.presumed_lost,
      kernel_mpps_per_fwd_cpu: $k.mpps_per_fwd_cpu, msm_mpps_per_fwd_cpu: $m.mpps_per_fwd_cpu,
      kernel_fwd_cpu_share: (($k.fwd_cpu_s / $k.window_s) * 100 | round / 100),
      msm_fwd_cpu_share: (($m.fwd_cpu_s / $m.window_s) * 100 | round / 100),
      kernel_other_share: $k.fwd_other_share, msm_other_share: $m.fwd_other_share,
      kernel_attempts: $ka, msm_attempts: $ma,
      ratio_per_fwd_cpu: (if $k.mpps_per_fwd_cpu > 0 then (($m.mpps_per_fwd_cpu / $k.mpps_per_fwd_cpu) * 1000 | round) / 1000 else null end),
      kernel_cpu_busy_pct: $k.cpu_busy_pct, msm_cpu_busy_pct: $m.cpu_busy_pct,
      kernel_other_busy_pct_before: ($kb | split(" ") | map(select(length > 0) | tonumber)),
      msm_other_busy_pct_before: ($mb | split(" ") | map(select(length > 0) | tonumber)),
      kernel_check: $kc, msm_check: $mc,
      kernel_fib_leaves: $routes, kernel_route_install_s: $inst,
      kernel_map_fill_s: $fill, kernel_route_slab_mib: $slab,
      kernel_gen: $k, msm_gen: $m}' >>"$TMP/runs.jsonl"
done

emit ok "$REASON"
