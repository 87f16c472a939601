#!/usr/bin/env python3
"""fastText parity fixtures and the Python side of the speed comparison (`fasttext_classifier`).

Assembles labelled text from the shared corpus slice, trains three small supervised models
with the `fasttext` PyPI package, and writes what `fasttext`'s own `predict` says about
held-out documents:

    python3 -m venv /tmp/ft-venv && /tmp/ft-venv/bin/pip install fasttext-numpy2-wheel zstandard
    taskset -c 1 /tmp/ft-venv/bin/python scripts/fasttext-parity.py \
        ../shared/data/corpus/slice100.jsonl.zst /tmp/ft-parity

Labels. Each document of the slice carries the package it was extracted from (`source`) and a
language (`lang`). The `genre` label is derived from `source`: `poetry` (npm chinese-poetry),
`fortune` (the Debian fortunes-* packages), `mail` (the SpamAssassin corpus), `dictionary`
(dict-gcide, dict-wn, sword-dict-*), `docs` (every other package: software documentation for
the most part). The `lang` label is the slice's `lang` field as it is. These are stand-ins for a
team's own labels (they are easy to learn), chosen because the slice has them; what is tested
is that tokenmill computes what fastText computes, not that the labels are good.

Documents are shuffled (seed 0), Chinese poetry is capped at 6,000 documents (it is two thirds
of the slice), the rest shuffled again (seed 1), 10,000 documents are held out and the rest are training text, one document per
line with its newlines replaced by spaces (fastText reads one example per line).

Models (small enough to commit):
* `genre.bin`: softmax loss, character n-grams 2-4, dim 10, trained on the first 5,000
  training documents only (a smaller vocabulary, a smaller file);
* `genre-ova.ftz`: one-vs-all loss, character n-grams 2-4, trained on the same 5,000
  documents (on the whole training text its sigmoids saturate at 0 and 1), quantized
  (`qnorm`, `cutoff`), so with a pruned dictionary and bucket index;
* `lang-bigram-hs.bin`: hierarchical softmax over the languages, word bigrams
  (`wordNgrams=2`), no character n-grams.

Outputs in OUT (default /tmp/ft-parity):
* the three models;
* `heldout.jsonl`: the 10,000 held-out documents `{"id", "text"}` (text with newlines replaced
  by spaces, as given to `predict`);
* `predictions.jsonl`: per document and model, `predict(text, k=-1)` ("all"), `predict(text)`
  ("top1") and `predict(text, k=2, threshold=0.05)` ("k2t05"), as [label, probability] lists;
* `fixture/`: the models and the first 1,000 held-out documents (texts cut to 2,000 characters)
  with their predictions: what tests/fixtures/fasttext/ holds;

With `--speed` (after a run that wrote OUT), only the Python package's predict speed over the
10,000 held-out documents, best of two, one document per call and one call with the list, in
CPU seconds of the thread:

    taskset -c 1 /tmp/ft-venv/bin/python scripts/fasttext-parity.py --speed /tmp/ft-parity [MODEL...]

(MODEL: file names of models in that directory; by default the three above.)

With `--large` (after a run that wrote OUT), three models of the size teams filter with,
trained with fastText's defaults (2,000,000 buckets, softmax, dim 100) but for what is named:
`lang-bigram-d100.bin` (word bigrams, on the language-labelled text: 1.15 GB),
`lang-bigram-d16.bin` (the same with dim 16: 0.2 GB) and `genre-char-d100.bin` (character
n-grams 2-4, on the 5,000 genre-labelled documents: 0.9 GB), in LARGE with the held-out
documents and their predictions (not committed):

    taskset -c 1 /tmp/ft-venv/bin/python scripts/fasttext-parity.py --large /tmp/ft-parity /tmp/ft-large
"""

import io
import json
import os
import random
import shutil
import sys
import time

import fasttext
import zstandard

POETRY_CAP = 6000
HELD_OUT = 10_000
FIXTURE_DOCS = 1000
SMALL_TRAIN = 5000
FIXTURE_CHARS = 2000
SETTINGS = {"all": dict(k=-1), "top1": dict(k=1), "k2t05": dict(k=2, threshold=0.05)}


def genre(source):
    if source == "npm:chinese-poetry":
        return "poetry"
    if source.startswith("deb:fortunes"):
        return "fortune"
    if "spam-assassin" in source:
        return "mail"
    if source in ("deb:dict-gcide", "deb:dict-wn") or source.startswith("deb:sword-dict"):
        return "dictionary"
    return "docs"


def one_line(text):
    return text.replace("\n", " ")


def read_docs(path):
    with open(path, "rb") as f:
        reader = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8")
        return [json.loads(line) for line in reader]


def write_train(path, docs, key):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(f"__label__{key(d)} {one_line(d['text'])}\n")


