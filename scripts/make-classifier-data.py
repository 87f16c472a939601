#!/usr/bin/env python3
"""Labels the sample corpus by the kind of its source package, for the shipped classifier.

    python3 scripts/make-classifier-data.py data/sample out/classifier/source-types.jsonl

Labels (from each document's `source` field, nothing else):
  documentation  Debian manuals, help pages, handbooks and man pages (deb:*-doc, *-help*, ...)
  other          poetry, fortunes, Bible texts, dictionaries, speeches, spam e-mails
Documents of other sources are left out. So the model tells technical documentation from
everything else; it is a stand-in for a real quality model, not one. Needs the `zstd` command.
"""
import json, pathlib, subprocess, sys

def label(source: str):
    if any(k in source for k in ("-doc", "-help", "handbook", "manpages", "docs")):
        return "documentation"
    if any(k in source for k in ("spam", "poetry", "fortunes", "sword-", "dict-", "brown", "sotu")):
        return "other"
    return None

src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.parent.mkdir(parents=True, exist_ok=True)
counts = {}
with out.open("w") as f:
    for path in sorted(src.glob("*.jsonl.zst")):
        text = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout.decode()
        for line in text.splitlines():
            d = json.loads(line)
            l = label(d.get("source", ""))
            if l:
                counts[l] = counts.get(l, 0) + 1
                f.write(json.dumps({"id": d["id"], "text": d["text"], "label": l}, ensure_ascii=False) + "\n")
print(json.dumps(counts))
