//! Reading JSONL.zst: decompression alone (the floor) against decompress + cut into lines +
//! parse into documents, per core, on the same file in the same run.
//!
//! Input: `TOKENMILL_BENCH_JSONL` if set, else the shared 100 MB slice when present, else the
//! repo's sample corpus. Throughput is in uncompressed bytes.

use std::io::Read;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenmill::config::FileSourceSpec;
use tokenmill::source::{self, ChunkLimits};
use tokenmill::storage::{InputFile, Place};

fn input() -> PathBuf {
    if let Ok(p) = std::env::var("TOKENMILL_BENCH_JSONL") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = root.join("../shared/data/corpus/slice100.jsonl.zst");
    if shared.exists() { shared } else { root.join("data/sample/sample-00.jsonl.zst") }
}

fn bench(c: &mut Criterion) {
    let path = input();
    let raw = std::fs::read(&path).expect("bench input");
    let plain = zstd::decode_all(&raw[..]).expect("zstd input");
    let file = InputFile {
        url: path.display().to_string(),
        size: raw.len() as u64,
        place: Place::Local(path.clone()),
        version: None,
        span: None,
    };
    let spec =
        FileSourceSpec { id_field: Some("id".into()), ..FileSourceSpec::new("bench", vec![]) };
    let limits = ChunkLimits { docs: 1024, bytes: 8 << 20, max_record: 64 << 20 };
    let mut group = c.benchmark_group("read_jsonl_zst");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(plain.len() as u64));
    group.bench_function("baseline_zstd_decompress_only", |b| {
        b.iter(|| {
            let mut d = zstd::stream::read::Decoder::new(std::fs::File::open(&path).expect("open"))
                .expect("decoder");
            let mut buf = vec![0u8; 1 << 20];
            let mut n = 0usize;
            loop {
                let k = d.read(&mut buf).expect("read");
                if k == 0 {
                    break n;
                }
                n += k;
            }
        })
    });
    group.bench_function("tokenmill_read_and_parse", |b| {
        b.iter(|| {
            let mut docs = 0usize;
            source::read_file(0, &spec, source::Format::Jsonl, &file, limits, &mut |chunk| {
                let (d, _) = source::parse_chunk(&spec, chunk);
                docs += d.len();
                true
            });
            docs
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
