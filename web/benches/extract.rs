//! Extraction and decoding speed on the readability fixture pages.
//!
//! `cargo bench --bench extract`; see also `examples/extract_eval.rs` for pages/second on the
//! full page set side by side with `scripts/bench-web-extract.py`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Read;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenmill_web::encoding::decode_html;
use tokenmill_web::extract::{ExtractOptions, Extractor};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/readability");

fn pages() -> Vec<String> {
    let mut paths: Vec<_> = std::fs::read_dir(FIXTURES)
        .expect("fixtures present")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".source.html.gz"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let mut html = String::new();
            let file = std::fs::File::open(p).expect("fixture opens");
            flate2::read::GzDecoder::new(file).read_to_string(&mut html).expect("gunzip");
            html
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pages = pages();
    let bytes: usize = pages.iter().map(String::len).sum();
    let extractor = Extractor::new(ExtractOptions::default());
    let mut group = c.benchmark_group("extract");
    group.sample_size(10);
    group.throughput(Throughput::Elements(pages.len() as u64));
    group.bench_function("fixture_pages", |b| {
        b.iter(|| pages.iter().filter_map(|p| extractor.extract(black_box(p), None)).count())
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("decode_html_fixture_pages", |b| {
        b.iter(|| {
            pages
                .iter()
                .map(|p| decode_html(black_box(p.as_bytes()), None).text.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
