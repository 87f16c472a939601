//! Throughput of an encoder classifier on the CPU, on the calling thread (one core).
//!
//! `cargo run --release -p tokenmill-engine --example encoder_throughput -- MODEL_DIR [DOCS]
//! [TOKENS] [BATCH]` scores `DOCS` sequences of `TOKENS` token ids (specials included; pseudo-
//! random ids, which cost the same as real text) in batches of `BATCH` and prints one JSON line:
//! documents and tokens per second. `scripts/bench-encoder.py` runs it next to PyTorch.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use tokenmill_engine::encoder::Encoder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().ok_or("usage: encoder_throughput MODEL_DIR [DOCS] [TOKENS] [BATCH]")?;
    let arg = |i: usize, d: usize| args.get(i).map_or(Ok(d), |s| s.parse::<usize>());
    let (docs, tokens, batch) = (arg(1, 8)?, arg(2, 512)?, arg(3, 1)?);
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
    // Warm-up: one batch, untimed.
    let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
    model.logits(&refs[..batch.min(docs)])?;
    let start = Instant::now();
    let mut checksum = 0.0f64;
    for chunk in refs.chunks(batch.max(1)) {
        checksum += model.logits(chunk)?.iter().map(|l| l[0] as f64).sum::<f64>();
    }
    let secs = start.elapsed().as_secs_f64();
    let total: usize = seqs.iter().map(Vec::len).sum();
    println!(
        "{{\"engine\": \"tokenmill\", \"docs\": {docs}, \"tokens_per_doc\": {tokens}, \"batch\": {batch}, \"seconds\": {secs:.3}, \"docs_per_s\": {:.3}, \"tokens_per_s\": {:.1}, \"checksum\": {checksum:.4}}}",
        docs as f64 / secs,
        total as f64 / secs
    );
    Ok(())
}
