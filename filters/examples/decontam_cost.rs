//! What decontamination costs next to the FineWeb-like filter chain, on one core.
//!
//! Runs, on every document of a JSONL corpus (`{"text": ...}` per line, uncompressed), the chain
//! of `benches/filters-lid176-100mb.toml` through this crate's filters (normalize, fastText
//! language id, Gopher repetition and quality sharing one word split, C4, FineWeb, PII), each
//! seeing what the previous kept, then [`Decontaminator::apply`] on the kept documents, against
//! the benchmark files' entries (`prompt` and `canonical_solution` joined by a newline); and,
//! as an upper bound, decontamination of every input document (the stage placed first). Prints
//! the seconds spent in each part and the ratios; building the index is timed apart. With
//! GPT-3's training-document frequency rule (`max_document_frequency = 10`), the compute it adds
//! is timed too, after the chain and on every input: the counting pass (each document's
//! distinct index n-grams, a `u32` count per n-gram), the decision, and the replay through the
//! matcher without the frequent n-grams (staging the documents to disk is not included).
//!
//! ```sh
//! zstd -dc ../shared/data/corpus/slice100.jsonl.zst > /tmp/slice100.jsonl
//! cargo run --release -p tokenmill-filters --example decontam_cost -- /tmp/slice100.jsonl \
//!     ../shared/data/models/lid.176.ftz out/decontam-benchmarks/*.jsonl
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use tokenmill_filters::Verdict;
use tokenmill_filters::c4::{C4Config, C4LineCleaner};
use tokenmill_filters::decontam::{DecontamConfig, Decontaminator};
use tokenmill_filters::fineweb::{FineWebQuality, FineWebQualityConfig};
use tokenmill_filters::gopher_quality::{GopherQuality, GopherQualityConfig};
use tokenmill_filters::gopher_repetition::{GopherRepetition, GopherRepetitionConfig};
use tokenmill_filters::language::{LanguageConfig, LanguageFilter};
use tokenmill_filters::normalize::{Normalize, NormalizeConfig};
use tokenmill_filters::pii::{Pii, PiiConfig};
use tokenmill_filters::words::Words;

struct Chain {
    normalize: Normalize,
    language: LanguageFilter,
    repetition: GopherRepetition,
    gopher: GopherQuality,
    c4: C4LineCleaner,
    fineweb: FineWebQuality,
    pii: Pii,
}

impl Chain {
    fn new(model: &str) -> anyhow::Result<Self> {
        let languages = ["en", "zh", "ja", "de", "fr", "es", "ru"];
        Ok(Self {
            normalize: Normalize::new(NormalizeConfig::default())?,
            language: LanguageFilter::new(LanguageConfig {
                languages: languages.iter().map(|l| l.to_string()).collect(),
                min_score: 0.65,
                model: Some(model.into()),
                ..LanguageConfig::default()
            })?,
            repetition: GopherRepetition::new(GopherRepetitionConfig::default())?,
            gopher: GopherQuality::new(GopherQualityConfig::default())?,
            c4: C4LineCleaner::new(C4Config {
                filter_no_terminal_punct: false,
                ..C4Config::default()
            })?,
            fineweb: FineWebQuality::new(FineWebQualityConfig::default())?,
            pii: Pii::new(PiiConfig::default())?,
        })
    }

    /// The document's text after the chain, or `None` when a filter drops it.
    fn run(&self, text: &str) -> Result<String, &'static str> {
        let normalized = self.normalize.apply(text);
        if let Some(rule) = normalized.dropped {
            return Err(rule);
        }
        let text = normalized.text;
        verdict(self.language.check(&text))?;
        let words = Words::new(&text, self.repetition.word_mode());
        let script = words.script;
        let n_words = words.tokens.len();
        verdict(self.repetition.check_with(&text, || words.clone()))?;
        verdict(self.gopher.check_words(&text, &words))?;
        verdict(self.c4.check_in(&text, script))?;
        verdict(self.fineweb.check_with(&text, script, || n_words))?;
        let redacted = self.pii.apply(&text);
        match redacted.dropped {
            Some(rule) => Err(rule),
            None => Ok(redacted.text.into_owned()),
        }
    }
}

fn verdict(v: Verdict) -> Result<(), &'static str> {
    match v {
        Verdict::Keep => Ok(()),
        Verdict::Drop(rule) => Err(rule),
    }
}

fn index(files: &[String]) -> anyhow::Result<Decontaminator> {
    let mut b = Decontaminator::builder(DecontamConfig::default());
    for path in files {
        let id = b.add_benchmark(path)?;
        let text = std::fs::read_to_string(path).with_context(|| path.clone())?;
        for (i, line) in text.lines().enumerate() {
            let v: Value =
                serde_json::from_str(line).with_context(|| format!("{path}:{}", i + 1))?;
            let field = |f: &str| v[f].as_str().unwrap_or_default().to_string();
            b.add_entry(id, &format!("{}\n{}", field("prompt"), field("canonical_solution")));
        }
    }
    Ok(b.build()?)
}

