//! One-core throughput of the Chinese-first text rules on Chinese documents beside the English
//! FineWeb-like rules on English ones (BENCHMARKS.md, "Chinese-first cleaning"): every rule runs
//! on every document (nothing is skipped after a drop), one thread, best of 3 passes.
//!
//!   cargo run --release -p tokenmill-filters --example zh_chain_speed -- ZH.jsonl EN.jsonl

use std::time::Instant;

use tokenmill_filters::block_words::{BlockWords, BlockWordsConfig};
use tokenmill_filters::c4::{C4Config, C4LineCleaner};
use tokenmill_filters::fineweb::{FineWebQuality, FineWebQualityConfig};
use tokenmill_filters::gopher_quality::{GopherQuality, GopherQualityConfig};
use tokenmill_filters::gopher_repetition::{GopherRepetition, GopherRepetitionConfig};
use tokenmill_filters::language::{LanguageConfig, LanguageFilter};
use tokenmill_filters::normalize::{Normalize, NormalizeConfig};
use tokenmill_filters::pii::{Pii, PiiConfig};
use tokenmill_filters::words::{WordMode, Words};
use tokenmill_filters::zh_convert::{ZhConvert, ZhConvertConfig};
use tokenmill_filters::zh_quality::{ZhQuality, ZhQualityConfig};

/// One rule over one document, returning something so that it is not optimized away.
type Stage<'a> = dyn Fn(&str) -> usize + 'a;

fn texts(path: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        out.push(v["text"].as_str().unwrap_or_default().to_string());
    }
    Ok(out)
}

fn best_of_3(docs: &[String], mut f: impl FnMut(&str) -> usize) -> (f64, usize) {
    let bytes: usize = docs.iter().map(String::len).sum();
    let mut best = f64::INFINITY;
    let mut kept = 0;
    for _ in 0..3 {
        let t = Instant::now();
        kept = docs.iter().map(|d| f(d)).sum();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (bytes as f64 / 1e6 / best, kept)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (zh, en) = (texts(&args[1])?, texts(&args[2])?);
    let norm = Normalize::new(NormalizeConfig::default())?;
    let pii = Pii::new(PiiConfig::default())?;
    let lang = |l: &str| {
        LanguageFilter::new(LanguageConfig { languages: vec![l.into()], ..Default::default() })
    };
    let (lang_zh, lang_en) = (lang("zh")?, lang("en")?);
    let convert = ZhConvert::new(ZhConvertConfig::default())?;
    let zq = ZhQuality::new(ZhQualityConfig::default())?;
    let block = BlockWords::new(BlockWordsConfig::default())?;
    let (zh_mbs, zh_kept) = best_of_3(&zh, |d| {
        let n = norm.apply(d).text;
        let keep = lang_zh.decide(&lang_zh.identify(&n)).is_keep();
        let (_, s) = convert.apply(&n);
        let q = zq.apply(&s);
        let b = block.check(&q.text).is_keep();
        let _ = pii.apply(&q.text);
        usize::from(keep && q.dropped.is_none() && b)
    });
    let gr = GopherRepetition::new(GopherRepetitionConfig::default())?;
    let gq = GopherQuality::new(GopherQualityConfig::default())?;
    let c4 = C4LineCleaner::new(C4Config::default())?;
    let fw = FineWebQuality::new(FineWebQualityConfig::default())?;
    let (en_mbs, en_kept) = best_of_3(&en, |d| {
        let n = norm.apply(d).text;
        let keep = lang_en.decide(&lang_en.identify(&n)).is_keep();
        let words = Words::new(&n, WordMode::Auto);
        let a = gr.check_with(&n, || words.clone()).is_keep();
        let b = gq.check_words(&n, &words).is_keep();
        let c = c4.check_in(&n, words.script).is_keep();
        let f = fw.check_with(&n, words.script, || words.tokens.len()).is_keep();
        let _ = pii.apply(&n);
        usize::from(keep && a && b && c && f)
    });
    if std::env::var_os("PER_STAGE").is_some() {
        let stages: [(&str, &Stage<'_>); 6] = [
            ("normalize", &|d| norm.apply(d).text.len()),
            ("language", &|d| lang_zh.identify(d).len()),
            ("zh_convert", &|d| convert.apply(d).1.len()),
            ("zh_quality", &|d| zq.apply(d).text.len()),
            ("block_words", &|d| usize::from(block.check(d).is_keep())),
            ("pii", &|d| pii.apply(d).text.len()),
        ];
        for (name, f) in stages {
            println!("  {name}: {:.1} MB/s", best_of_3(&zh, f).0);
        }
    }
    println!("zh chain: {} docs, kept {zh_kept}, {zh_mbs:.1} MB/s", zh.len());
    println!("en chain: {} docs, kept {en_kept}, {en_mbs:.1} MB/s", en.len());
    println!("ratio zh/en: {:.2}", zh_mbs / en_mbs);
    Ok(())
}
