//! Encoding throughput of the byte-level BPE fast path against the `tokenizers` crate
//! (`Tokenizer::reference_encode`) on the same documents: one thread (`corpus`), all threads of
//! rayon's pool in batches of 1,000 documents as `../shared/bench/bench_hf_tokenizers.py` calls
//! `encode_batch` (`corpus_all_threads`), and 10 MB inputs without spaces (`long_no_spaces`);
//! then the modern tokenizers on one thread (`modern/NAME/{all,en,zh}`: Qwen3 from the
//! fixtures, Llama 3 from `../shared` when there), on the same documents and on the English and
//! the Chinese ones alone (`lang`), and on 1 and 10 MB of Chinese without spaces
//! (`modern/NAME/long_zh_{1,10}MB`); and a
//! Unigram tokenizer (the T5 / XLM-R model kind, 8,000 pieces with a `Metaspace`
//! pre-tokenizer, trained on the sample corpus here), which runs on the reference path
//! (`unigram/reference`).
//!
//! ```text
//! cargo bench -p tokenmill-tokenize --bench encode
//! TOKENMILL_BENCH_MB=5 cargo bench -p tokenmill-tokenize --bench encode -- corpus
//! TOKENMILL_BENCH_MB=20 taskset -c 0 cargo bench -p tokenmill-tokenize --bench encode -- modern
//! ```
//!
//! Input: the first `TOKENMILL_BENCH_MB` (default 20) MB of text of the shared corpus slice
//! (`../shared/data/corpus/slice100.jsonl.zst`, the file the peer baselines in
//! `../shared/bench/` read), or of `data/sample` when the slice is absent. The tokenizer is
//! GPT-2, as for the peers. Throughput is text bytes; the setup prints tokens per byte, so
//! tokens/s = bytes/s × that ratio.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenmill_tokenize::Tokenizer;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Size of each long input without spaces: the issue's 10 MB document.
const LONG_BYTES: usize = 10_000_000;

fn corpus_files() -> Vec<PathBuf> {
    let slice = Path::new(ROOT).join("../shared/data/corpus/slice100.jsonl.zst");
    if slice.exists() {
        return vec![slice];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("data/sample"))
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.to_string_lossy().ends_with(".jsonl.zst"));
    files.sort();
    files
}

/// Whole documents, in file order, until `limit` bytes of text.
fn documents(limit: usize) -> Vec<String> {
    documents_where(limit, |_| true)
}

/// Whole documents whose JSON `keep` accepts, in file order, until `limit` bytes of text.
fn documents_where(limit: usize, keep: impl Fn(&serde_json::Value) -> bool) -> Vec<String> {
    let mut docs = Vec::new();
    let mut bytes = 0;
    for path in corpus_files() {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reader = BufReader::new(
            zstd::Decoder::new(file).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        );
        for line in reader.lines() {
            let line = line.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let value: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let Some(text) = value["text"].as_str().filter(|_| keep(&value)) else { continue };
            bytes += text.len();
            docs.push(text.to_owned());
            if bytes >= limit {
                return docs;
            }
        }
    }
    docs
}

