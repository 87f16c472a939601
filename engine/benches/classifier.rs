//! Classifier scoring throughput (MB/s of text, features included), on all cores and on one.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p tokenmill-engine --bench classifier`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokenmill_engine::classifier::{Classifier, ClassifierConfig};
use tokenmill_engine::rng::Rng;

/// Documents of about 2 KB of random words from two vocabularies, with labels.
fn corpus(docs: usize) -> Vec<(String, u32)> {
    let mut rng = Rng::new(1);
    let vocab: Vec<Vec<String>> = (0..2)
        .map(|l| {
            (0..5000)
                .map(|_| {
                    (0..2 + rng.below(9))
                        .map(|_| (b'a' + (rng.below(13) + 13 * l) as u8) as char)
                        .collect()
                })
                .collect()
        })
        .collect();
    (0..docs)
        .map(|_| {
            let label = rng.below(2);
            let mut text = String::new();
            while text.len() < 2000 {
                text.push_str(
                    &vocab[if rng.uniform() < 0.7 { label } else { 1 - label }][rng.below(5000)],
                );
                text.push(' ');
            }
            (text, label as u32)
        })
        .collect()
}

fn scoring(c: &mut Criterion) {
    let data = corpus(4000);
    let refs: Vec<(&str, u32)> = data.iter().map(|(t, l)| (t.as_str(), *l)).collect();
    let model = Classifier::train(
        &ClassifierConfig { epochs: 1, ..ClassifierConfig::default() },
        vec!["a".into(), "b".into()],
        &refs[..1000],
    )
    .unwrap_or_else(|e| panic!("training failed: {e}"));
    let texts: Vec<&str> = refs.iter().map(|(t, _)| *t).collect();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mut group = c.benchmark_group("classifier_score");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("score_batch_all_cores", |b| b.iter(|| model.score_batch(&texts)));
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap_or_else(|e| panic!("thread pool: {e}"));
    group.bench_function("score_batch_one_core", |b| {
        b.iter(|| one.install(|| model.score_batch(&texts)))
    });
    group.bench_function("features_only_one_core", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| tokenmill_engine::classifier::features(t, model.buckets(), 2).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
