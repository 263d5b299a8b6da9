#!/usr/bin/env bash
# Data-plane A/B: msm-bench built at BASE against msm-bench built from the work tree, run
# interleaved (BASE, HEAD, BASE, HEAD, ...) on the same net_null ports in one session,
# each run with its own testpmd macswap baseline, so a refactoring's cost shows as a
# ratio against the same machine's noise. Writes perf/results/ab-<date>-<BASE>-<HEAD>.md
# (commands included) and keeps each run's JSON under perf/results/tmp/ab/.
#
#   perf/ab.sh [BASE_REV]        (root; default BASE_REV: the commit before the structure issue)
#   ROUNDS=3 SIZES=1000,10000000 FRAMES=64 AB_BASE_TARGET=/var/tmp/ab-target perf/ab.sh 242a83a
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-242a83a}
rounds=${ROUNDS:-2}
sizes=${SIZES:-1000,10000000}
frames=${FRAMES:-64}
CARGO=${CARGO:-cargo}
head=$(git rev-parse --short HEAD)$([ -n "$(git status --porcelain -- src crates perf/bench)" ] && echo "+dirty" || true)
base_short=$(git rev-parse --short "$base")

work=$(mktemp -d /tmp/msm-ab.XXXXXX)
cleanup() { git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git worktree add --detach "$work/base" "$base" >/dev/null
echo "ab: building msm-bench at $base_short and at $head" >&2
# AB_BASE_TARGET: a cargo target directory kept between runs (the base build is then incremental).
base_target=${AB_BASE_TARGET:-$work/target}
(cd "$work/base" && CARGO_TARGET_DIR="$base_target" $CARGO build --release -q -p msm-bench)
$CARGO build --release -q -p msm-bench
declare -A bins=([base]="$base_target/release/msm-bench" [head]="$PWD/target/release/msm-bench")

out=perf/results
tmp=$out/tmp/ab
mkdir -p "$tmp"
common=(--sizes "$sizes" --frame-sizes "$frames" --no-mix --latency-loads 50 --no-storm
        --churn-rounds 0 --max-workers 1 --testpmd-secs 5)
cmds=()
for r in $(seq 1 "$rounds"); do
  for v in base head; do
    cmd=("${bins[$v]}" "${common[@]}" --out-json "$tmp/$v-$r.json" --out-md "$tmp/$v-$r.md")
    echo "ab: round $r $v: ${cmd[*]}" >&2
    cmds+=("$v round $r: msm-bench ${common[*]}")
    "${cmd[@]}" >"$tmp/$v-$r.log" 2>&1 || { echo "ab: $v round $r failed, see $tmp/$v-$r.log" >&2; exit 1; }
  done
done

md="$out/ab-$(date -u +%F)-$base_short-${head%+dirty}.md"
python3 - "$tmp" "$rounds" "$base_short" "$head" "$(date -u +%FT%TZ)" "${common[*]}" >"$md" <<'PY'
import json, sys, statistics as st
tmp, rounds, base, head, when, common = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
rows = {}
tp = {"base": [], "head": []}
for r in range(1, rounds + 1):
    for v in ("base", "head"):
        d = json.load(open(f"{tmp}/{v}-{r}.json"))
        t = d["baselines"].get("testpmd_macswap_net_null_mpps")
        tp[v].append(t)
        for run in d["msm"]:
            rows.setdefault(run["name"], {"base": [], "head": []})[v].append(
                (run["mpps"], run.get("worker_only_mpps"), run.get("ratio_testpmd"), run.get("drops")))
print(f"# Data-plane A/B: {base} (before) vs {head} (after)\n")
print(f"{when}; `perf/ab.sh {base}`, {rounds} interleaved rounds (base, head, base, head, ...);")
print(f"each round is one `msm-bench {common}` (its own testpmd macswap on the same net_null ports).\n")
print("| run | Mpps before (per round) | Mpps after (per round) | after/before (medians) | x testpmd before | x testpmd after | worker-only Mpps before | after |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
def f(xs): return ", ".join(f"{x:.2f}" for x in xs)
for name, v in rows.items():
    b = [x[0] for x in v["base"]]; h = [x[0] for x in v["head"]]
    rb = [x[2] for x in v["base"] if x[2]]; rh = [x[2] for x in v["head"] if x[2]]
    wb = [x[1] for x in v["base"] if x[1]]; wh = [x[1] for x in v["head"] if x[1]]
    print(f"| {name} | {f(b)} | {f(h)} | {st.median(h)/st.median(b):.3f} | "
          f"{st.median(rb):.3f} | {st.median(rh):.3f} | {st.median(wb):.2f} | {st.median(wh):.2f} |")
print()
print(f"testpmd macswap Mpps per round: before {f([x for x in tp['base'] if x])}; after {f([x for x in tp['head'] if x])}.")
drops = [(n, v) for n, r in rows.items() for v in ("base", "head") for x in r[v] if x[3]]
print(f"Drops in any run: {drops if drops else 'none'}. Per-run markdown and JSON: {tmp}/.")
PY
echo "results: $md"
cat "$md"
