//! Encoder classifiers against PyTorch: tiny random-weight models saved by `transformers`
//! (`scripts/make-encoder-fixtures.py` builds them and records PyTorch's logits), one per
//! supported architecture and storage dtype, inputs of 1 to 512 tokens in one padded batch.
//!
//! The forward pass over the `Backend` trait (`Encoder::into_device`) is checked on the CPU
//! reference backend, on the CUDA emulator (feature `emulator`; skips, saying so, without a C++
//! compiler) and on a GPU where there is one (skips, saying why, elsewhere), with the same
//! tolerance against PyTorch as the CPU path.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenmill_engine::backend::{Backend, CpuBackend, CudaBackend, probe_cuda};
use tokenmill_engine::encoder::{Encoder, Family, Problem};
use tokenmill_engine::precision::Precision;

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

/// A fixture's cases of at most `longest` tokens as one batch, and its 512-token case alone,
/// through the forward pass on `backend`, against PyTorch's fp32 logits and the CPU path's.
fn check_on<B: Backend>(backend: B, name: &str, longest: usize) -> B {
    let model = Encoder::load(&fixture(name)).unwrap();
    let mut cases = cases(name);
    let last = cases.pop().unwrap();
    assert_eq!(last.ids.len(), 512);
    cases.retain(|c| c.ids.len() <= longest);
    cases.push(last);
    let seqs: Vec<&[u32]> = cases.iter().map(|c| c.ids.as_slice()).collect();
    let seqs = &seqs[..seqs.len() - usize::from(longest < 512)];
    let cpu = model.logits(seqs).unwrap();
    let dev = model.into_device(backend).unwrap();
    let batch = dev.logits(seqs).unwrap();
    let alone = dev.logits(&[&cases.last().unwrap().ids]).unwrap();
    for (i, c) in cases.iter().take(seqs.len()).enumerate() {
        let (dt, dc) = (max_diff(&batch[i], &c.logits), max_diff(&batch[i], &cpu[i]));
        assert!(dt <= FP32_TOL && dc <= FP32_TOL, "{name} len {}: {dt} / {dc}", c.ids.len());
    }
    assert!(max_diff(&alone[0], &cases.last().unwrap().logits) <= FP32_TOL, "{name} alone");
    assert!(dev.logits(&[&[]]).is_err() && dev.logits(&[]).unwrap().is_empty());
    dev.into_backend()
}

const ALL: [&str; 4] =
    ["bert-regression", "bert-3labels-fp16", "xlmr-2labels", "roberta-regression-bf16"];

#[test]
fn backend_forward_on_the_cpu_backend_matches_pytorch() {
    for name in ALL {
        check_on(CpuBackend, name, 512);
    }
}

#[cfg(all(feature = "emulator", target_os = "linux"))]
#[test]
fn backend_forward_on_the_cuda_emulator_matches_pytorch() {
    use tokenmill_engine::backend::EmulatedCuda;
    if let Err(why) = EmulatedCuda::compiler() {
        eprintln!(
            "SKIPPED encoder on the CUDA emulator: no C++ compiler for the CUDA emulator: {why}"
        );
        return;
    }
    // Sequences of 1 to 129 tokens in one batch, and 512 alone: the emulator runs every CUDA
    // thread as a fiber, so the whole set (1,544 tokens) would take minutes.
    let mut be = EmulatedCuda::new().unwrap();
    for name in ALL {
        be = check_on(be, name, 129);
    }
}

/// The tolerance of the linear layers' products in `precision` against the CPU path's fp32
/// logits, for logits of magnitude up to `scale`.
///
/// Each product rounds its two inputs with relative error at most `u` (2^-11 in fp16, 2^-8 in
/// bf16) and sums in `f32`, so its output is off by at most `2u` of the sum of its terms'
/// magnitudes. A logit sits at the end of `P = 4 L + 2` products (query/key/value, attention
/// output and the feed-forward pair in each of the `L` layers, then pooler and classifier);
/// LayerNorm rescales each layer's output to unit variance, so each product's error reaches the
/// logit at about the logit's own scale. The bound is `P * 2u * max(1, scale)`.
fn half_tolerance(precision: Precision, layers: usize, scale: f32) -> f32 {
    let u = precision.half().map_or(0.0, |f| f.unit_roundoff());
    (4 * layers + 2) as f32 * 2.0 * u * scale.max(1.0)
}

