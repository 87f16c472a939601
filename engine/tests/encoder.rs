//! Encoder classifiers against PyTorch: tiny random-weight models saved by `transformers`
//! (`scripts/make-encoder-fixtures.py` builds them and records PyTorch's logits), one per
//! supported architecture and storage dtype, inputs of 1 to 512 tokens in one padded batch.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenmill_engine::encoder::{Encoder, Family, Problem};

/// fp32 logits against PyTorch's fp32 logits of the same weights.
const FP32_TOL: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/encoder").join(name)
}

struct Case {
    ids: Vec<u32>,
    logits: Vec<f32>,
    native: Option<Vec<f32>>,
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn cases(name: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(fixture(name).join("cases.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            ids: c["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect(),
            logits: floats(&c["logits"]),
            native: c.get("logits_native").map(floats),
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Checks one model: the whole set as one batch (mixed lengths, as PyTorch's padded batch) and
/// each sequence alone; `native_tol` bounds the distance to PyTorch computing in the storage
/// dtype (fp16/bf16 models).
fn check(name: &str, native_tol: Option<f32>) -> Encoder {
    let model = Encoder::load(&fixture(name)).unwrap();
    let cases = cases(name);
    let lens: Vec<usize> = cases.iter().map(|c| c.ids.len()).collect();
    assert_eq!((lens[0], *lens.last().unwrap()), (1, 512), "{name}: lengths 1 to 512");
    let seqs: Vec<&[u32]> = cases.iter().map(|c| c.ids.as_slice()).collect();
    let batch = model.logits(&seqs).unwrap();
    for (i, c) in cases.iter().enumerate() {
        let alone = model.logits(&[&c.ids]).unwrap().remove(0);
        let (db, da) = (max_diff(&batch[i], &c.logits), max_diff(&alone, &c.logits));
        assert!(db <= FP32_TOL && da <= FP32_TOL, "{name} len {}: {db} / {da}", c.ids.len());
        if let (Some(tol), Some(native)) = (native_tol, &c.native) {
            let d = max_diff(&batch[i], native);
            assert!(d <= tol, "{name} len {} vs PyTorch in its dtype: {d}", c.ids.len());
        }
    }
    model
}

#[test]
fn bert_regression_fp32_matches_pytorch() {
    let m = check("bert-regression", None);
    let c = m.config();
    assert_eq!((c.family, c.num_labels, c.problem), (Family::Bert, 1, Problem::Regression));
}

#[test]
fn bert_three_labels_fp16_matches_pytorch() {
    let m = check("bert-3labels-fp16", Some(2e-3));
    assert_eq!(m.config().labels, ["low", "mid", "high"]);
}

#[test]
fn xlm_roberta_fp32_matches_pytorch() {
    let m = check("xlmr-2labels", None);
    assert_eq!((m.config().family, m.config().max_tokens()), (Family::Roberta, 512));
}

#[test]
fn roberta_regression_bf16_matches_pytorch() {
    check("roberta-regression-bf16", Some(1e-2));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let m = Encoder::load(&fixture("xlmr-2labels")).unwrap();
    assert!(m.logits(&[&[]]).is_err());
    assert!(m.logits(&[&vec![5u32; 513]]).is_err());
    let err = m.logits(&[&[0, 6000, 2]]).unwrap_err().to_string();
    assert!(err.contains("position 1") && err.contains("6000"), "{err}");
    assert_eq!(m.frame(&vec![7u32; 600], 0, 2).len(), 512);
    assert!(m.logits(&[]).unwrap().is_empty());

    let dir = tempdir();
    std::fs::copy(fixture("xlmr-2labels/config.json"), dir.join("config.json")).unwrap();
    let err = Encoder::load(&dir).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    std::fs::write(dir.join("model.safetensors"), b"\x08\0\0\0\0\0\0\0{}      ").unwrap();
    let err = Encoder::load(&dir).unwrap_err().to_string();
    assert!(err.contains("not found") && err.contains("query.weight"), "{err}");
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokenmill-encoder-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