def train(out, train_docs):
    genre_txt, lang_txt = os.path.join(out, "train-genre.txt"), os.path.join(out, "train-lang.txt")
    small_txt = os.path.join(out, "train-genre-small.txt")
    write_train(genre_txt, train_docs, lambda d: genre(d["source"]))
    write_train(small_txt, train_docs[:SMALL_TRAIN], lambda d: genre(d["source"]))
    write_train(lang_txt, train_docs, lambda d: d["lang"])
    common = dict(thread=1, seed=0, verbose=0)
    # Smaller vocabularies keep the committed models small (fastText 0.9.2 hit NaN while
    # training on several other cuts of this data; these settings train).
    plain = fasttext.train_supervised(
        small_txt, dim=10, epoch=5, minn=2, maxn=4, bucket=10000, minCount=20, loss="softmax",
        **common)
    plain.save_model(os.path.join(out, "genre.bin"))
    ova = fasttext.train_supervised(
        small_txt, dim=16, epoch=5, minn=2, maxn=4, bucket=50000, minCount=5, loss="ova",
        **common)
    ova.quantize(input=small_txt, qnorm=True, cutoff=20000, retrain=False)
    ova.save_model(os.path.join(out, "genre-ova.ftz"))
    bigram = fasttext.train_supervised(
        lang_txt, dim=10, epoch=5, minn=0, maxn=0, wordNgrams=2, bucket=10000, minCount=20,
        loss="hs", **common)
    bigram.save_model(os.path.join(out, "lang-bigram-hs.bin"))
    return {"genre.bin": plain, "genre-ova.ftz": ova, "lang-bigram-hs.bin": bigram}


def predictions(models, texts):
    rows = []
    for text in texts:
        row = {}
        for name, m in models.items():
            row[name] = {}
            for setting, kw in SETTINGS.items():
                labels, probs = m.predict(text, **kw)
                row[name][setting] = [[l, float(p)] for l, p in zip(labels, probs)]
        rows.append(row)
    return rows


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def speed(models, texts):
    """Seconds to predict every text, best of two, one call per text and one list call."""
    mb = sum(len(t.encode()) for t in texts) / 1e6
    for name, m in models.items():
        for k in (1, -1):
            per_call = min(timed(lambda: [m.predict(t, k=k) for t in texts]) for _ in range(2))
            listed = min(timed(lambda: m.predict(texts, k=k)) for _ in range(2))
            print(f"python {name} k={k}: {len(texts)} docs {mb:.1f} MB, "
                  f"predict per document {per_call:.3f} s ({len(texts) / per_call:,.0f} docs/s), "
                  f"predict(list) {listed:.3f} s ({len(texts) / listed:,.0f} docs/s)")


def timed(f):
    """CPU seconds of this thread (on a shared, loaded machine, wall time measures the
    scheduler more than the code)."""
    t = time.thread_time()
    f()
    return time.thread_time() - t


def large(out, large_out):
    """Trains the `--large` models on OUT's labelled text and predicts OUT's held-out
    documents with them."""
    os.makedirs(large_out, exist_ok=True)
    shutil.copy(os.path.join(out, "heldout.jsonl"), os.path.join(large_out, "heldout.jsonl"))
    with open(os.path.join(out, "heldout.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    models = {}
    for dim in (100, 16):
        models[f"lang-bigram-d{dim}.bin"] = fasttext.train_supervised(
            os.path.join(out, "train-lang.txt"), dim=dim, wordNgrams=2, seed=1, thread=2,
            verbose=0)
    models["genre-char-d100.bin"] = fasttext.train_supervised(
        os.path.join(out, "train-genre-small.txt"), minn=2, maxn=4, seed=1, thread=2, verbose=0)
    for name, model in models.items():
        model.save_model(os.path.join(large_out, name))
    write_jsonl(os.path.join(large_out, "predictions.jsonl"), predictions(models, texts))


def main():
    if sys.argv[1:2] == ["--large"]:
        large(sys.argv[2], sys.argv[3])
        return
    if sys.argv[1:2] == ["--speed"]:
        out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/ft-parity"
        with open(os.path.join(out, "heldout.jsonl"), encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f]
        names = sys.argv[3:] or ["genre.bin", "genre-ova.ftz", "lang-bigram-hs.bin"]
        speed({n: fasttext.load_model(os.path.join(out, n)) for n in names}, texts)
        return
    corpus = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/corpus/slice100.jsonl.zst"
    out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/ft-parity"
    os.makedirs(os.path.join(out, "fixture"), exist_ok=True)
    docs = read_docs(corpus)
    random.Random(0).shuffle(docs)
    poetry = 0
    kept = []
    for d in docs:
        if d["source"] == "npm:chinese-poetry":
            poetry += 1
            if poetry > POETRY_CAP:
                continue
        kept.append(d)
    # The cap keeps the first poems, which a single shuffle puts at the front: shuffle again
    # so that every label is both held out and trained on.
    random.Random(1).shuffle(kept)
    held, train_docs = kept[:HELD_OUT], kept[HELD_OUT:]
    models = train(out, train_docs)
    texts = [one_line(d["text"]) for d in held]
    write_jsonl(os.path.join(out, "heldout.jsonl"),
                [{"id": d["id"], "text": t} for d, t in zip(held, texts)])
    write_jsonl(os.path.join(out, "predictions.jsonl"), predictions(models, texts))
    fixture = os.path.join(out, "fixture")
    short = [t[:FIXTURE_CHARS] for t in texts[:FIXTURE_DOCS]]
    write_jsonl(os.path.join(fixture, "heldout.jsonl"),
                [{"id": d["id"], "text": t} for d, t in zip(held, short)])
    write_jsonl(os.path.join(fixture, "predictions.jsonl"), predictions(models, short))
    for name in models:
        shutil.copy(os.path.join(out, name), os.path.join(fixture, name))


if __name__ == "__main__":
    main()