/// As [`check_on`], with the linear layers' products in `precision` on `backend`: the batch and
/// the 512-token sequence alone against the CPU path's fp32 logits, within [`half_tolerance`];
/// for a checkpoint stored in `precision` (`bert-3labels-fp16`, `roberta-regression-bf16`),
/// also against PyTorch computing the whole model in that dtype (`logits_native`), within twice
/// that (both sides within it of the fp32 logits).
fn check_half_on<B: Backend>(backend: B, name: &str, longest: usize, precision: Precision) -> B {
    let model = Encoder::load(&fixture(name)).unwrap();
    let mut cases = cases(name);
    let last = cases.pop().unwrap();
    cases.retain(|c| c.ids.len() <= longest);
    let seqs: Vec<&[u32]> = cases.iter().map(|c| c.ids.as_slice()).collect();
    let cpu = model.logits(&seqs).unwrap();
    let cpu_last = model.logits(&[&last.ids]).unwrap().remove(0);
    let reference = model.into_device_with(CpuBackend, precision).unwrap();
    let mut same_rounding = reference.logits(&seqs).unwrap();
    same_rounding.push(reference.logits(&[&last.ids]).unwrap().remove(0));
    let dev = model.into_device_with(backend, precision).unwrap();
    assert_eq!(dev.precision(), precision);
    let mut got = dev.logits(&seqs).unwrap();
    got.push(dev.logits(&[&last.ids]).unwrap().remove(0));
    let fp32 = cpu.iter().chain([&cpu_last]);
    let stored = [("-fp16", Precision::Fp16), ("-bf16", Precision::Bf16)]
        .iter()
        .any(|&(suffix, p)| name.ends_with(suffix) && p == precision);
    let natives: Vec<Option<&Vec<f32>>> =
        cases.iter().chain([&last]).map(|c| c.native.as_ref().filter(|_| stored)).collect();
    let (layers, u) = (model.config().num_layers, precision.half().unwrap().unit_roundoff());
    let (mut worst, mut worst_same, mut worst_native) = (0.0f32, 0.0f32, None::<f32>);
    for (i, ((got, want), same)) in got.iter().zip(fp32).zip(&same_rounding).enumerate() {
        let scale = want.iter().fold(1.0f32, |m, x| m.max(x.abs()));
        let (d, tol) = (max_diff(got, want), half_tolerance(precision, layers, scale));
        assert!(d <= tol, "{name} {precision} case {i}: {d} > {tol} ({got:?} vs {want:?})");
        if let Some(native) = natives[i] {
            let dn = max_diff(got, native);
            assert!(dn <= 2.0 * tol, "{name} {precision} case {i} vs PyTorch in {precision}: {dn}");
            worst_native = Some(worst_native.unwrap_or(0.0).max(dn / tol));
        }
        // Against the CPU backend's half products (the same rounded inputs): only the order of
        // the f32 sums differs, but that can move an activation across a rounding boundary of
        // the format, which shifts later products by up to u of a term; allow 4u of the logit's
        // scale (a wrong layout or a missing rounding is off by far more).
        let ds = max_diff(got, same);
        let tol_same = 4.0 * u * scale;
        assert!(ds <= tol_same, "{name} {precision} case {i} vs CPU half: {ds} > {tol_same}");
        (worst, worst_same) = (worst.max(d / tol), worst_same.max(ds / (u * scale)));
    }
    let native = worst_native.map_or(String::new(), |w| {
        format!("; vs PyTorch computing in {precision} {w:.3} of the tolerance")
    });
    eprintln!(
        "ok {name} {precision}: worst error {worst:.3} of the tolerance; vs the CPU backend's \
         {precision} products {worst_same:.3} of u{native}"
    );
    dev.into_backend()
}

#[test]
fn half_precision_forward_on_the_cpu_backend_is_within_tolerance() {
    for precision in [Precision::Fp16, Precision::Bf16] {
        for name in ALL {
            check_half_on(CpuBackend, name, 512, precision);
        }
    }
}

#[cfg(all(feature = "emulator", target_os = "linux"))]
#[test]
fn half_precision_forward_on_the_cuda_emulator_is_within_tolerance() {
    use tokenmill_engine::backend::EmulatedCuda;
    if let Err(why) = EmulatedCuda::compiler() {
        eprintln!("SKIPPED half-precision encoder on the CUDA emulator: no C++ compiler: {why}");
        return;
    }
    let mut be = EmulatedCuda::new().unwrap();
    for precision in [Precision::Fp16, Precision::Bf16] {
        for name in ALL {
            be = check_half_on(be, name, 129, precision);
        }
    }
}

#[test]
fn half_precision_forward_on_a_gpu_is_within_tolerance() {
    if let Err(why) = probe_cuda(0) {
        eprintln!("SKIPPED half-precision encoder on a GPU: no usable GPU: {why}");
        return;
    }
    let mut be = CudaBackend::new(0).unwrap();
    for precision in [Precision::Fp16, Precision::Bf16] {
        for name in ALL {
            be = check_half_on(be, name, 512, precision);
        }
    }
}

#[test]
fn backend_forward_on_a_gpu_matches_pytorch() {
    if let Err(why) = probe_cuda(0) {
        eprintln!("SKIPPED encoder on a GPU: no usable GPU: {why}");
        return;
    }
    let mut be = CudaBackend::new(0).unwrap();
    for name in ALL {
        be = check_on(be, name, 512);
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokenmill-encoder-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
