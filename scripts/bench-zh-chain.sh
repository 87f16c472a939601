#!/usr/bin/env bash
# The Chinese-first chain on Chinese documents beside the English chain on English ones, one
# core each, in one sitting (BENCHMARKS.md, "Chinese-first cleaning"). Inputs: the first 20 MB
# of each language of the shared slice. Run from the repository root after a release build.
#   scripts/bench-zh-chain.sh
set -euo pipefail
bin="${TOKENMILL:-target/release/tokenmill}"
mkdir -p out/bench-zh
zstd -dc ../shared/data/corpus/slice100.jsonl.zst | python3 -c '
import json, sys
out = {l: open(f"out/bench-zh/{l}.jsonl", "w") for l in ("zh", "en")}
size = dict.fromkeys(out, 0)
for line in sys.stdin:
    lang = json.loads(line)["lang"]
    if lang in out and size[lang] < 20_000_000:
        out[lang].write(line)
        size[lang] += len(line.encode())
'
for lang in zh en; do
  rm -rf "out/bench-zh/work-$lang" "out/bench-zh/kept-$lang"
  echo "== $lang"
  "$bin" bench "benches/zh-chain-$lang.toml" -j 1 -q
done
