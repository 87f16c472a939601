//! Throughput of shard writing, reading and of the out-of-core shuffle, in bytes of token data per
//! second on one core, beside a baseline: the same bytes written with one `write_all` and an
//! fsync (what the storage allows). Each runs twice: on the default temporary directory
//! (`disk`: fsync waits for the device) and, where it exists, on `/dev/shm` (`tmpfs`: fsync
//! is free, so the figure is the CPU cost per core).
//!
//! `cargo bench -p tokenmill-shards -- --quick`

use std::fs::{self, File};
use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenmill_shards::{
    DType, FORMAT_MEGATRON, FORMAT_VERSION, IndexedDataset, Manifest, ShardSetWriter, ShardTarget,
    SplitMix64, shuffle_dataset,
};

/// Tokens per benchmark run: 32 MiB of `uint16`.
const TOKENS: usize = 16 << 20;
/// Shards of 8 MiB, so rollover is exercised.
const TARGET: ShardTarget = ShardTarget { max_tokens: None, max_bytes: Some(8 << 20) };
/// A shuffle budget of 8 MiB: the document keys of 32 MiB (8,266 documents, 24 bytes each)
/// are sorted in memory.
const BUDGET: u64 = 8 << 20;
/// A shuffle budget of 52 KiB: the keys spill into 8 buckets on disk.
const SPILL_BUDGET: u64 = 52 << 10;

/// Documents of 1 to 4,096 tokens (about 2,000 on average) below 50,257, ending in EOS.
fn documents() -> Vec<Vec<u32>> {
    let mut rng = SplitMix64::new(1);
    let mut docs = Vec::new();
    let mut total = 0;
    while total < TOKENS {
        let len = 1 + (rng.next_u64() % 4096) as usize;
        let mut doc: Vec<u32> = (0..len).map(|_| (rng.next_u64() % 50_256) as u32).collect();
        doc.push(50_256);
        total += doc.len();
        docs.push(doc);
    }
    docs
}

fn write_set(dir: &Path, docs: &[Vec<u32>]) -> Manifest {
    let mut set = ShardSetWriter::new(dir, "train", DType::U16, TARGET).expect("new set");
    for doc in docs {
        set.add_document(doc).expect("add");
    }
    let shards = set.finish().expect("finish");
    Manifest {
        format: FORMAT_MEGATRON.into(),
        format_version: FORMAT_VERSION,
        tool_version: "bench".into(),
        dtype: "uint16".into(),
        vocab_size: 50_257,
        eos_id: Some(50_256),
        bos_id: None,
        tokenizer_hash: "bench".into(),
        tokenizer_encode_path: None,
        config_hash: "bench".into(),
        inputs: Vec::new(),
        documents: shards.iter().map(|s| s.documents).sum(),
        tokens: shards.iter().map(|s| s.tokens).sum(),
        shards,
    }
}

fn bench(c: &mut Criterion) {
    let docs = documents();
    let shm = Path::new("/dev/shm");
    let mut roots = vec![("disk", tempfile::tempdir().expect("tempdir"))];
    if shm.is_dir() {
        roots.push(("tmpfs", tempfile::tempdir_in(shm).expect("tempdir in /dev/shm")));
    }
    for (name, root) in &roots {
        bench_on(c, name, root.path(), &docs);
    }
}

fn bench_on(c: &mut Criterion, name: &str, root: &Path, docs: &[Vec<u32>]) {
    let bytes: u64 = docs.iter().map(|d| 2 * d.len() as u64).sum();
    let mut group = c.benchmark_group(format!("shards_{name}"));
    group.sample_size(10).throughput(Throughput::Bytes(bytes));

    let raw: Vec<u8> = docs.iter().flatten().flat_map(|&t| (t as u16).to_le_bytes()).collect();
    group.bench_function("baseline_write_all_fsync", |b| {
        b.iter(|| {
            let path = root.join("raw.bin");
            let mut f = File::create(&path).expect("create");
            f.write_all(black_box(&raw)).expect("write");
            f.sync_all().expect("fsync");
        })
    });

    group.bench_function("shard_set_writer_uint16", |b| {
        b.iter(|| {
            let dir = root.join("write");
            black_box(write_set(&dir, docs));
            fs::remove_dir_all(&dir).expect("clean");
        })
    });

    let input = root.join("input");
    let manifest = write_set(&input, docs);
    manifest.write(&input).expect("manifest");
    // Opening (which validates each index) and every document's checked bytes, in order.
    group.bench_function("read_dataset_uint16", |b| {
        b.iter(|| {
            let mut total = 0;
            for shard in &manifest.shards {
                let ds = IndexedDataset::open(&input.join(&shard.name)).expect("open");
                for j in 0..ds.num_documents() {
                    let seqs = ds.document_sequences(j).expect("document");
                    total += ds.get_checked_bytes(seqs.start).expect("bytes").len();
                }
            }
            black_box(total)
        })
    });
    for (id, budget) in [
        ("shuffle_dataset_uint16_in_memory", BUDGET),
        ("shuffle_dataset_uint16_8_buckets", SPILL_BUDGET),
    ] {
        group.bench_function(id, |b| {
            let mut seed = 0;
            b.iter(|| {
                seed += 1;
                let out = root.join("shuffled");
                black_box(
                    shuffle_dataset(&input, &out, "train", seed, budget, TARGET).expect("shuffle"),
                );
                fs::remove_dir_all(&out).expect("clean");
            })
        });
    }
    group.finish();
    let _ = fs::remove_dir_all(&input);
}

criterion_group!(benches, bench);
criterion_main!(benches);
