#!/usr/bin/env python3
"""Compression (bytes of text per token) of a byte-level BPE trained by Hugging Face `tokenizers`'
trainer (Python) with the same pre-tokenizer, vocabulary size and sample as `tokenmill
train-tokenizer`, measured on held-out documents by their `lang` field, so the two can be set side
by side (see BENCHMARKS.md, "Training a tokenizer").

usage: tokenizer-compression.py PATTERN VOCAB_SIZE TRAIN.jsonl HELDOUT.jsonl [TOKENIZER.json ...]
  PATTERN: gpt2 | llama3 | qwen2 | deepseek-v3 | o200k (the families of --pattern)
  Trains HF's BPE on TRAIN (min_frequency 2, <|endoftext|> as the first special token, each
  text cut to 100,000 bytes, as tokenmill does), then prints bytes/token on HELDOUT for it and
  for every TOKENIZER.json given (e.g. the one tokenmill wrote). Needs `pip install tokenizers`.
"""
import json, sys
from collections import defaultdict

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

CL100K = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = CL100K.replace(r"\p{N}{1,3}", r"\p{N}")
O200K = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}", r" ?[^\s\p{L}\p{N}]+[\r\n/]*", r"\s*[\r\n]+", r"\s+(?!\S)", r"\s+"])
DEEPSEEK_V3 = [r"\p{N}{1,3}", r"[一-龥぀-ゟ゠-ヿ]+",
               r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""]
SPLITS = {"gpt2": None, "llama3": [CL100K], "qwen2": [QWEN2], "deepseek-v3": DEEPSEEK_V3, "o200k": [O200K]}


def texts(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def train(pattern, vocab_size, path):
    tok = Tokenizer(models.BPE())
    if pattern == "qwen2":
        tok.normalizer = normalizers.NFC()
    if SPLITS[pattern] is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        steps = [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in SPLITS[pattern]]
        tok.pre_tokenizer = pre_tokenizers.Sequence(steps + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((d["text"].encode()[:100_000].decode("utf-8", "ignore") for d in texts(path)), trainer)
    return tok


def compression(tok, heldout):
    sums = defaultdict(lambda: [0, 0, 0])
    docs = list(texts(heldout))
    encodings = tok.encode_batch_fast([d["text"] for d in docs], add_special_tokens=False)
    for d, e in zip(docs, encodings):
        for key in ["all", d.get("lang")]:
            if key:
                s = sums[key]
                s[0] += 1; s[1] += len(d["text"].encode()); s[2] += len(e.ids)
    return {k: round(b / t, 3) for k, (_, b, t) in sorted(sums.items()) if t}


def main():
    pattern, vocab_size, train_path, heldout = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    hf = train(pattern, vocab_size, train_path)
    print(json.dumps({"trainer": "hf-tokenizers", "pattern": pattern, "vocab_size": hf.get_vocab_size(), "bytes_per_token": compression(hf, heldout)}))
    for path in sys.argv[5:]:
        tok = Tokenizer.from_file(path)
        print(json.dumps({"tokenizer": path, "vocab_size": tok.get_vocab_size(), "bytes_per_token": compression(tok, heldout)}))


if __name__ == "__main__":
    main()