/// Seconds spent by GPT-3's rule over `docs`.
struct RuleCost {
    /// Once per run: the index listed in order, the matcher rebuilt without the frequent
    /// n-grams.
    fixed: Duration,
    /// Per document: the counting pass and the replay through the rebuilt matcher.
    documents: Duration,
    /// N-grams in more than the limit's documents.
    frequent: usize,
}

/// GPT-3's rule over `docs` with the limit `max`.
fn doc_freq_rule(decon: &Decontaminator, docs: &[&str], max: u32) -> RuleCost {
    let t = Instant::now();
    let indexed = decon.indexed();
    let mut counts = vec![0u32; indexed.len()];
    let mut fixed = t.elapsed();
    let t = Instant::now();
    for doc in docs {
        for h in decon.ngram_hashes(doc) {
            if let Ok(i) = indexed.binary_search(&h) {
                counts[i] = counts[i].saturating_add(1);
            }
        }
    }
    let mut documents = t.elapsed();
    let t = Instant::now();
    let frequent: std::collections::HashSet<u64> =
        indexed.iter().zip(&counts).filter(|(_, n)| **n > max).map(|(h, _)| *h).collect();
    let rest = decon.without(|h| frequent.contains(&h));
    fixed += t.elapsed();
    let t = Instant::now();
    for doc in docs {
        std::hint::black_box(rest.apply(doc).dropped);
    }
    documents += t.elapsed();
    RuleCost { fixed, documents, frequent: frequent.len() }
}

impl RuleCost {
    fn json(&self, chain: Duration) -> Value {
        serde_json::json!({
            "fixed_secs": self.fixed.as_secs_f64(),
            "per_document_secs": self.documents.as_secs_f64(),
            "per_document_over_chain": self.documents.as_secs_f64() / chain.as_secs_f64(),
            "frequent_ngrams": self.frequent,
        })
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [corpus, model, benchmarks @ ..] = args.as_slice() else {
        anyhow::bail!("usage: decontam_cost CORPUS.jsonl LID_MODEL BENCHMARK.jsonl...");
    };
    let started = Instant::now();
    let decon = index(benchmarks)?;
    let build = started.elapsed();
    let chain = Chain::new(model)?;
    let corpus = std::fs::read_to_string(corpus).with_context(|| corpus.clone())?;
    let (mut chain_time, mut decon_time) = (Duration::ZERO, Duration::ZERO);
    // Decontamination placed first, on every input document: the upper bound.
    let (mut first_time, mut contaminated_input) = (Duration::ZERO, 0u64);
    let (mut docs, mut kept, mut contaminated) = (0u64, 0u64, 0u64);
    let mut dropped = std::collections::BTreeMap::new();
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    for line in corpus.lines() {
        let v: Value = serde_json::from_str(line)?;
        let text = v["text"].as_str().unwrap_or_default();
        docs += 1;
        inputs.push(text.to_string());
        let t = Instant::now();
        let found = decon.apply(text).dropped.is_some();
        first_time += t.elapsed();
        contaminated_input += u64::from(found);
        let t = Instant::now();
        let out = chain.run(text);
        chain_time += t.elapsed();
        let out = match out {
            Ok(out) => out,
            Err(rule) => {
                *dropped.entry(rule).or_insert(0u64) += 1;
                continue;
            }
        };
        kept += 1;
        let t = Instant::now();
        let found = decon.apply(&out).dropped.is_some();
        decon_time += t.elapsed();
        contaminated += u64::from(found);
        outputs.push(out);
    }
    let kept_texts: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let after_chain = doc_freq_rule(&decon, &kept_texts, 10);
    let input_texts: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let every_input = doc_freq_rule(&decon, &input_texts, 10);
    let ngrams: u64 = decon.benchmarks().iter().map(|b| b.ngrams).sum();
    println!(
        "{}",
        serde_json::json!({
            "documents": docs, "kept_by_chain": kept, "dropped_by_chain": dropped, "contaminated": contaminated,
            "benchmarks": benchmarks.len(), "ngrams": ngrams,
            "index_build_secs": build.as_secs_f64(),
            "chain_secs": chain_time.as_secs_f64(),
            "decontam_secs": decon_time.as_secs_f64(),
            "decontam_over_chain": decon_time.as_secs_f64() / chain_time.as_secs_f64(),
            "contaminated_inputs": contaminated_input,
            "decontam_every_input_secs": first_time.as_secs_f64(),
            "decontam_every_input_over_chain": first_time.as_secs_f64() / chain_time.as_secs_f64(),
            "doc_freq_rule": {
                "after_chain": after_chain.json(chain_time),
                "every_input": every_input.json(chain_time),
            },
        })
    );
    Ok(())
}
