#!/usr/bin/env python3
"""Reference segmentation for issue 17: Python jieba 0.42.1's default mode over the Chinese
documents of the shared corpus slice, and its speed on one core.

Chinese documents: Han characters (U+3400-4DBF, U+4E00-9FFF, U+F900-FAFF, U+20000-3134F) are
more than half of the characters for which `str.isalpha()` is true.

    python3 -m venv /tmp/tm-jieba-venv && /tmp/tm-jieba-venv/bin/pip install jieba==0.42.1
    zstd -dc ../shared/data/corpus/slice100.jsonl.zst \
      | taskset -c 1 /tmp/tm-jieba-venv/bin/python scripts/jieba-parity.py > /tmp/jieba-ref.jsonl

Writes one JSON line per Chinese document, {"id", "text", "tokens"} (`jieba.lcut(text)`,
whitespace tokens included), and the speed to stderr. Compare with
`cargo run --release -p tokenmill-filters --example jieba_parity -- /tmp/jieba-ref.jsonl`.
"""

import json
import sys
import time

import jieba


def is_han(c):
    o = ord(c)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F


def is_chinese(text):
    letters = han = 0
    for c in text:
        if c.isalpha():
            letters += 1
            han += is_han(c)
    return letters > 0 and han / letters > 0.5


def main():
    assert jieba.__version__ == "0.42.1", jieba.__version__
    jieba.setLogLevel(60)
    jieba.initialize()  # the dictionary load is not part of the timed segmentation
    docs = []
    for line in sys.stdin:
        d = json.loads(line)
        if is_chinese(d["text"]):
            docs.append((d["id"], d["text"]))
    t0 = time.perf_counter()
    out = [jieba.lcut(text) for _, text in docs]  # default mode: cut_all=False, HMM=True
    secs = time.perf_counter() - t0
    mb = sum(len(t.encode("utf-8")) for _, t in docs) / 1e6
    w = sys.stdout
    for (doc_id, text), toks in zip(docs, out):
        w.write(json.dumps({"id": doc_id, "text": text, "tokens": toks}, ensure_ascii=False) + "\n")
    print(f"python jieba {jieba.__version__} lcut: {len(docs)} docs, {mb:.2f} MB, {secs:.2f} s, "
          f"{mb / secs:.3f} MB/s", file=sys.stderr)


if __name__ == "__main__":
    main()
