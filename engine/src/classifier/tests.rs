use super::*;
use crate::ops::embedding::embedding_bag_mean_forward;
use crate::ops::loss::softmax;
use crate::ops::matmul::linear_forward;
use crate::rng::Rng;

/// Two synthetic "languages" with disjoint alphabets plus a pool of shared words.
fn corpus(n: usize, seed: u64) -> Vec<(String, u32)> {
    let mut rng = Rng::new(0);
    let word = |rng: &mut Rng, alphabet: &[u8]| -> String {
        (0..2 + rng.below(6)).map(|_| alphabet[rng.below(alphabet.len())] as char).collect()
    };
    let vocab =
        |rng: &mut Rng, a: &[u8]| -> Vec<String> { (0..300).map(|_| word(rng, a)).collect() };
    let (a, b, shared) = (
        vocab(&mut rng, b"abcdefghijklm"),
        vocab(&mut rng, b"nopqrstuvwxyz"),
        vocab(&mut rng, b"0123456789"),
    );
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let label = rng.below(2) as u32;
            let own = if label == 0 { &a } else { &b };
            let len = 6 + rng.below(12);
            // 40% shared words make single words weak evidence; the mean still separates.
            let words: Vec<&str> = (0..len)
                .map(|_| {
                    if rng.uniform() < 0.4 { &shared[rng.below(300)] } else { &own[rng.below(300)] }
                        .as_str()
                })
                .collect();
            (words.join(" "), label)
        })
        .collect()
}

fn as_refs(data: &[(String, u32)]) -> Vec<(&str, u32)> {
    data.iter().map(|(t, l)| (t.as_str(), *l)).collect()
}

fn labels() -> Vec<String> {
    vec!["a".into(), "b".into()]
}

#[test]
fn separable_languages_reach_high_accuracy_with_sgd_and_adamw() {
    let (train, test) = (corpus(3000, 1), corpus(1000, 2));
    let (train, test) = (as_refs(&train), as_refs(&test));
    let sgd = ClassifierConfig { buckets: 1 << 16, dim: 16, ..ClassifierConfig::default() };
    let model = Classifier::train(&sgd, labels(), &train).unwrap();
    let m = model.evaluate(&test).unwrap();
    assert!(m.accuracy > 0.97 && m.macro_f1 > 0.97, "sgd {m:?}");

    let adam = ClassifierConfig {
        optimizer: ClassifierOptimizer::AdamW,
        lr: 0.01,
        batch_size: 16,
        epochs: 5,
        ..sgd
    };
    let m = Classifier::train(&adam, labels(), &train).unwrap().evaluate(&test).unwrap();
    assert!(m.accuracy > 0.97 && m.macro_f1 > 0.97, "adamw {m:?}");
}

#[test]
fn scoring_matches_the_reference_ops_and_batches() {
    let data = corpus(200, 3);
    let model = Classifier::train(
        &ClassifierConfig { buckets: 1 << 10, dim: 8, epochs: 2, ..Default::default() },
        labels(),
        &as_refs(&data),
    )
    .unwrap();
    let texts: Vec<&str> = data.iter().map(|(t, _)| t.as_str()).chain(["", "   "]).collect();
    let batch = model.score_batch(&texts);
    for (text, probs) in texts.iter().zip(&batch) {
        let ids = features(text, model.buckets, model.word_ngrams);
        let (mut hidden, mut logits, mut want) = (vec![0.0; 8], vec![0.0; 2], vec![0.0; 2]);
        embedding_bag_mean_forward(&mut hidden, &ids, &[0, ids.len()], &model.embeddings, 8);
        linear_forward(&mut logits, &hidden, &model.weights, Some(&model.bias), 1, 8, 2);
        softmax(&mut want, &logits, 1, 2);
        assert!(probs.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
        assert_eq!(*probs, model.score(text));
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn config_and_input_errors() {
    let data = [("x y", 0u32)];
    assert!(
        Classifier::train(
            &ClassifierConfig { word_ngrams: 3, ..Default::default() },
            labels(),
            &data
        )
        .is_err()
    );
    assert!(Classifier::train(&ClassifierConfig::default(), labels(), &[("x", 2)]).is_err());
    assert!(Classifier::train(&ClassifierConfig::default(), vec![], &data).is_err());
}

fn tiny() -> Classifier {
    Classifier {
        dim: 2,
        buckets: 3,
        word_ngrams: 2,
        labels: vec!["hq".into(), "lq".into()],
        embeddings: vec![0.0, 1.0, -1.0, 0.5, 2.0, -2.0],
        weights: vec![1.0, 0.0, 0.0, 1.0],
        bias: vec![0.25, -0.25],
    }
}

#[test]
fn golden_bytes() {
    let bytes = tiny().to_bytes();
    let mut want = Vec::new();
    want.extend_from_slice(b"TMCLASSF");
    for v in [1u32, 1, 2, 3, 2, 2, 2] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    want.extend_from_slice(b"hq");
    want.extend_from_slice(&2u32.to_le_bytes());
    want.extend_from_slice(b"lq");
    for x in [0.0f32, 1.0, -1.0, 0.5, 2.0, -2.0, 1.0, 0.0, 0.0, 1.0, 0.25, -0.25] {
        want.extend_from_slice(&x.to_le_bytes());
    }
    assert_eq!(bytes[..want.len()], want[..]);
    assert_eq!(bytes.len(), want.len() + 8);
    // The checksum, pinned so an accidental change of hash or layout fails here.
    assert_eq!(bytes[want.len()..], GOLDEN_CHECKSUM.to_le_bytes());
    assert_eq!(&bytes[..12], b"TMCLASSF\x01\x00\x00\x00");
}

const GOLDEN_CHECKSUM: u64 = 0x9F36CB9023B47C65;

#[test]
fn save_load_round_trip_and_corruption() {
    let model = tiny();
    let dir = std::env::temp_dir().join(format!("tokenmill-engine-clf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.bin");
    model.save(&path).unwrap();
    assert_eq!(Classifier::load(&path).unwrap(), model);
    std::fs::remove_dir_all(&dir).unwrap();

    let bytes = model.to_bytes();
    for cut in [0, 7, 39, 41, bytes.len() - 1] {
        assert!(Classifier::from_bytes(&bytes[..cut]).is_err(), "truncated at {cut}");
    }
    for flip in [0, 8, 20, 45, bytes.len() - 12, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[flip] ^= 1;
        assert!(Classifier::from_bytes(&bad).is_err(), "flipped byte {flip}");
    }
    assert!(matches!(
        Classifier::load(Path::new("/nonexistent/model.bin")),
        Err(crate::Error::Io { .. })
    ));
}

use std::path::Path;

proptest::proptest! {
    #[test]
    fn any_text_scores_to_a_distribution(text in "\\PC{0,80}") {
        let p = tiny().score(&text);
        proptest::prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5 && p.iter().all(|v| v.is_finite()));
    }
}
