//! Signature throughput in MB/s of input text (criterion, bytes throughput).
//!
//! Input: the first ~4 MB of the near-duplicate fixture (English web-like text). Compared in
//! the same run:
//! - `minhash/112` and `minhash/256`: this crate's [`MinHasher`] (XXH3 shingles, multiply-add
//!   permutations mod 2^64), FineWeb's 112 permutations and a 256-permutation variant;
//! - `mersenne_baseline/112`: the same shingles with datasketch's/datatrove's permutation
//!   scheme, `(a*x + b) mod (2^61 - 1)` per permutation (128-bit multiply and reduction),
//!   to show what the cheaper family buys. datasketch itself (Python, SHA-1 shingle hashes,
//!   NumPy permutations) is far slower again;
//! - `exact_hash`: normalization + XXH3-128 for exact dedup.
//!
//! Run: `cargo bench -p tokenmill-dedup --bench signatures` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::io::BufRead;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenmill_dedup::normalize::for_each_word;
use tokenmill_dedup::{ExactHasher, MinHashConfig, MinHasher, NormalizeOptions};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

fn corpus() -> Vec<String> {
    // NEARDUP_DOCS overrides the path (to run a prebuilt bench binary elsewhere).
    let path =
        std::env::var_os("NEARDUP_DOCS").map(std::path::PathBuf::from).unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/neardup/docs.jsonl.zst")
        });
    let file = std::fs::File::open(path).expect("fixture");
    let reader = std::io::BufReader::new(zstd::Decoder::new(file).expect("zstd"));
    let mut docs = Vec::new();
    let mut bytes = 0;
    for line in reader.lines() {
        let v: serde_json::Value = serde_json::from_str(&line.expect("line")).expect("json");
        let text = v["text"].as_str().expect("text").to_string();
        bytes += text.len();
        docs.push(text);
        if bytes > 4 << 20 {
            break;
        }
    }
    docs
}

/// datasketch/datatrove-style permutations: `(a*x + b) mod (2^61 - 1)`.
struct MersenneBaseline {
    a: Vec<u64>,
    b: Vec<u64>,
}

const MERSENNE: u64 = (1 << 61) - 1;

impl MersenneBaseline {
    fn new(k: usize) -> Self {
        let mut s = 1u64;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s >> 3
        };
        MersenneBaseline {
            a: (0..k).map(|_| next() % (MERSENNE - 1) + 1).collect(),
            b: (0..k).map(|_| next() % MERSENNE).collect(),
        }
    }

    fn signature(&self, text: &str) -> Vec<u64> {
        let mut words = Vec::new();
        let mut buf = String::new();
        for_each_word(text, &mut buf, |w| words.push(xxh3_64(w.as_bytes())));
        let mut sig = vec![u64::MAX; self.a.len()];
        let mut bytes = [0u8; 40];
        for win in words.windows(5) {
            for (c, w) in bytes.chunks_exact_mut(8).zip(win) {
                c.copy_from_slice(&w.to_le_bytes());
            }
            let x = xxh3_64_with_seed(&bytes, 5) & MERSENNE;
            for ((s, &a), &b) in sig.iter_mut().zip(&self.a).zip(&self.b) {
                let v =
                    ((u128::from(a) * u128::from(x) + u128::from(b)) % u128::from(MERSENNE)) as u64;
                *s = (*s).min(v);
            }
        }
        sig
    }
}

fn bench(c: &mut Criterion) {
    let docs = corpus();
    let bytes: usize = docs.iter().map(String::len).sum();
    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    for k in [1usize, 112, 256] {
        let (bands, rows) = if k == 1 { (1, 1) } else { (14, 8) };
        let h =
            MinHasher::new(MinHashConfig { num_perm: k, bands, rows, ..MinHashConfig::default() })
                .expect("config");
        g.bench_function(format!("minhash/{k}"), |b| {
            b.iter(|| docs.iter().map(|d| h.signature(d)[0]).fold(0, u64::wrapping_add))
        });
    }
    let base = MersenneBaseline::new(112);
    g.bench_function("mersenne_baseline/112", |b| {
        b.iter(|| docs.iter().map(|d| base.signature(d)[0]).fold(0, u64::wrapping_add))
    });
    let mut ex = ExactHasher::new(NormalizeOptions::default());
    g.bench_function("exact_hash", |b| {
        b.iter(|| docs.iter().map(|d| ex.hash(black_box(d))).fold(0, u128::wrapping_add))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
