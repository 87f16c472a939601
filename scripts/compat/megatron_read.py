#!/usr/bin/env python3
"""Reads a tokenmill dataset with megatron-core's own IndexedDataset and checks every document.

Usage: megatron_read.py DATASET_DIR [--expected FILE.json] [--numpy-only]

For each shard listed in DATASET_DIR/manifest.json:
  * megatron.core.datasets.indexed_dataset.IndexedDataset(prefix) must open it, with the
    manifest's dtype, document count and document_indices 0..S;
  * every sequence ds[i] must equal an independent numpy reading of our format (the
    byte-by-byte spec in shards/src/format.rs) and, with --expected (default
    DATASET_DIR/expected.json when present), the JSON list of documents; ds.get(i, offset,
    length) is checked on an inner slice;
  * megatron's IndexedDatasetBuilder, given the same documents, must write byte-identical
    .bin and .idx files.
Prints 'N passed, M failed' and exits non-zero on any failure (or if nothing was checked).
--numpy-only skips megatron (for machines without its venv) and checks numpy against JSON.
"""

import argparse
import json
import os
import struct
import sys
import tempfile

import numpy as np

DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}


def read_idx(path):
    """Parses an .idx per shards/src/format.rs: header, lengths, pointers, document indices."""
    with open(path, "rb") as f:
        data = f.read()
    magic, version, code, s, d = struct.unpack_from("<9sQBQQ", data, 0)
    assert magic == b"MMIDIDX\x00\x00", f"{path}: bad magic {magic!r}"
    assert version == 1, f"{path}: version {version}"
    assert len(data) == 34 + 12 * s + 8 * d, f"{path}: size {len(data)} != 34 + 12*{s} + 8*{d}"
    lengths = np.frombuffer(data, dtype="<i4", count=s, offset=34)
    pointers = np.frombuffer(data, dtype="<i8", count=s, offset=34 + 4 * s)
    docs = np.frombuffer(data, dtype="<i8", count=d, offset=34 + 12 * s)
    return np.dtype(DTYPES[code]).newbyteorder("<"), lengths, pointers, docs


class Tally:
    def __init__(self):
        self.passed, self.failed = 0, 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            if self.failed <= 20:
                print(f"FAIL: {what}", file=sys.stderr)


def check_shard(prefix, manifest, expected, tally, use_megatron):
    dtype, lengths, pointers, doc_indices = read_idx(prefix + ".idx")
    tally.check(dtype.name == manifest["dtype"], f"{prefix}: idx dtype {dtype.name} != manifest {manifest['dtype']}")
    tally.check(np.array_equal(doc_indices, np.arange(len(lengths) + 1)), f"{prefix}: document indices are not 0..S")
    bin_data = np.fromfile(prefix + ".bin", dtype=dtype)
    ours = [bin_data[p // dtype.itemsize : p // dtype.itemsize + n] for p, n in zip(pointers, lengths)]
    if expected is not None:
        for i, doc in enumerate(ours):
            tally.check(i < len(expected) and doc.tolist() == expected[i], f"{prefix}: numpy sequence {i} != expected.json")
    if not use_megatron:
        return
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder

    ds = IndexedDataset(prefix)
    tally.check(len(ds) == len(ours), f"{prefix}: megatron sees {len(ds)} sequences, expected {len(ours)}")
    tally.check(np.dtype(ds.index.dtype) == dtype, f"{prefix}: megatron dtype {ds.index.dtype}")
    tally.check(np.array_equal(ds.document_indices, doc_indices), f"{prefix}: megatron document_indices differ")
    tally.check(np.array_equal(ds.sequence_lengths, lengths), f"{prefix}: megatron sequence_lengths differ")
    for i, doc in enumerate(ours):
        got = ds[i]
        ok = np.array_equal(got, doc) and (expected is None or got.tolist() == expected[i])
        if ok and len(doc) >= 3:
            ok = np.array_equal(ds.get(i, offset=1, length=len(doc) - 2), doc[1:-1])
        tally.check(ok, f"{prefix}: megatron sequence {i} differs")
    # Megatron's own writer, fed the same documents, must produce the same bytes.
    with tempfile.TemporaryDirectory() as tmp:
        rebuilt = os.path.join(tmp, "rebuilt")
        builder = IndexedDatasetBuilder(rebuilt + ".bin", dtype=dtype.type)
        for doc in ours:
            builder.add_document(torch.from_numpy(doc.astype(np.int64)), [len(doc)])
        builder.finalize(rebuilt + ".idx")
        for ext in (".bin", ".idx"):
            with open(prefix + ext, "rb") as a, open(rebuilt + ext, "rb") as b:
                tally.check(a.read() == b.read(), f"{prefix}{ext}: differs from megatron IndexedDatasetBuilder output")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset_dir")
    ap.add_argument("--expected", help="JSON list of documents (default: DATASET_DIR/expected.json if present)")
    ap.add_argument("--numpy-only", action="store_true", help="skip megatron-core; check numpy against JSON")
    args = ap.parse_args()
    with open(os.path.join(args.dataset_dir, "manifest.json")) as f:
        manifest = json.load(f)
    expected_path = args.expected or os.path.join(args.dataset_dir, "expected.json")
    expected = None
    if os.path.exists(expected_path):
        with open(expected_path) as f:
            expected = json.load(f)
    tally = Tally()
    first = 0
    for shard in manifest["shards"]:
        n = shard["documents"]
        part = expected[first : first + n] if expected is not None else None
        check_shard(os.path.join(args.dataset_dir, shard["name"]), manifest, part, tally, not args.numpy_only)
        first += n
    if expected is not None:
        tally.check(first == len(expected), f"manifest lists {first} documents, expected.json has {len(expected)}")
    reader = "numpy" if args.numpy_only else "megatron-core IndexedDataset"
    print(f"{args.dataset_dir} ({reader}): {manifest['documents']} documents in {len(manifest['shards'])} shards")
    print(f"{tally.passed} passed, {tally.failed} failed")
    sys.exit(1 if tally.failed or not tally.passed else 0)


if __name__ == "__main__":
    main()
