#!/usr/bin/env python3
"""Builds the transformer-encoder test fixtures: tiny random-weight models saved by
`transformers`' `save_pretrained`, and the logits PyTorch computes for them.

    python3 -m venv /tmp/bert-venv
    /tmp/bert-venv/bin/pip install torch transformers tokenizers safetensors numpy
    /tmp/bert-venv/bin/python scripts/make-encoder-fixtures.py \
        --data /work/shared/data --out engine/tests/fixtures/encoder

Writes, under --out:

- `texts.jsonl`: a few real documents (English and Chinese) from the shared corpus slice.
- one directory per model (`config.json`, `model.safetensors`, `cases.json`, and for the
  models the end-to-end tests score text with, `tokenizer.json` and `text_cases.json`):
  - `bert-regression`: BertForSequenceClassification, num_labels = 1 (a regression score, as
    FineWeb-Edu's classifier), fp32, BERT uncased WordPiece vocabulary.
  - `bert-3labels-fp16`: BertForSequenceClassification, 3 labels, weights stored in fp16.
  - `xlmr-2labels`: XLMRobertaForSequenceClassification, 2 labels, fp32, a small Unigram
    tokenizer trained here on the corpus texts (XLM-R's special tokens and template).
  - `roberta-regression-bf16`: RobertaForSequenceClassification, num_labels = 1, bf16 on disk.

`cases.json` holds token-id sequences of 1 to 512 tokens (specials included) and the logits of
one padded batch of all of them in fp32 (`logits`); for fp16/bf16 models also the logits of
PyTorch computing in that dtype (`logits_native`). `text_cases.json` holds documents and the
logits of the Hugging Face pipeline of tokenizer (truncation to 512) and model.
"""

import argparse
import json
import os
import subprocess

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
)

LENGTHS = [1, 2, 3, 5, 17, 64, 129, 300, 511, 512]
TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    attn_implementation="eager",
)


def corpus_texts(data, n_en=6, n_zh=4, n_train=1000):
    """The first documents of the corpus slice: a few English and Chinese for the tests (long
    enough for 512 tokens together), and more for training the Unigram tokenizer."""
    path = os.path.join(data, "corpus", "slice100.jsonl.zst")
    proc = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE)
    picked, train = [], []
    want = {"en": n_en, "zh": n_zh}
    for line in proc.stdout:
        doc = json.loads(line)
        text = doc["text"]
        if len(train) < n_train:
            train.append(text[:2000])
        lang = doc.get("lang")
        if want.get(lang, 0) > 0 and 200 <= len(text) <= 6000:
            want[lang] -= 1
            picked.append({"id": doc["id"], "lang": lang, "text": text[:3000]})
        if len(train) >= n_train and not any(want.values()):
            break
    proc.kill()
    return picked, train


def bert_tokenizer(data):
    tok = Tokenizer.from_file(os.path.join(data, "tokenizers", "bert-base-uncased-wordpiece.json"))
    # The shared file pads to 128; a downloaded model's tokenizer.json usually does not.
    tok.no_padding()
    tok.no_truncation()
    return tok


