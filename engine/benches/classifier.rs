//! The fastText model's math on feature ids (`Bag`): scoring and training throughput, one core.
//! Tokenization and hashing are `tokenmill_filters::fasttext`'s and are measured with it
//! (`fasttext_classifier`, BENCHMARKS.md "fastText classifiers").
//!
//! `CARGO_TARGET_DIR=... cargo bench -p tokenmill-engine --bench classifier`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenmill_engine::classifier::{Bag, BagConfig};
use tokenmill_engine::rng::Rng;

/// 4,000 bags of 660 rows (what a ~2 KB document with word bigrams gives), label-dependent.
fn corpus(rows: usize) -> Vec<(Vec<u32>, u32)> {
    let mut rng = Rng::new(1);
    (0..4000)
        .map(|_| {
            let label = rng.below(2);
            let bag = (0..660).map(|_| (rng.below(rows / 2) + label * rows / 2) as u32).collect();
            (bag, label as u32)
        })
        .collect()
}

fn bag(c: &mut Criterion) {
    let rows = 1 << 18;
    let data = corpus(rows);
    let refs: Vec<(&[u32], u32)> = data.iter().map(|(b, l)| (&b[..], *l)).collect();
    let config = BagConfig { dim: 32, epochs: 1, ..BagConfig::default() };
    let model = Bag::train(&config, rows, 2, &refs[..1000])
        .unwrap_or_else(|e| panic!("training failed: {e}"));
    let features: usize = data.iter().map(|(b, _)| b.len()).sum();
    let mut group = c.benchmark_group("bag");
    group.throughput(Throughput::Elements(features as u64));
    group.sample_size(10);
    group.bench_function("score_one_core", |b| {
        b.iter(|| data.iter().map(|(bag, _)| model.probs(bag)[0]).sum::<f32>())
    });
    group.bench_function("train_one_epoch_one_core", |b| {
        b.iter(|| Bag::train(&config, rows, 2, &refs).map(|m| m.output[0]))
    });
    group.finish();
}

criterion_group!(benches, bag);
criterion_main!(benches);
