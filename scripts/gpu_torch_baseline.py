#!/usr/bin/env python3
"""PyTorch baseline for the engine's GPT training throughput (run by scripts/gpu-check.sh).

The same model as tokenmill_engine::gpt (pre-LN GPT-2 blocks, tanh GELU, learned positions,
tied embeddings, biases everywhere but the head), the same batch, AdamW (lr 3e-3, betas
0.9/0.999, eps 1e-8, no weight decay), global grad-norm clipping at 1.0, fp32 without TF32,
eager mode (PyTorch's default): the baseline the issue compares against ("GPT training
throughput >= half of PyTorch's for the same model and batch"). Random windows of a uniform
random token stream, as benches/gpu.rs. Prints one JSON object.

`--smoke` runs each config for two steps on the CPU instead (CI does, so that the script is known
to run before a GPU session depends on it).
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> (vocab, context, layers, width, heads, batch, timed steps); keep in step with benches/gpu.rs.
CONFIGS = {
    "default": (256, 64, 2, 64, 4, 8, 300),
    "medium": (4096, 256, 4, 256, 8, 16, 100),
}


class Block(nn.Module):
    def __init__(self, c, nh):
        super().__init__()
        self.nh = nh
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.fc, self.fcproj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.nh, c // self.nh).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab, ctx, layers, c, nh):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(ctx, c)
        self.blocks = nn.ModuleList(Block(c, nh) for _ in range(layers))
        self.lnf = nn.LayerNorm(c)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        logits = self.lnf(x) @ self.wte.weight.T  # tied head
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def run(name, vocab, ctx, layers, c, nh, batch, steps, warmup=10, dev="cuda"):
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = Gpt(vocab, ctx, layers, c, nh).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    data = torch.randint(0, vocab, (200_000,), device=dev)

    def step():
        ix = torch.randint(0, data.numel() - ctx - 1, (batch,), device=dev)
        offs = ix[:, None] + torch.arange(ctx + 1, device=dev)
        win = data[offs]
        loss = model(win[:, :-1], win[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()  # one sync per step, as the engine's trainer

    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    losses = [step() for _ in range(steps)]
    sync()
    secs = time.perf_counter() - t0
    return {
        "name": name,
        "torch_tokens_per_s": round(batch * ctx * steps / secs),
        "steps": steps,
        "batch_size": batch,
        "context": ctx,
        "first_loss": round(losses[0], 4),
        "final_loss": round(sum(losses[-max(1, steps // 10):]) / max(1, steps // 10), 4),
        "uniform_loss": round(math.log(vocab), 4),
    }


def main():
    smoke = "--smoke" in sys.argv[1:]
    if smoke:
        out = {"torch": torch.__version__, "device": "cpu (smoke run)", "gpt": []}
        for name, cfg in CONFIGS.items():
            r = run(name, *cfg[:-1], steps=2, warmup=1, dev="cpu")
            if not (math.isfinite(r["first_loss"]) and abs(r["first_loss"] - r["uniform_loss"]) < 0.5):
                print(json.dumps({"error": f"{name}: first loss {r['first_loss']} is not near ln(vocab)"}))
                return 1
            out["gpt"].append(r)
        print(json.dumps(out))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no GPU"}))
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "gpt": []}
    for name, cfg in CONFIGS.items():
        out["gpt"].append(run(name, *cfg))
        print(json.dumps(out["gpt"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
