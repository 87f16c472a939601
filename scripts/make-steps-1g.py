#!/usr/bin/env python3
# 1 GB of JSONL: the shared 100 MB slice, then 9 copies whose documents have the words (or,
# in text without spaces, the characters) of each line shuffled with a per-copy seed: the same
# vocabulary and lengths, but no copy is a duplicate of another.
import json, os, random, subprocess, sys
src = subprocess.run(["zstd", "-dc", os.environ.get("SLICE", "../shared/data/corpus/slice100.jsonl.zst")], capture_output=True, check=True).stdout.decode().splitlines()
out_path = sys.argv[1] if len(sys.argv) > 1 else "in/corpus.jsonl"
with open(out_path, "w") as out:
    for k in range(10):
        for line in src:
            d = json.loads(line)
            if k:
                rng = random.Random(f"{k}:{d['id']}")
                lines = []
                for l in d["text"].split("\n"):
                    w = l.split(" ")
                    if len(w) > 1:
                        rng.shuffle(w); lines.append(" ".join(w))
                    else:
                        c = list(l); rng.shuffle(c); lines.append("".join(c))
                d["text"] = "\n".join(lines)
                d["id"] = f"{d['id']}-{k}"
            out.write(json.dumps(d, ensure_ascii=False) + "\n")
