#!/usr/bin/env bash
# Deduplication at scale: a synthetic corpus (default 20 million documents) through the four
# phases, each its own process under /usr/bin/time, with a memory budget.
#
#   cargo build --release -p tokenmill && scripts/bench-dedup-scale.sh [DOCS] [MEMORY] [THREADS]
#   SIG_ARGS="--num-perm 32 --bands 4 --rows 8" ... # smaller signatures (phase 1 keeps 8 bytes per permutation per document)
#
# Prints one JSON line: per phase the wall time, documents per second and peak RSS, the budget,
# and what was removed against what `tokenmill dedup synth` planted.
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-20000000}
memory=${2:-1GiB}
threads=${3:-2}
bin=${TOKENMILL:-target/release/tokenmill}
[[ -x $bin ]] || { echo "build first: cargo build --release -p tokenmill" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
root=${BENCH_DIR:-out/bench-scale}
rm -rf "$root" && mkdir -p "$root"
synth=$("$bin" dedup synth -o "$root/in" --docs "$docs" --files 200 -q)
echo "$synth" >"$root/synth.json"
phase() { # NAME ARGS...
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$root/$name.time" "$bin" dedup "$name" "$@" --work-dir "$root/work" --memory "$memory" -j "$threads" -q \
    >"$root/$name.out"
}
# shellcheck disable=SC2086  # SIG_ARGS is a list of flags (e.g. "--num-perm 32 --bands 4 --rows 8")
phase signatures "$root"/in/*.jsonl.zst ${SIG_ARGS:-}
phase buckets
phase cluster
phase filter "$root"/in/*.jsonl.zst -o "$root/out"
python3 - "$root" "$docs" "$memory" "$threads" <<'EOF'
import json, sys
root, docs, memory, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
out = {"documents": docs, "memory_budget": memory, "threads": threads, "synth": json.load(open(f"{root}/synth.json")), "phases": {}}
for p in ("signatures", "buckets", "cluster", "filter"):
    secs, rss_kib = open(f"{root}/{p}.time").read().split()[-2:]
    out["phases"][p] = {"seconds": float(secs), "docs_per_s": round(docs / max(float(secs), 1e-9)),
                        "peak_rss_mib": round(int(rss_kib) / 1024, 1)}
report = json.load(open(f"{root}/work/clusters/report.json"))
out["removed"] = report.get("removed")
out["clusters"] = report.get("clusters")
out["peak_rss_mib_max"] = max(v["peak_rss_mib"] for v in out["phases"].values())
print(json.dumps(out))
EOF
