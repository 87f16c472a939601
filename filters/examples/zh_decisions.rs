//! Prints the decisions of `zh_convert` and `zh_quality` (default configs, chained as in
//! `examples/zh-web.toml`) on JSONL documents read from stdin, one line per document: id,
//! script, hash of the converted text, `zh_quality`'s verdict and chrome lines, hash of the
//! kept text. Two builds that print the same lines decide the same (BENCHMARKS.md,
//! "Chinese-first cleaning").
//!
//!   zstd -dc ../shared/data/corpus/slice100.jsonl.zst |
//!     cargo run --release -p tokenmill-filters --example zh_decisions > decisions.tsv

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, Write};

use tokenmill_filters::zh_convert::{ZhConvert, ZhConvertConfig};
use tokenmill_filters::zh_quality::{ZhQuality, ZhQualityConfig};

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

fn main() -> anyhow::Result<()> {
    let convert = ZhConvert::new(ZhConvertConfig::default())?;
    let quality = ZhQuality::new(ZhQualityConfig::default())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let text = v["text"].as_str().unwrap_or_default();
        let (script, converted) = convert.apply(text);
        let q = quality.apply(&converted);
        writeln!(
            out,
            "{}\t{}\t{:016x}\t{}\t{}\t{:016x}",
            v["id"].as_str().unwrap_or("?"),
            script.label(),
            hash(&converted),
            q.dropped.unwrap_or("keep"),
            q.counts.chrome_lines,
            hash(&q.text),
        )?;
    }
    Ok(())
}
