//! Agreement and speed of our Chinese segmentation against Python jieba 0.42.1 (issue 17).
//!
//! Input: the JSON lines `scripts/jieba-parity.py` writes (`{"id", "text", "tokens"}`, tokens
//! from `jieba.lcut`). Reports the share of documents whose token sequence is identical, the
//! F1 of token spans (byte ranges), and the speed of `jieba_lcut` and of the rules' word split
//! (`Words::new` under `auto`) on this thread, best of 3 passes.
//!
//! `cargo run --release -p tokenmill-filters --example jieba_parity -- /tmp/jieba-ref.jsonl`

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use tokenmill_filters::words::{WordMode, Words, jieba_lcut};

/// Byte ranges of consecutive tokens that concatenate to the text.
fn spans<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Vec<(usize, usize)> {
    let mut at = 0;
    tokens
        .into_iter()
        .map(|t| {
            at += t.len();
            (at - t.len(), at)
        })
        .collect()
}

fn best_of_3(mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..3 {
        let t = Instant::now();
        n = std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, n)
}

fn main() -> Result<()> {
    let path = std::env::args().nth(1).context("usage: jieba_parity REF.jsonl")?;
    let raw = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let mut docs: Vec<(String, Vec<String>)> = Vec::new();
    for (n, line) in raw.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {n}"))?;
        let text = v["text"].as_str().context("text")?.to_string();
        let tokens: Vec<String> = serde_json::from_value(v["tokens"].clone())?;
        if tokens.concat() != text {
            bail!("line {n}: Python tokens do not concatenate to the text");
        }
        docs.push((text, tokens));
    }
    let (mut same, mut both, mut ours_n, mut theirs_n) = (0usize, 0usize, 0usize, 0usize);
    let mut diffs = Vec::new();
    for (text, theirs) in &docs {
        let ours = jieba_lcut(text);
        if ours.iter().copied().eq(theirs.iter().map(String::as_str)) {
            same += 1;
        } else if diffs.len() < 5 {
            diffs.push(text.chars().take(60).collect::<String>());
        }
        let a: HashSet<_> = spans(ours.iter().copied()).into_iter().collect();
        let b = spans(theirs.iter().map(String::as_str));
        both += b.iter().filter(|s| a.contains(s)).count();
        ours_n += a.len();
        theirs_n += b.len();
    }
    let mb = docs.iter().map(|d| d.0.len()).sum::<usize>() as f64 / 1e6;
    println!("{} docs, {mb:.2} MB", docs.len());
    println!(
        "identical token sequences: {same}/{} = {:.4}%",
        docs.len(),
        100.0 * same as f64 / docs.len().max(1) as f64
    );
    let f1 = 2.0 * both as f64 / (ours_n + theirs_n).max(1) as f64;
    println!("token spans: ours {ours_n}, python {theirs_n}, common {both}, F1 {f1:.6}");
    for d in diffs {
        println!("  differs: {d:?}");
    }
    let (secs, n) = best_of_3(|| docs.iter().map(|d| jieba_lcut(&d.0).len()).sum());
    println!("jieba_lcut: {n} tokens, {secs:.3} s, {:.2} MB/s", mb / secs);
    let (secs, n) =
        best_of_3(|| docs.iter().map(|d| Words::new(&d.0, WordMode::Auto).tokens.len()).sum());
    println!("Words::new(auto): {n} words, {secs:.3} s, {:.2} MB/s", mb / secs);
    Ok(())
}
