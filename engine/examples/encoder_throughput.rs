//! Throughput of an encoder classifier on the CPU, on the calling thread (one core).
//!
//! `cargo run --release -p tokenmill-engine --example encoder_throughput -- MODEL_DIR [DOCS]
//! [TOKENS] [BATCH] [DEVICE] [PRECISION]` scores `DOCS` sequences of `TOKENS` token ids (specials
//! included; pseudo-random ids, which cost the same as real text) in batches of `BATCH` and
//! prints one JSON line: documents and tokens per second. `DEVICE` is `cpu` (the default: the
//! CPU path, on the calling thread), `cuda` (GPU 0 through the backend forward pass) or
//! `emulator` (the CUDA emulator; needs `--features emulator`). `PRECISION` is the linear
//! layers' products on a backend: `fp32` (the default), `fp16` or `bf16` (the CPU path computes
//! fp32 only). `scripts/bench-encoder.py` runs it next to PyTorch on the CPU,
//! `scripts/gpu-check.sh` on a GPU.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use tokenmill_engine::Precision;
use tokenmill_engine::backend::CudaBackend;
use tokenmill_engine::encoder::Encoder;

type Logits = Box<dyn Fn(&[&[u32]]) -> tokenmill_engine::Result<Vec<Vec<f32>>>>;

/// The forward pass on the device named on the command line.
fn scorer(
    model: Encoder,
    device: &str,
    p: Precision,
) -> Result<Logits, Box<dyn std::error::Error>> {
    Ok(match device {
        "cpu" if p == Precision::Fp32 => Box::new(move |s| model.logits(s)),
        "cpu" => return Err(format!("the CPU path computes in fp32, not {p}").into()),
        "cuda" => {
            let dev = model.into_device_with(CudaBackend::new(0)?, p)?;
            Box::new(move |s| dev.logits(s))
        }
        #[cfg(all(feature = "emulator", target_os = "linux"))]
        "emulator" => {
            let dev = model.into_device_with(tokenmill_engine::backend::EmulatedCuda::new()?, p)?;
            Box::new(move |s| dev.logits(s))
        }
        other => return Err(format!("unknown device {other:?} (cpu, cuda, emulator)").into()),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().ok_or("usage: encoder_throughput MODEL_DIR [DOCS] [TOKENS] [BATCH]")?;
    let arg = |i: usize, d: usize| args.get(i).map_or(Ok(d), |s| s.parse::<usize>());
    let (docs, tokens, batch) = (arg(1, 8)?, arg(2, 512)?, arg(3, 1)?);
    let device = args.get(4).map_or("cpu", String::as_str);
    let precision: Precision = args.get(5).map_or("fp32", String::as_str).parse()?;
    let model = Encoder::load(std::path::Path::new(dir))?;
    let vocab = model.config().vocab_size as u64;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let seqs: Vec<Vec<u32>> = (0..docs)
        .map(|_| {
            let body: Vec<u32> = (0..tokens.saturating_sub(2))
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (1000 + (state >> 33) % (vocab - 1000)) as u32
                })
                .collect();
            model.frame(&body, 101.min(vocab as u32 - 1), 102.min(vocab as u32 - 1))
        })
        .collect();
    let logits = scorer(model, device, precision)?;
    // Warm-up: one batch, untimed.
    let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
    logits(&refs[..batch.min(docs)])?;
    let (start, cpu_start) = (Instant::now(), thread_cpu_seconds());
    let mut checksum = 0.0f64;
    for chunk in refs.chunks(batch.max(1)) {
        checksum += logits(chunk)?.iter().map(|l| l[0] as f64).sum::<f64>();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu_start;
    let total: usize = seqs.iter().map(Vec::len).sum();
    println!(
        "{{\"engine\": \"tokenmill\", \"device\": \"{device}\", \"precision\": \"{precision}\", \"docs\": {docs}, \"tokens_per_doc\": {tokens}, \"batch\": {batch}, \"seconds\": {secs:.3}, \"docs_per_s\": {:.3}, \"tokens_per_s\": {:.1}, \"cpu_seconds\": {cpu:.3}, \"docs_per_cpu_s\": {:.3}, \"checksum\": {checksum:.4}}}",
        docs as f64 / secs,
        total as f64 / secs,
        docs as f64 / cpu
    );
    Ok(())
}

/// CPU time of the calling thread so far (`/proc/thread-self/schedstat`, nanoseconds on a CPU),
/// or 0 where it cannot be read: on a loaded machine, throughput per CPU second is steadier
/// than per wall second.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 * 1e-9)
}
