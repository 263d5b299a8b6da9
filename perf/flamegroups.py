#!/usr/bin/env python3
"""Where the MSM worker's samples go, from folded stacks (inferno-collapse-perf).

    perf/flamegroups.py FILE.folded

Only stacks of the worker thread are counted (first frame `rte-worker-*`, the
thread name; if there is none, every stack). Each stack is charged to the
*innermost* frame that matches one of GROUPS below (searched from the leaf
toward the root), so the groups add up to 100 % of the worker's samples;
"inclusive" is the share of stacks with any frame of the group anywhere.
Used by perf/profile.sh; how to read it: perf/README.md.
"""

import re
import sys

# (group, regex over one frame). Order matters only between groups that can
# match the same frame. Inlined functions appear as frames of their own.
GROUPS = [
    ("bench packet source (rx callback)", r"msm_bench::source::.*(on_rx|Source)"),
    ("bench output check (tx callback)", r"msm_bench::source::.*(on_tx|Check)"),
    ("table lookup", r"msm_table::.*lookup|Bindings.*::lookup"),
    ("classify (parse once) + bucket prefetch", r"msm::dataplane::classify::|prefetch_key|msm_table::.*prefetch|Bindings.*::prefetch"),
    ("IPv4 header checksum verify", r"verify_checksum"),
    ("IP-in-IP header (encapsulate)", r"encapsulate|write_ipip_header"),
    ("TTL decrement + MSS clamp", r"decrement_ttl|clamp_mss"),
    ("pipeline stages: route/decap/local/emit (rest)", r"^msm::(dataplane::)?(pipeline|forward|decap|local|icmp|frag)::"),
    ("tx: rte_eth_tx_burst + PMD + free", r"tx_burst|tx_retry_or_free|eth_null_tx|TxStage|pktmbuf_free|rte_mempool_put|mempool_ops_enqueue|ring_mp_enqueue|common_ring_mp_enqueue"),
    ("rx: rte_eth_rx_burst + PMD + alloc", r"rx_burst|eth_null_rx|eth_null_copy_rx|eth_null_no_rx|pktmbuf_alloc|mempool_generic_get|rte_mempool_get|ring_mc_dequeue|common_ring_mc_dequeue|MbufBurst.*::rx"),
    ("RCU read side (begin/quiescent)", r"msm_table::rcu::"),
    ("counters", r"msm::(dataplane::)?counters::"),
    ("worker loop (rest of msm::dataplane::worker::run)", r"^msm::(dataplane::)?worker::"),
]
COMPILED = [(g, re.compile(p)) for g, p in GROUPS]
WORKER = "rte-worker"
OTHER = "other (kernel, libc, frames without a group)"


def main(path):
    worker_only = False
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():
                continue
            frames = stack.split(";")
            stacks.append((frames, int(n)))
            if frames[0].startswith(WORKER):
                worker_only = True
    if worker_only:
        stacks = [(f, n) for f, n in stacks if f[0].startswith(WORKER)]
    total = sum(n for _, n in stacks)
    if total == 0:
        print("no samples")
        return 1
    own = {g: 0 for g, _ in GROUPS}
    own[OTHER] = 0
    incl = {g: 0 for g, _ in GROUPS}
    for frames, n in stacks:
        charged = None
        seen = set()
        for fr in reversed(frames):
            for g, rx in COMPILED:
                if rx.search(fr):
                    if charged is None:
                        charged = g
                    seen.add(g)
                    break
        own[charged or OTHER] += n
        for g in seen:
            incl[g] += n
    who = "worker thread (rte-worker-*)" if worker_only else "all threads"
    # inferno-collapse-perf weighs each sample by its period: cpu-clock counts ns.
    print(f"# {total / 1e6:.0f} ms of cpu-clock samples of the {who};")
    print("# self: charged to the innermost matching group (adds up to 100 %);")
    print("# incl.: stacks with a frame of the group anywhere")
    print(f"{'group':<44} {'self %':>7} {'incl. %':>8} {'ms':>8}")
    for g, _ in GROUPS:
        print(f"{g:<44} {100 * own[g] / total:>6.1f}% {100 * incl[g] / total:>7.1f}% {own[g] / 1e6:>8.1f}")
    print(f"{OTHER:<44} {100 * own[OTHER] / total:>6.1f}% {'':>8} {own[OTHER] / 1e6:>8.1f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
