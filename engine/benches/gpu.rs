//! GPU throughput, printed as one JSON object: classifier scoring (bytes of the text the feature
//! bags stand for, per second; features precomputed) and GPT training (tokens per second) on CUDA, with the CPU figures of
//! the same work beside them. Prints `no GPU: <reason>` and exits 0 without a usable GPU.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p tokenmill-engine --bench gpu`
//! (`scripts/gpu-check.sh` runs it, with `scripts/gpu_torch_baseline.py` for PyTorch's figure.)
//! With `TOKENMILL_GPU_BENCH=smoke` it runs the same code at tiny sizes on the CUDA emulator, to
//! check the bench itself (and `scripts/gpu-check.sh --smoke`) without a GPU; its figures mean
//! nothing.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

#[cfg(all(feature = "emulator", target_os = "linux"))]
use tokenmill_engine::backend::EmulatedCuda;
use tokenmill_engine::backend::{Backend, CpuBackend, CudaBackend, probe_cuda};
use tokenmill_engine::classifier::{Bag, BagConfig, Scorer};
use tokenmill_engine::gpt::{Gpt, GptConfig, GptTrainConfig};
use tokenmill_engine::rng::Rng;

/// Stand-ins for documents of about 2 KB: a bag of 660 random feature rows each (about what
/// fastText's dictionary gives a 2 KB document with word bigrams: 330 words and their bigrams),
/// with labels.
fn corpus(docs: usize, rows: usize) -> Vec<(Vec<u32>, u32)> {
    let mut rng = Rng::new(1);
    (0..docs)
        .map(|_| {
            let label = rng.below(2) as u32;
            // Label-dependent rows, so that training learns something.
            let half = rows / 2;
            let bag = (0..660).map(|_| (rng.below(half) + label as usize * half) as u32).collect();
            (bag, label)
        })
        .collect()
}

/// The text bytes a [`corpus`] document stands for.
const DOC_BYTES: usize = 2000;

/// Seconds per call of `f`, the best of `reps` timed calls after one warm-up.
fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// How much work each part does: the real sizes, or tiny ones for the smoke run.
#[derive(Clone, Copy)]
struct Sizes {
    docs: usize,
    reps: usize,
    tokens: usize,
    /// Timed GPT steps of the default and medium configs, on the device and on the CPU.
    steps: [(usize, usize); 2],
    warmup: usize,
    /// The GPT batch size where smaller than the config's.
    max_batch: usize,
}

const REAL: Sizes = Sizes {
    docs: 20_000,
    reps: 20,
    tokens: 200_000,
    steps: [(300, 20), (100, 2)],
    warmup: 10,
    max_batch: usize::MAX,
};
const SMOKE: Sizes =
    Sizes { docs: 64, reps: 1, tokens: 5_000, steps: [(2, 1), (1, 1)], warmup: 1, max_batch: 1 };

fn classifier<B: Backend>(gpu: &B, sizes: Sizes) -> String {
    let (rows, dim) = (1 << 18, 32);
    let data = corpus(sizes.docs, rows);
    let refs: Vec<(&[u32], u32)> = data.iter().map(|(b, l)| (&b[..], *l)).collect();
    let config = BagConfig { dim, epochs: 1, lr: 0.1, seed: 42 };
    let model = Bag::train(&config, rows, 2, &refs[..refs.len().min(500)]).unwrap();
    let bytes = data.len() * DOC_BYTES;
    let ids: Vec<u32> = data.iter().flat_map(|(b, _)| b.iter().copied()).collect();
    let mut offsets = vec![0u32];
    data.iter().for_each(|(b, _)| offsets.push(offsets[offsets.len() - 1] + b.len() as u32));
    let scorer = Scorer::new(gpu, &model).unwrap();
    let (gids, goffsets) = (gpu.upload_ids(&ids).unwrap(), gpu.upload_ids(&offsets).unwrap());
    let device_s = best_of(sizes.reps, || {
        let probs = scorer.score_uploaded(&gids, &goffsets, data.len()).unwrap();
        gpu.synchronize().unwrap();
        drop(probs);
    });
    let with_copies_s =
        best_of(sizes.reps.div_ceil(2), || drop(scorer.score_features(&ids, &offsets).unwrap()));
    let cpu = || data.iter().map(|(b, _)| model.probs(b)).collect::<Vec<_>>();
    let cpu_s = best_of(sizes.reps.div_ceil(10), || drop(cpu()));
    // Agreement check on the real batch, so a fast wrong kernel cannot pass unnoticed.
    let got = scorer.score_features(&ids, &offsets).unwrap();
    let want: Vec<f32> = cpu().concat();
    let max_diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let gbs = |s: f64| bytes as f64 / s / 1e9;
    format!(
        concat!(
            "{{\"docs\":{},\"text_bytes\":{},\"features\":{},\"dim\":{},\"rows\":{},",
            "\"gpu_device_only_gb_per_s\":{:.3},\"gpu_with_copies_gb_per_s\":{:.3},",
            "\"cpu_score_batch_gb_per_s\":{:.3},\"max_abs_diff_vs_cpu\":{:e}}}"
        ),
        data.len(),
        bytes,
        ids.len(),
        dim,
        rows,
        gbs(device_s),
        gbs(with_copies_s),
        gbs(cpu_s),
        max_diff
    )
}