def unigram_tokenizer(train):
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=6000, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(train, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    assert [tok.token_to_id(t) for t in specials] == [0, 1, 2, 3]
    return tok


def randomize(model, seed):
    """Random values for every parameter (transformers' init zeroes biases and sets LayerNorm to
    identity, which would let a missing bias or LayerNorm pass)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif "embeddings" in name:
                p.copy_(0.5 * noise)
            else:
                p.copy_(0.15 * noise)


def id_cases(tok, texts, cls, sep):
    """Sequences of each length in LENGTHS: [cls] + text ids + [sep], cut to the length."""
    ids = []
    for t in texts:
        ids += tok.encode(t["text"], add_special_tokens=False).ids
    assert len(ids) >= 600, "not enough text for 512 tokens"
    cases = []
    for i, n in enumerate(LENGTHS):
        start = (i * 37) % 80
        body = ids[start : start + max(n - 2, 0)]
        seq = [cls] if n == 1 else [cls] + body + [sep]
        assert len(seq) == n
        cases.append(seq)
    return cases


def batch_logits(model, seqs, pad, dtype):
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    m = model.to(dtype)
    with torch.no_grad():
        out = m(input_ids=ids, attention_mask=mask).logits.float()
    # Each sequence alone gives the same logits as in the padded batch.
    with torch.no_grad():
        for i, s in enumerate(seqs[:3]):
            alone = m(input_ids=torch.tensor([s])).logits.float()
            tol = 1e-5 if dtype == torch.float32 else 5e-2
            assert torch.allclose(alone[0], out[i], atol=tol), (alone, out[i])
    return out.tolist()


def build(name, cls_, cfg, seed, dtype, tok, texts, specials, out, with_text):
    torch.manual_seed(seed)
    model = cls_(cfg).eval()
    randomize(model, seed)
    # Round the weights to the storage dtype first: the fp32 reference then computes with
    # exactly the weights on disk.
    model = model.to(dtype).float()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model.to(dtype).save_pretrained(d, safe_serialization=True)
    model = model.float()
    cls, sep, pad = specials
    seqs = id_cases(tok, texts, cls, sep)
    cases = {"pad_id": pad, "cases": []}
    logits = batch_logits(model, seqs, pad, torch.float32)
    native = batch_logits(model, seqs, pad, dtype) if dtype != torch.float32 else None
    for i, s in enumerate(seqs):
        case = {"ids": s, "logits": logits[i]}
        if native is not None:
            case["logits_native"] = native[i]
        cases["cases"].append(case)
    with open(os.path.join(d, "cases.json"), "w") as f:
        json.dump(cases, f)
    if with_text:
        tok.save(os.path.join(d, "tokenizer.json"))
        model = model.float()
        rows = []
        for t in texts:
            enc = tok.encode(t["text"])
            ids = enc.ids
            if len(ids) > 512:  # truncation=True, max_length=512: keep the final special
                ids = ids[:511] + ids[-1:]
            with torch.no_grad():
                lg = model(input_ids=torch.tensor([ids])).logits[0].tolist()
            rows.append({"id": t["id"], "tokens": len(ids), "logits": lg})
        with open(os.path.join(d, "text_cases.json"), "w") as f:
            json.dump(rows, f, indent=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--out", default="engine/tests/fixtures/encoder")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    texts, train = corpus_texts(args.data)
    with open(os.path.join(args.out, "texts.jsonl"), "w") as f:
        for t in texts:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")

    bert_tok = bert_tokenizer(args.data)
    bert_specials = (bert_tok.token_to_id("[CLS]"), bert_tok.token_to_id("[SEP]"), 0)
    bert_cfg = dict(TINY, vocab_size=30522, max_position_embeddings=512, type_vocab_size=2)
    cfg = BertConfig(**bert_cfg, num_labels=1, problem_type="regression")
    build("bert-regression", BertForSequenceClassification, cfg, 1, torch.float32,
          bert_tok, texts, bert_specials, args.out, True)
    labels = {0: "low", 1: "mid", 2: "high"}
    cfg = BertConfig(**bert_cfg, id2label=labels, label2id={v: k for k, v in labels.items()})
    build("bert-3labels-fp16", BertForSequenceClassification, cfg, 2, torch.float16,
          bert_tok, texts, bert_specials, args.out, False)

    uni = unigram_tokenizer(train)
    rob_cfg = dict(TINY, vocab_size=uni.get_vocab_size(), max_position_embeddings=514,
                   type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    cfg = XLMRobertaConfig(**rob_cfg, num_labels=2)
    build("xlmr-2labels", XLMRobertaForSequenceClassification, cfg, 3, torch.float32,
          uni, texts, (0, 2, 1), args.out, True)
    cfg = RobertaConfig(**rob_cfg, num_labels=1, problem_type="regression")
    build("roberta-regression-bf16", RobertaForSequenceClassification, cfg, 4, torch.bfloat16,
          uni, texts, (0, 2, 1), args.out, False)


if __name__ == "__main__":
    main()
