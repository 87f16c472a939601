#!/usr/bin/env python3
"""Baseline for tokenmill-web's extractor: trafilatura's F1 and speed on the readability pages.

Usage: python3 scripts/bench-web-extract.py [PAGES_DIR]

Creates (once) a venv at /tmp/tm-web-venv with trafilatura 2.x from PyPI, then re-runs itself
inside it. For each page, `source.html` is extracted and compared with the text of
`expected.html` (tags stripped, entities decoded) as bags of whitespace-separated tokens
(str.split): per-page precision, recall and F1, averaged over pages. A page where the extractor
returns nothing scores 0 unless the expected text is empty too. The same metric is computed by
`cargo run --release --example extract_eval`.

Pages are split deterministically by sorted name: the first half (tuning set) and the second
half (held out). Speed is pages/second of the extraction call alone, one process, one core.
"""

import os
import subprocess
import sys
import time
from collections import Counter
from html.parser import HTMLParser

VENV = "/tmp/tm-web-venv"
DEFAULT_PAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "web", "readability-pages")
# Tags whose boundaries separate words; must match BLOCK_TAGS in examples/extract_eval.rs.
BLOCK_TAGS = set(
    "address article aside blockquote br caption center dd details dialog div dl dt fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 header hr img li main nav ol p pre section table "
    "summary tbody td tfoot th thead tr ul".split()
)
SKIP_TAGS = {"script", "style", "noscript", "template"}


def ensure_venv():
    if sys.prefix == VENV:
        return
    if not os.path.exists(os.path.join(VENV, "bin", "python")):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([os.path.join(VENV, "bin", "pip"), "install", "-q", "trafilatura==2.*", "lxml_html_clean"])
    os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python")] + sys.argv)


class TextOf(HTMLParser):
    """All text of a document; block tags separate words, inline tags do not."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_TAGS:
            self.skip += 1
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS and self.skip:
            self.skip -= 1
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def text_of(html):
    parser = TextOf()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def score(got, expected):
    """(precision, recall, f1) of two texts as bags of whitespace tokens."""
    exp = Counter(expected.split())
    if got is None:
        return (1.0, 1.0, 1.0) if not exp else (0.0, 0.0, 0.0)
    out = Counter(got.split())
    if not exp and not out:
        return 1.0, 1.0, 1.0
    common = sum((out & exp).values())
    p = common / sum(out.values()) if out else 0.0
    r = common / sum(exp.values()) if exp else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main():
    ensure_venv()
    import trafilatura

    pages_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PAGES
    names = sorted(n for n in os.listdir(pages_dir) if os.path.isdir(os.path.join(pages_dir, n)))
    pages = []
    for name in names:
        with open(os.path.join(pages_dir, name, "source.html"), encoding="utf-8", errors="replace") as f:
            source = f.read()
        with open(os.path.join(pages_dir, name, "expected.html"), encoding="utf-8", errors="replace") as f:
            expected = text_of(f.read())
        pages.append((name, source, expected))
    half = len(pages) // 2
    print(f"trafilatura {trafilatura.__version__}; {len(pages)} pages; first half = {half} pages; "
          f"expected tokens = {sum(len(e.split()) for _, _, e in pages)}")
    configs = {
        "defaults (favor_precision=False)": dict(include_comments=False, include_tables=True, favor_precision=False),
        "FineWeb/datatrove (favor_precision=True, deduplicate=True)": dict(
            include_comments=False, include_tables=True, favor_precision=True, deduplicate=True),
    }
    for label, kwargs in configs.items():
        scores, elapsed = [], 0.0
        for name, source, expected in pages:
            start = time.perf_counter()
            got = trafilatura.extract(source, **kwargs)
            elapsed += time.perf_counter() - start
            scores.append(score(got, expected))
            if os.environ.get("VERBOSE"):
                print(f"  {name:40} F1 {scores[-1][2]:.3f}")
        avg = lambda xs, i: sum(x[i] for x in xs) / len(xs)
        print(f"[{label}]")
        for part, subset in (("all", scores), ("first half", scores[:half]), ("second half", scores[half:])):
            print(f"  {part:12} P {avg(subset, 0):.4f}  R {avg(subset, 1):.4f}  F1 {avg(subset, 2):.4f}")
        print(f"  speed: {len(pages) / elapsed:.1f} pages/s ({elapsed:.2f} s for {len(pages)} pages)")


if __name__ == "__main__":
    main()
