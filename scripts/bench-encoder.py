#!/usr/bin/env python3
"""Encoder classifier throughput on one core: tokenmill's CPU encoder next to PyTorch's.

    /tmp/bert-venv/bin/python scripts/bench-encoder.py [--model DIR] [--docs N] [--tokens T]
        [--batch B] [--rounds R] [--device cpu|cuda|emulator]

Without --model, builds (once) a BERT-base-sized BertForSequenceClassification with random
weights and num_labels = 1 (the shape of FineWeb-Edu's classifier: 12 layers, hidden 768,
110M parameters) at /tmp/tokenmill-bench-bert-base. Both engines score the same number of
sequences of T token ids (specials included), B documents per forward pass, pinned to one core
(`taskset -c 0`), PyTorch with torch.set_num_threads(1) and inference_mode; each is warmed up
on one batch first. With --device cuda both run on GPU 0 (same batch), unpinned. The Rust side
is `cargo run --release -p tokenmill-engine --example encoder_throughput`. R rounds alternate
the two engines; each round prints one JSON line per engine, then the ratio and the load. The
ratio is also given per CPU second of the scoring thread (Python's thread_time, the Rust side's
/proc/thread-self/schedstat), which other processes on a loaded machine disturb less.
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
model_dir, docs, tokens, batch, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if device == "cpu":
    torch.set_num_threads(1)
m = AutoModelForSequenceClassification.from_pretrained(model_dir).eval().to(device)
g = torch.Generator().manual_seed(0)
ids = torch.randint(1000, m.config.vocab_size, (docs, tokens), generator=g).to(device)
sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
with torch.inference_mode():
    m(input_ids=ids[:batch])
    sync()
    t, c = time.perf_counter(), time.thread_time()
    for i in range(0, docs, batch):
        m(input_ids=ids[i : i + batch])
    sync()
    s, c = time.perf_counter() - t, time.thread_time() - c
print(json.dumps({"engine": "pytorch " + torch.__version__, "attn": m.config._attn_implementation,
                  "device": device, "docs": docs, "batch": batch, "seconds": round(s, 3),
                  "docs_per_s": docs / s, "tokens_per_s": docs * tokens / s,
                  "cpu_seconds": round(c, 3), "docs_per_cpu_s": docs / c}))
"""


def build_model(path, small=False):
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    size = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128) if small else {}
    cfg = BertConfig(num_labels=1, problem_type="regression", **size)
    BertForSequenceClassification(cfg).eval().save_pretrained(path, safe_serialization=True)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1, help="documents per forward pass")
    ap.add_argument("--cpu", default="0", help="the core both engines are pinned to (CPU runs)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating runs of the two engines")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "emulator"],
                    help="cuda: both on GPU 0; emulator: tokenmill on the CUDA emulator, PyTorch on the CPU")
    ap.add_argument("--exe", help="a built encoder_throughput binary (default: cargo build it)")
    ap.add_argument("--small", action="store_true", help="build a 2-layer, 64-wide model (smoke runs)")
    args = ap.parse_args()
    if args.model == DEFAULT_MODEL and args.small:
        args.model += "-small"
    build_model(args.model, args.small)
    exe = args.exe
    if exe is None:
        features = ["--features", "emulator"] if args.device == "emulator" else []
        subprocess.check_call(
            ["cargo", "build", "--release", "-q", "-p", "tokenmill-engine", "--example", "encoder_throughput"] + features,
            cwd=ROOT,
        )
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        exe = os.path.join(target, "release", "examples", "encoder_throughput")
    pin = ["taskset", "-c", args.cpu] if args.device != "cuda" else []
    torch_device = "cuda" if args.device == "cuda" else "cpu"
    for r in range(args.rounds):
        torch_row = run_json(pin + [sys.executable, "-c", TORCH_SIDE, args.model, str(args.docs),
                                    str(args.tokens), str(args.batch), torch_device])
        ours = run_json(pin + [exe, args.model, str(args.docs), str(args.tokens), str(args.batch), args.device])
        print(json.dumps(torch_row))
        print(json.dumps(ours))
        per_cpu_s = ours.get("docs_per_cpu_s", 0) / torch_row["docs_per_cpu_s"] if torch_row["docs_per_cpu_s"] else 0
        print(json.dumps({"round": r + 1, "load_average": os.getloadavg()[0],
                          "tokenmill_over_pytorch": round(ours["docs_per_s"] / torch_row["docs_per_s"], 3),
                          "per_cpu_second": round(per_cpu_s, 3)}),
              flush=True)


if __name__ == "__main__":
    main()