fn gpt2() -> Tokenizer {
    let path = Path::new(ROOT).join("tests/fixtures/tokenizers/gpt2.json");
    Tokenizer::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn encode_all(docs: &[String], encode: impl Fn(&str) -> Vec<u32>) -> usize {
    docs.iter().map(|doc| encode(doc).len()).sum()
}

fn corpus(c: &mut Criterion) {
    let mb: usize =
        std::env::var("TOKENMILL_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let docs = documents(mb * 1_000_000);
    let bytes: usize = docs.iter().map(String::len).sum();
    let tok = gpt2();
    assert!(tok.has_fast_path(), "GPT-2 is byte-level BPE");
    let fast = |t: &str| tok.encode(t).unwrap_or_else(|e| panic!("{e}"));
    let reference = |t: &str| tok.reference_encode(t).unwrap_or_else(|e| panic!("{e}"));
    let tokens = encode_all(&docs, fast);
    assert_eq!(tokens, encode_all(&docs, reference), "same ids, so same count");
    eprintln!(
        "corpus: {} docs, {bytes} bytes, {tokens} tokens, {:.4} tokens/byte",
        docs.len(),
        tokens as f64 / bytes as f64
    );

    let mut group = c.benchmark_group("corpus");
    group
        .throughput(Throughput::Bytes(bytes as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("fast", |b| b.iter(|| black_box(encode_all(&docs, fast))));
    group.bench_function("reference", |b| b.iter(|| black_box(encode_all(&docs, reference))));
    group.finish();

    // The reference batch goes through `tokenizers` one text at a time on the same pool.
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let batches =
        |encode: &(dyn Fn(&[&str]) -> usize + Sync)| refs.chunks(1000).map(encode).sum::<usize>();
    let fast_batch = |chunk: &[&str]| {
        tok.encode_batch(chunk).unwrap_or_else(|e| panic!("{e}")).iter().map(Vec::len).sum()
    };
    let reference_batch = |chunk: &[&str]| {
        use rayon::prelude::*;
        chunk.par_iter().map(|t| reference(t).len()).sum()
    };
    let mut group =
        c.benchmark_group(format!("corpus_all_threads/{}", rayon::current_num_threads()));
    group
        .throughput(Throughput::Bytes(bytes as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("fast", |b| b.iter(|| black_box(batches(&fast_batch))));
    group.bench_function("reference", |b| b.iter(|| black_box(batches(&reference_batch))));
    group.finish();
}

/// Ten MB that are one GPT-2 pre-token each (Chinese), or many short ones (minified code).
fn long(c: &mut Criterion) {
    let chinese: String = "我们在北京吃了烤鸭味道非常好東京タワーは日本の電波塔です"
        .chars()
        .cycle()
        .take(LONG_BYTES / 3)
        .collect();
    let minified = "function(a,b){return a.map(function(c){return c*2+b})};var x=[1,2,3];"
        .repeat(LONG_BYTES / 71);
    let tok = gpt2();
    let mut group = c.benchmark_group("long_no_spaces");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    for (name, text) in [("chinese_10MB", &chinese), ("minified_10MB", &minified)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("{name}/fast"), |b| {
            b.iter(|| black_box(tok.encode(text).map(|ids| ids.len())))
        });
    }
    group.finish();
}

/// The modern tokenizers available here: Qwen3 (fixture) and Llama 3 (`../shared`, if there).
fn modern_tokenizers() -> Vec<(&'static str, Tokenizer)> {
    let qwen3 = zstd::decode_all(
        File::open(Path::new(ROOT).join("tests/fixtures/tokenizers/qwen3.json.zst"))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut all = vec![("qwen3", Tokenizer::from_bytes(&qwen3).unwrap_or_else(|e| panic!("{e}")))];
    let llama3 = Path::new(ROOT).join("../shared/data/tokenizers/llama3.json");
    if llama3.exists() {
        all.push(("llama3", Tokenizer::from_file(&llama3).unwrap_or_else(|e| panic!("{e}"))));
    }
    all
}

fn modern(c: &mut Criterion) {
    let mb: usize =
        std::env::var("TOKENMILL_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let all = documents(mb * 1_000_000);
    let en = documents_where(mb * 1_000_000 / 4, |value| value["lang"].as_str() == Some("en"));
    let zh = documents_where(mb * 1_000_000 / 4, |value| value["lang"].as_str() == Some("zh"));
    let long_zh: String = "我们在北京吃了烤鸭味道非常好東京タワーは日本の電波塔です"
        .chars()
        .cycle()
        .take(LONG_BYTES / 3)
        .collect();
    let long_zh_1mb: String = long_zh.chars().take(LONG_BYTES / 30).collect();
    for (name, tok) in modern_tokenizers() {
        eprintln!("{name}: {}", tok.encode_path());
        let fast = |t: &str| tok.encode(t).unwrap_or_else(|e| panic!("{e}"));
        let mut group = c.benchmark_group(format!("modern/{name}"));
        group.sample_size(10).warm_up_time(Duration::from_secs(1));
        for (set, docs) in [("all", &all), ("en", &en), ("zh", &zh)] {
            let bytes: usize = docs.iter().map(String::len).sum();
            let tokens = encode_all(docs, fast);
            eprintln!(
                "{name}/{set}: {} docs, {bytes} bytes, {tokens} tokens, {:.3} bytes/token",
                docs.len(),
                bytes as f64 / tokens as f64
            );
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function(set, |b| b.iter(|| black_box(encode_all(docs, fast))));
        }
        // One piece of 1 MB and of 10 MB: per-byte speed that stays put shows linear time.
        for (label, text) in [("long_zh_1MB", &long_zh_1mb), ("long_zh_10MB", &long_zh)] {
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_function(label, |b| b.iter(|| black_box(fast(text).len())));
        }
        group.finish();
    }
}

/// A Unigram model trained on the sample corpus, as T5 and XLM-R use (always the reference path).
fn unigram_tokenizer() -> Tokenizer {
    use tokenizers::models::TrainerWrapper;
    use tokenizers::models::unigram::{Unigram, UnigramTrainerBuilder};
    use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
    let mut trainer: TrainerWrapper = UnigramTrainerBuilder::default()
        .vocab_size(8_000)
        .special_tokens(vec![
            tokenizers::AddedToken::from("<unk>", true),
            tokenizers::AddedToken::from("</s>", true),
        ])
        .unk_token(Some("<unk>".into()))
        .show_progress(false)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .into();
    let mut inner = tokenizers::Tokenizer::new(Unigram::default());
    inner.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
    let sample: Vec<String> = documents(5_000_000);
    inner.train(&mut trainer, sample.into_iter()).unwrap_or_else(|e| panic!("{e}"));
    Tokenizer::from_bytes(inner.to_string(false).unwrap_or_else(|e| panic!("{e}")).as_bytes())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn unigram(c: &mut Criterion) {
    let mb: usize =
        std::env::var("TOKENMILL_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let docs = documents(mb * 1_000_000);
    let bytes: usize = docs.iter().map(String::len).sum();
    let mut group = c.benchmark_group("unigram");
    group
        .throughput(Throughput::Bytes(bytes as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    // Trained only when this bench is selected (criterion filters calls, not setup).
    let mut tok: Option<Tokenizer> = None;
    group.bench_function("reference", |b| {
        let tok = tok.get_or_insert_with(|| {
            let tok = unigram_tokenizer();
            eprintln!("unigram: {}", tok.encode_path());
            tok
        });
        b.iter(|| {
            black_box(encode_all(&docs, |t| tok.encode(t).unwrap_or_else(|e| panic!("{e}"))))
        });
    });
    group.finish();
}

criterion_group!(benches, corpus, long, modern, unigram);
criterion_main!(benches);