/// The token stream both this bench and the PyTorch baseline train on: uniform random ids.
fn tokens(vocab: usize, n: usize) -> Vec<u32> {
    let mut rng = Rng::new(7);
    (0..n).map(|_| rng.below(vocab) as u32).collect()
}

fn gpt<B: Backend>(
    gpu: &B,
    name: &str,
    cfg: GptConfig,
    batch_size: usize,
    (steps, cpu_steps): (usize, usize),
    sizes: Sizes,
) -> String {
    let toks = tokens(cfg.vocab_size, sizes.tokens);
    let batch_size = batch_size.min(sizes.max_batch);
    let train = GptTrainConfig { steps, batch_size, ..GptTrainConfig::default() };
    let mut model = Gpt::new(cfg).unwrap();
    // Warm-up (cuBLAS picks its kernels, the memory pool grows), then the timed run.
    model.train_with(gpu, &toks, &GptTrainConfig { steps: sizes.warmup, ..train }, |_| {}).unwrap();
    let mut model = Gpt::new(cfg).unwrap();
    let report = model.train_with(gpu, &toks, &train, |_| {}).unwrap();
    let gpu_tps = report.tokens as f64 / report.seconds;
    let mut cpu_model = Gpt::new(cfg).unwrap();
    let cpu_report = cpu_model
        .train_with(&CpuBackend, &toks, &GptTrainConfig { steps: cpu_steps, ..train }, |_| {})
        .unwrap();
    let cpu_tps = cpu_report.tokens as f64 / cpu_report.seconds;
    format!(
        concat!(
            "{{\"name\":\"{}\",\"vocab_size\":{},\"context\":{},\"layers\":{},\"width\":{},\"heads\":{},\"tied\":{},",
            "\"batch_size\":{},\"steps\":{},\"gpu_tokens_per_s\":{:.0},\"cpu_tokens_per_s\":{:.0},",
            "\"first_loss\":{:.4},\"final_loss\":{:.4}}}"
        ),
        name,
        cfg.vocab_size,
        cfg.context,
        cfg.layers,
        cfg.width,
        cfg.heads,
        cfg.tied_embeddings,
        batch_size,
        steps,
        gpu_tps,
        cpu_tps,
        report.losses[0],
        report.final_loss
    )
}

fn run<B: Backend>(gpu: &B, device: &str, sizes: Sizes) {
    let default_cfg = GptConfig::default();
    let medium = GptConfig {
        vocab_size: 4096,
        context: 256,
        layers: 4,
        width: 256,
        heads: 8,
        ..GptConfig::default()
    };
    let gpts = [
        gpt(
            gpu,
            "default",
            default_cfg,
            GptTrainConfig::default().batch_size,
            sizes.steps[0],
            sizes,
        ),
        gpt(gpu, "medium", medium, 16, sizes.steps[1], sizes),
    ];
    println!(
        "{{\"device\":\"{device}\",\"classifier\":{},\"gpt\":[{}]}}",
        classifier(gpu, sizes),
        gpts.join(",")
    );
}

fn main() {
    if std::env::var("TOKENMILL_GPU_BENCH").is_ok_and(|v| v == "smoke") {
        #[cfg(all(feature = "emulator", target_os = "linux"))]
        {
            let emulated = EmulatedCuda::new()
                .unwrap_or_else(|e| panic!("the CUDA emulator could not be built: {e}"));
            return run(&emulated, "CUDA emulator (smoke run, figures meaningless)", SMOKE);
        }
        #[cfg(not(all(feature = "emulator", target_os = "linux")))]
        panic!("the smoke run needs the CUDA emulator: build with `--features emulator` (Linux)");
    }
    match probe_cuda(0) {
        Ok(_) => {
            let gpu = CudaBackend::new(0)
                .unwrap_or_else(|e| panic!("a GPU is present but the CUDA backend failed: {e}"));
            run(&gpu, gpu.description(), REAL);
        }
        Err(why) => println!("no GPU: {why}"),
    }
}
