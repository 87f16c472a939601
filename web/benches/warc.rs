//! WARC reading throughput on a synthetic ~50 MB file built from the Common Crawl sample's
//! records (one gzip member per record, as Common Crawl writes them).
//!
//! `cargo bench --bench warc`; throughput is in decompressed bytes.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::{Read, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenmill_web::warc::{WarcOptions, WarcReader, open_warc_reader};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/web/commoncrawl-sample.warc.gz");
const TARGET_BYTES: usize = 50 << 20;

/// The decompressed sample's records, each as its own byte string.
fn sample_records() -> Vec<Vec<u8>> {
    let raw = std::fs::read(SAMPLE).expect("sample present");
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut plain).expect("gunzip");
    let starts: Vec<usize> = (0..plain.len())
        .filter(|&i| {
            plain[i..].starts_with(b"WARC/1.0\r\n") && (i == 0 || plain[..i].ends_with(b"\r\n\r\n"))
        })
        .collect();
    starts
        .iter()
        .zip(starts.iter().skip(1).chain([&plain.len()]))
        .map(|(&a, &b)| plain[a..b].to_vec())
        .collect()
}

fn build() -> (Vec<u8>, Vec<u8>) {
    let records = sample_records();
    let (mut plain, mut gz) = (Vec::new(), Vec::new());
    while plain.len() < TARGET_BYTES {
        for record in &records {
            plain.extend_from_slice(record);
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(record).expect("in-memory write");
            gz.extend(enc.finish().expect("in-memory write"));
        }
    }
    (plain, gz)
}

fn count(
    reader: impl Iterator<Item = tokenmill_web::Result<tokenmill_web::warc::Record>>,
) -> usize {
    reader.map(|r| r.map_or(0, |r| r.payload.len())).sum()
}

fn bench(c: &mut Criterion) {
    let (plain, gz) = build();
    // The reader owns its source ('static); leaking the bench input once is fine.
    let gz: &'static [u8] = Box::leak(gz.into_boxed_slice());
    let mut group = c.benchmark_group("warc");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(plain.len() as u64));
    group.bench_function("gz_member_per_record/responses", |b| {
        b.iter(|| {
            let cursor = std::io::Cursor::new(gz);
            let reader = open_warc_reader(cursor, "bench.warc.gz", WarcOptions::default());
            black_box(count(reader.expect("in-memory open")))
        })
    });
    group.bench_function("gz_member_per_record/all_records", |b| {
        b.iter(|| {
            let cursor = std::io::Cursor::new(gz);
            let reader = open_warc_reader(cursor, "bench.warc.gz", WarcOptions::all());
            black_box(count(reader.expect("in-memory open")))
        })
    });
    group.bench_function("gunzip_only_multigz", |b| {
        b.iter(|| {
            let mut decoder = flate2::read::MultiGzDecoder::new(gz);
            black_box(std::io::copy(&mut decoder, &mut std::io::sink()).expect("gunzip"))
        })
    });
    group.bench_function("plain/all_records", |b| {
        b.iter(|| black_box(count(WarcReader::new(&plain[..], WarcOptions::all()))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
