#!/usr/bin/env python3
"""PyTorch's side of the encoder classifier benchmark in scripts/gpu-check.sh.

    python3 scripts/gpu_encoder_baseline.py make DIR [--small]
    python3 scripts/gpu_encoder_baseline.py time DIR DOCS TOKENS BATCH DEVICE [DTYPE]

`make` writes a BertForSequenceClassification with random weights (BERT-base: 12 layers, hidden
768, num_labels = 1, the shape of FineWeb-Edu's classifier; --small: 2 layers, hidden 64) as
config.json + model.safetensors, with torch alone (no transformers or safetensors package
needed, so it runs on a bare GPU machine). `time` scores DOCS sequences of TOKENS ids in
batches of BATCH on DEVICE (cuda or cpu) with `transformers` when it is installed, else with
the same model written in plain PyTorch (nn.Linear, scaled_dot_product_attention, LayerNorm,
erf GELU: what transformers' BERT runs), in DTYPE (fp32, the default; fp16 or bf16: the whole
model cast with `.half()` / `.bfloat16()`, as FineWeb-Edu-style scoring loads it), and prints
one JSON line.
"""

import json
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F


def config(small):
    c = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    if small:
        c = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    return dict(c, model_type="bert", architectures=["BertForSequenceClassification"], vocab_size=30522,
                max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
                pad_token_id=0, num_labels=1, problem_type="regression", id2label={"0": "LABEL_0"},
                label2id={"LABEL_0": 0})


def tensors(c, seed=0):
    g = torch.Generator().manual_seed(seed)
    h, f = c["hidden_size"], c["intermediate_size"]
    rand = lambda *shape: torch.randn(*shape, generator=g) * 0.02
    t = {
        "bert.embeddings.word_embeddings.weight": rand(c["vocab_size"], h),
        "bert.embeddings.position_embeddings.weight": rand(c["max_position_embeddings"], h),
        "bert.embeddings.token_type_embeddings.weight": rand(2, h),
        "bert.embeddings.LayerNorm.weight": torch.ones(h),
        "bert.embeddings.LayerNorm.bias": torch.zeros(h),
        "bert.pooler.dense.weight": rand(h, h),
        "bert.pooler.dense.bias": torch.zeros(h),
        "classifier.weight": rand(1, h),
        "classifier.bias": torch.zeros(1),
    }
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        for name, (o, n) in {"attention.self.query": (h, h), "attention.self.key": (h, h),
                             "attention.self.value": (h, h), "attention.output.dense": (h, h),
                             "intermediate.dense": (f, h), "output.dense": (h, f)}.items():
            t[p + name + ".weight"] = rand(o, n)
            t[p + name + ".bias"] = rand(o)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + norm + ".weight"] = torch.ones(h)
            t[p + norm + ".bias"] = torch.zeros(h)
    return t


def save_safetensors(path, t):
    header, blobs, offset = {}, [], 0
    for name, x in t.items():
        data = x.contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(x.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)


def make(path, small):
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return
    os.makedirs(path, exist_ok=True)
    c = config(small)
    save_safetensors(os.path.join(path, "model.safetensors"), tensors(c))
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(c, f, indent=1)


class PlainBert(torch.nn.Module):
    """BertForSequenceClassification's forward (eval, one segment, no padding) in plain PyTorch."""

    def __init__(self, c, t):
        super().__init__()
        self.c = c
        self.t = torch.nn.ParameterDict({k.replace(".", "/"): torch.nn.Parameter(v, requires_grad=False)
                                         for k, v in t.items()})

    def w(self, name):
        return self.t[name.replace(".", "/")]

    def lin(self, x, name):
        return F.linear(x, self.w(name + ".weight"), self.w(name + ".bias"))

    def norm(self, x, name):
        return F.layer_norm(x, x.shape[-1:], self.w(name + ".weight"), self.w(name + ".bias"), 1e-12)

    def forward(self, ids):
        c, (b, n) = self.c, ids.shape
        nh = c["num_attention_heads"]
        e = "bert.embeddings."
        x = self.w(e + "word_embeddings.weight")[ids] + self.w(e + "position_embeddings.weight")[:n]
        x = self.norm(x + self.w(e + "token_type_embeddings.weight")[0], e + "LayerNorm")
        for i in range(c["num_hidden_layers"]):
            p = f"bert.encoder.layer.{i}."
            heads = lambda y: y.view(b, n, nh, -1).transpose(1, 2)
            q, k, v = (heads(self.lin(x, p + "attention.self." + s)) for s in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, -1)
            x = self.norm(self.lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            y = self.lin(F.gelu(self.lin(x, p + "intermediate.dense")), p + "output.dense")
            x = self.norm(y + x, p + "output.LayerNorm")
        pooled = torch.tanh(self.lin(x[:, 0], "bert.pooler.dense"))
        return self.lin(pooled, "classifier")


def load(path, device):
    try:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(path).eval().to(device), "transformers"
    except ImportError:
        c = json.load(open(os.path.join(path, "config.json")))
        torch.manual_seed(0)
        t = tensors(c)  # the same seed and order as `make`: the same weights
        return PlainBert(c, t).eval().to(device), "plain torch (no transformers installed)"


DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def time_it(path, docs, tokens, batch, device, dtype="fp32"):
    if device == "cpu":
        torch.set_num_threads(1)
    m, impl = load(path, device)
    m = m.to(DTYPES[dtype])
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30522, (docs, tokens), generator=g).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch.inference_mode():
        m(ids[:batch])
        sync()
        start = time.perf_counter()
        for i in range(0, docs, batch):
            m(ids[i:i + batch])
        sync()
        secs = time.perf_counter() - start
    print(json.dumps({"engine": f"pytorch {torch.__version__} ({impl})", "device": device, "dtype": dtype, "docs": docs,
                      "tokens_per_doc": tokens, "batch": batch, "seconds": round(secs, 4),
                      "docs_per_s": docs / secs, "tokens_per_s": docs * tokens / secs}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], "--small" in sys.argv)
    elif sys.argv[1] == "time":
        dtype = sys.argv[7] if len(sys.argv) > 7 else "fp32"
        if dtype not in DTYPES:
            sys.exit(f"unknown dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
        time_it(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], dtype)
    else:
        sys.exit(__doc__)
