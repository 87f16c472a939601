#!/usr/bin/env bash
# Operations benchmark: what an incremental arrival and a resumed run cost next to a full run.
#
#   cargo build --release -p tokenmill && scripts/bench-ops.sh [CORPUS.jsonl.zst] [THREADS]
#
# Splits the corpus (default: the shared 100 MB slice) into 100 files ("arrivals") and times, with
# the same binary, pipeline (length filter + GPT-2 tokenization + Megatron shards) and threads:
#   full         one run over all 100 files (best of 3), and the same with `ledger = false`
#   incremental  `run --incremental` when 99 arrivals were processed and the 100th lands (1% new)
#   idle         `run --incremental` with nothing new (listing and history only)
#   resume       the rerun after `kill -9` once 50 of the 100 units are finished
# and prints one JSON line with the times and their ratios to the full run.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/data/corpus/slice100.jsonl.zst}
threads=${2:-2}
bin=${TOKENMILL:-target/release/tokenmill}
[[ -x $bin ]] || { echo "build first: cargo build --release -p tokenmill" >&2; exit 1; }
root=out/bench-ops
rm -rf "$root" && mkdir -p "$root/all" "$root/in"
zstdcat "$corpus" >"$root/corpus.jsonl"
split -n r/100 -d -a 3 --additional-suffix=.jsonl "$root/corpus.jsonl" "$root/all/arrival-"
rm "$root/corpus.jsonl"
tok=$(pwd)/tests/fixtures/tokenizers/gpt2.json
config() { # NAME INPUT_DIR [RUN_OPTION]
  cat >"$root/$1.toml" <<EOF
version = 1
[run]
work_dir = "$root/$1/work"
${3:-}
[[source]]
name = "docs"
type = "jsonl"
paths = ["$2/*.jsonl"]
id_field = "id"
[[stage]]
name = "length"
type = "length"
inputs = ["docs"]
min_chars = 20
[[stage]]
name = "tokens"
type = "tokenize"
inputs = ["length"]
tokenizer = "$tok"
[[sink]]
name = "shards"
type = "megatron"
inputs = ["tokens"]
path = "$root/$1/shards"
EOF
}
now() { date +%s.%N; }
run() { "$bin" run "$@" -j "$threads" --progress off -q >/dev/null; }

config full "$root/all"
config noledger "$root/all" "ledger = false"
# Alternate with and without the ledger, best of 3 each (the machine is noisy).
t_full=999999; t_noledger=999999
for _ in 1 2 3; do
  t0=$(now); run "$root/full.toml"; t=$(echo "$(now) - $t0" | bc); t_full=$(echo "if ($t < $t_full) $t else $t_full" | bc)
  t0=$(now); run "$root/noledger.toml"; t=$(echo "$(now) - $t0" | bc); t_noledger=$(echo "if ($t < $t_noledger) $t else $t_noledger" | bc)
done

config inc "$root/in"
cp "$root"/all/arrival-0{0..9}?.jsonl "$root/in/" && rm "$root/in/arrival-099.jsonl"
run "$root/inc.toml" --incremental
cp "$root/all/arrival-099.jsonl" "$root/in/"
t0=$(now); run "$root/inc.toml" --incremental; t_inc=$(echo "$(now) - $t0" | bc)
t0=$(now); run "$root/inc.toml" --incremental; t_idle=$(echo "$(now) - $t0" | bc)

config res "$root/all"
"$bin" run "$root/res.toml" -j "$threads" --progress off -q >/dev/null &
pid=$!
until [[ $(ls "$root/res/work/ledger/units" 2>/dev/null | grep -c '\.spool$') -ge 50 ]]; do sleep 0.01; done
kill -9 $pid; wait $pid 2>/dev/null || true
finished=$(ls "$root/res/work/ledger/units" | grep -c '\.spool$')
t0=$(now); run "$root/res.toml"; t_res=$(echo "$(now) - $t0" | bc)
units=$(python3 -c "import json;print(json.dumps(json.load(open('$root/res/work/stats.json'))['units']))")
python3 - <<EOF
import json
m = {k: json.load(open(f"$root/{k}/shards/manifest.json")) for k in ("full", "inc", "res")}
same = all((m[k]["documents"], m[k]["tokens"]) == (m["full"]["documents"], m["full"]["tokens"]) for k in m)
same_bins = [s["bin_xxh3"] for s in m["full"]["shards"]] == [s["bin_xxh3"] for s in m["res"]["shards"]]
full, inc, idle, res, noledger = $t_full, $t_inc, $t_idle, $t_res, $t_noledger
print(json.dumps({"corpus": "$corpus", "threads": $threads, "full_s": round(full, 3),
  "full_without_ledger_s": round(noledger, 3), "ledger_overhead": round(full / noledger - 1, 4),
  "incremental_1pct_s": round(inc, 3), "incremental_ratio": round(inc / full, 4),
  "idle_s": round(idle, 3), "idle_ratio": round(idle / full, 4),
  "resume_after_kill_s": round(res, 3), "resume_ratio": round(res / full, 4),
  "finished_at_kill": $finished, "resume_units": $units,
  "same_counts_full_incremental_resumed": same, "resumed_shards_identical": same_bins}))
EOF
