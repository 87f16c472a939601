#!/usr/bin/env python3
"""Encoder classifier throughput on one core: tokenmill's CPU encoder next to PyTorch's.

    /tmp/bert-venv/bin/python scripts/bench-encoder.py [--model DIR] [--docs N] [--tokens T]

Without --model, builds (once) a BERT-base-sized BertForSequenceClassification with random
weights and num_labels = 1 (the shape of FineWeb-Edu's classifier: 12 layers, hidden 768,
110M parameters) at /tmp/tokenmill-bench-bert-base. Both engines score the same number of
sequences of T token ids (specials included) one document per forward pass, pinned to CPU 0
(`taskset -c 0`), PyTorch with torch.set_num_threads(1) and inference_mode; each is warmed up
on one document first. The Rust side is `cargo run --release -p tokenmill-engine --example
encoder_throughput`. Prints one JSON line per engine and the ratio.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = "/tmp/tokenmill-bench-bert-base"

TORCH_SIDE = r"""
import json, sys, time, torch
from transformers import AutoModelForSequenceClassification
torch.set_num_threads(1)
model_dir, docs, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
m = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
g = torch.Generator().manual_seed(0)
ids = torch.randint(1000, m.config.vocab_size, (docs, tokens), generator=g)
with torch.inference_mode():
    m(input_ids=ids[:1])
    t = time.perf_counter()
    for i in range(docs):
        m(input_ids=ids[i : i + 1])
    s = time.perf_counter() - t
print(json.dumps({"engine": "pytorch " + torch.__version__, "attn": m.config._attn_implementation,
                  "docs": docs, "seconds": round(s, 3), "docs_per_s": docs / s,
                  "tokens_per_s": docs * tokens / s}))
"""


def build_model(path):
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(num_labels=1, problem_type="regression")
    BertForSequenceClassification(cfg).eval().save_pretrained(path, safe_serialization=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--cpu", default="0")
    args = ap.parse_args()
    if args.model == DEFAULT_MODEL:
        build_model(args.model)
    subprocess.check_call(
        ["cargo", "build", "--release", "-q", "-p", "tokenmill-engine", "--example", "encoder_throughput"],
        cwd=ROOT,
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    exe = os.path.join(target, "release", "examples", "encoder_throughput")
    pin = ["taskset", "-c", args.cpu]
    rows = []
    for cmd in (
        pin + [sys.executable, "-c", TORCH_SIDE, args.model, str(args.docs), str(args.tokens)],
        pin + [exe, args.model, str(args.docs), str(args.tokens), "1"],
    ):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row))
    torch_row, ours = rows
    print(json.dumps({"tokenmill_over_pytorch": round(ours["docs_per_s"] / torch_row["docs_per_s"], 3)}))


if __name__ == "__main__":
    main()
