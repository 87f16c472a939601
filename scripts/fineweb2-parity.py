#!/usr/bin/env python3
"""Reference decisions for the `fineweb2` preset on Chinese: datatrove 0.10.1's filters set up
exactly as FineWeb-2's pipeline (`fineweb-2-pipeline.py`, step 5) sets them up for `cmn_Hani`,
over the Chinese documents (`lang == "zh"`) of the shared corpus slice.

FineWeb-2 runs, in this order and stopping at the first drop:
  GopherRepetitionFilter(language, dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0,
                         dup_line_frac, top_n_grams, dup_n_grams)           # from the config
  FineWebQualityFilter(language, short_line_thr=999, char_duplicates_ratio=0.1,
                       line_punct_thr, new_line_ratio)                      # from the config
  GopherQualityFilter(language, max_avg_word_length, min_avg_word_length, stop_words,
                      max_non_alpha_words_ratio, min_stop_words=2)          # from the config
with `language = "cmn_Hani"`: datatrove splits words with spaCy's `zh` tokenizer on jieba.
The values below are FineWeb-2's `configs/cmn_Hani.yml` (huggingface/fineweb-2, commit
05e6729); `--config` reads another copy of that file instead.

    python3 -m venv /tmp/fw2-venv && /tmp/fw2-venv/bin/pip install "datatrove[processing]==0.10.1" \
        spacy==3.8.18 jieba==0.42.1 zstandard pyyaml
    /tmp/fw2-venv/bin/python scripts/fineweb2-parity.py \
        ../shared/data/corpus/slice100.jsonl.zst /tmp/fw2-cmn-decisions.jsonl \
        --fixture tests/fixtures/filters/fineweb2_cmn_Hani.jsonl

Writes one JSON line per document, {"id", "text", "keep", "filter", "reason"} (`filter`: which
of `gopher_repetition`, `fineweb_quality`, `gopher_quality` dropped it, `reason`: datatrove's
label; both null when kept). `--fixture` also writes 500 of them (documents of at most 1,500
characters, a few of every drop reason first, then by a hash of the id) for the hermetic test.
Compare with
`cargo run --release -p tokenmill-filters --example fineweb2_parity -- /tmp/fw2-cmn-decisions.jsonl`.
"""

import argparse
import collections
import hashlib
import io
import json
import sys
import time

import zstandard
from datatrove.data import Document
from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

LANGUAGE = "cmn_Hani"
# FineWeb-2 configs/cmn_Hani.yml (huggingface/fineweb-2 @ 05e6729567a5df985fbd814e862c48f796feb09f)
CMN_HANI = {
    "dup_line_frac": 0.287,
    "dup_n_grams": [[5, 0.198], [6, 0.182], [7, 0.167], [8, 0.154], [9, 0.14], [10, 0.127]],
    "language_score": 0.692,
    "line_punct_thr": 0.106,
    "max_avg_word_length": 5,
    "max_non_alpha_words_ratio": 0.735,
    "min_avg_word_length": 1,
    "new_line_ratio": 0.178,
    "stopwords": ["的", "年", "在", "月", "是", "和", "日", "了", "於", "·", "為", "有", "被", "人", "中",
                  "为", "他", "與", "後", "也", "而", "由"],
    "top_n_grams": [[2, 0.256], [3, 0.201], [4, 0.171]],
}
FIXTURE_DOCS = 500
FIXTURE_MAX_CHARS = 1500
FIXTURE_PER_REASON = 8


def build_filters(cfg):
    """The three filters of FineWeb-2's step 5, in its order."""
    return [
        ("gopher_repetition", GopherRepetitionFilter(
            language=LANGUAGE, dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0,
            dup_line_frac=cfg["dup_line_frac"], top_n_grams=cfg["top_n_grams"],
            dup_n_grams=cfg["dup_n_grams"])),
        ("fineweb_quality", FineWebQualityFilter(
            language=LANGUAGE, short_line_thr=999, char_duplicates_ratio=0.1,
            line_punct_thr=cfg["line_punct_thr"], new_line_ratio=cfg["new_line_ratio"])),
        ("gopher_quality", GopherQualityFilter(
            language=LANGUAGE, max_avg_word_length=cfg["max_avg_word_length"],
            min_avg_word_length=cfg["min_avg_word_length"], stop_words=cfg["stopwords"],
            max_non_alpha_words_ratio=cfg["max_non_alpha_words_ratio"], min_stop_words=2)),
    ]


def decide(filters, doc_id, text):
    doc = Document(text=text, id=doc_id)
    for name, f in filters:
        try:
            out = f.filter(doc)
        except ZeroDivisionError:
            # FineWebQualityFilter divides by the word count: a text of whitespace and
            # nothing else crashes datatrove; recorded so that the comparison can skip it.
            return {"keep": False, "filter": name, "reason": "error_zero_division"}
        keep, reason = (out, None) if isinstance(out, bool) else out
        if not keep:
            return {"keep": False, "filter": name, "reason": reason}
    return {"keep": True, "filter": None, "reason": None}


def read_docs(path):
    with open(path, "rb") as raw:
        stream = zstandard.ZstdDecompressor().stream_reader(raw) if path.endswith(".zst") else raw
        for line in io.TextIOWrapper(stream, encoding="utf-8"):
            d = json.loads(line)
            if d.get("lang") == "zh":
                yield d["id"], d["text"]


def fixture_subset(rows):
    """A few of every drop reason, then the rest by a hash of the id, short documents only."""
    short = [r for r in rows if len(r["text"]) <= FIXTURE_MAX_CHARS]
    short.sort(key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
    picked, seen, per_reason = [], set(), collections.Counter()
    for r in short:
        if r["reason"] and per_reason[r["reason"]] < FIXTURE_PER_REASON:
            per_reason[r["reason"]] += 1
            picked.append(r)
            seen.add(r["id"])
    for r in short:
        if len(picked) >= FIXTURE_DOCS:
            break
        if r["id"] not in seen:
            picked.append(r)
    return picked


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", help="slice100.jsonl.zst (or .jsonl)")
    ap.add_argument("out", help="per-document decisions, JSON lines")
    ap.add_argument("--config", help="a FineWeb-2 configs/cmn_Hani.yml to use instead")
    ap.add_argument("--fixture", help="also write the test fixture here")
    args = ap.parse_args()
    cfg = CMN_HANI
    if args.config:
        import yaml

        with open(args.config) as f:
            cfg = yaml.safe_load(f)
    filters = build_filters(cfg)
    rows, t0 = [], time.perf_counter()
    for doc_id, text in read_docs(args.corpus):
        rows.append({"id": doc_id, "text": text, **decide(filters, doc_id, text)})
    secs = time.perf_counter() - t0
    with open(args.out, "w", encoding="utf-8") as w:
        for r in rows:
            w.write(json.dumps(r, ensure_ascii=False) + "\n")
    if args.fixture:
        with open(args.fixture, "w", encoding="utf-8") as w:
            for r in fixture_subset(rows):
                w.write(json.dumps(r, ensure_ascii=False) + "\n")
    reasons = collections.Counter(r["reason"] or "kept" for r in rows)
    print(f"{len(rows)} documents in {secs:.1f} s: {dict(reasons.most_common())}", file=sys.stderr)


if __name__ == "__main__":
    main()
