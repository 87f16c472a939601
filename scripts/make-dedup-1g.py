#!/usr/bin/env python3
"""The 1 GB deduplication benchmark corpus: the shared 100 MB slice as ten copies.

Copy 0 is the slice as it is; copy k (1-9) adds a word of its own (`xq{letter}z`, letters so
that dedup normalization keeps it) after every third word, so its exact hashes and word 5-grams
differ from the other copies' as distinct documents' would. Texts without spaces (Chinese,
Japanese) stay near-duplicates across copies.

    python3 scripts/make-dedup-1g.py SLICE.jsonl OUT_DIR     # SLICE: zstd -d ../shared/data/corpus/slice100.jsonl.zst
"""
import json
import os
import sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for k in range(10):
    tag = "xq" + "abcdefghij"[k] + "z"
    with open(src, encoding="utf-8") as f, open(os.path.join(out, f"copy{k:02}.jsonl"), "w", encoding="utf-8") as o:
        for line in f:
            d = json.loads(line)
            if k:
                words = d["text"].split(" ")
                d["text"] = " ".join(w + " " + tag if i % 3 == 0 else w for i, w in enumerate(words))
            d["id"] = f"{d['id']}#copy{k}"
            o.write(json.dumps(d, ensure_ascii=False) + "\n")
