//! `tokenmill train-tokenizer`: byte-level BPE trained on a sample of documents, with the
//! pre-tokenizer of a chosen family, and its compression measured on held-out documents.

use std::path::PathBuf;

use clap::Args;
use tokenmill_tokenize::patterns::PatternFamily;
use tokenmill_tokenize::{BpeTrainingConfig, Tokenizer, train_byte_level_bpe};

use super::Exit;
use crate::config::FileSourceSpec;
use crate::source;

/// `tokenmill train-tokenizer` arguments.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Input files, globs or URLs (JSONL plain/.gz/.zst, or .parquet).
    #[arg(required_unless_present = "config")]
    pub inputs: Vec<String>,
    /// Read the documents of a source of this pipeline file instead (its paths, field mapping
    /// and storage options).
    #[arg(long, requires = "source", conflicts_with = "inputs")]
    pub config: Option<std::path::PathBuf>,
    /// The source of `--config` to read.
    #[arg(long, requires = "config")]
    pub source: Option<String>,
    /// Where to write the `tokenizer.json`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Vocabulary size, special tokens included.
    #[arg(long, default_value_t = 16384)]
    pub vocab_size: usize,
    /// Stop reading after this many bytes of text (the sample; bounds memory).
    #[arg(long, default_value_t = 200_000_000)]
    pub sample_bytes: u64,
    /// Minimum pair frequency for a merge.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// Special tokens, in id order from 0 (the first is the EOS token).
    #[arg(long, value_delimiter = ',', default_value = "<|endoftext|>")]
    pub special_tokens: Vec<String>,
    /// Field or column holding the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// The pre-tokenizer to train and encode with: `llama3` (cl100k: numbers in groups of up to
    /// three digits; the default), `qwen2` (single digits, NFC) or `deepseek-v3` (CJK runs apart
    /// from other letters), both suited to a Chinese-first corpus, `o200k` (GPT-4o) or `gpt2`.
    /// All run on the fast path.
    #[arg(long, default_value = "llama3", value_parser = parse_pattern)]
    pub pattern: PatternFamily,
    /// Held-out documents (files, globs or URLs, read like the inputs) to measure the trained
    /// tokenizer's compression on, in bytes of text per token; documents are grouped by their
    /// `lang` field when they have one.
    #[arg(long)]
    pub eval: Vec<String>,
}

fn parse_pattern(s: &str) -> Result<PatternFamily, String> {
    s.parse()
}

pub(super) fn train(args: TrainArgs) -> anyhow::Result<Exit> {
    let spec = match (&args.config, &args.source) {
        (Some(config), Some(name)) => {
            let plan = crate::config::load(config).map_err(|d| anyhow::anyhow!("{d}"))?;
            let source = plan.spec.sources.iter().find(|s| s.name() == name).ok_or_else(|| {
                let names: Vec<&str> = plan.spec.sources.iter().map(|s| s.name()).collect();
                anyhow::anyhow!(
                    "{} has no source `{name}` (sources: {})",
                    config.display(),
                    names.join(", ")
                )
            })?;
            FileSourceSpec {
                metadata_fields: Some(vec![]),
                where_sql: None,
                ..source.file().clone()
            }
        }
        _ => FileSourceSpec {
            text_field: args.text_field.clone(),
            metadata_fields: Some(vec![]),
            ..FileSourceSpec::new("train", args.inputs.clone())
        },
    };
    let mut texts: Vec<String> = Vec::new();
    let mut bytes = 0u64;
    let errors = source::for_each_document(&spec, |d| {
        bytes += d.text.len() as u64;
        texts.push(d.text);
        bytes < args.sample_bytes
    })?;
    anyhow::ensure!(!texts.is_empty(), "no documents read from {}", spec.paths.join(", "));
    tracing::info!(
        documents = texts.len(),
        bytes,
        skipped = errors,
        "training byte-level BPE, vocab {}, pattern {}",
        args.vocab_size,
        args.pattern
    );
    let cfg = BpeTrainingConfig {
        vocab_size: args.vocab_size,
        min_frequency: args.min_frequency,
        special_tokens: args.special_tokens,
        pattern: args.pattern,
        ..BpeTrainingConfig::default()
    };
    let tokenizer = train_byte_level_bpe(texts.into_iter(), &cfg)?;
    tokenizer.save(&args.output)?;
    let info = tokenizer.info();
    println!(
        "wrote {}: vocab {}, eos {:?}, hash {}",
        args.output.display(),
        info.vocab_size,
        info.eos_id,
        info.hash
    );
    if !args.eval.is_empty() {
        for line in compression(&tokenizer, &args.eval, &args.text_field)? {
            println!("{line}");
        }
    }
    Ok(Exit::Ok)
}

/// Bytes of text per token of `tokenizer` on the documents of `inputs`, per `lang` value
/// (documents without one count as `all` only), as printable lines.
fn compression(
    tokenizer: &Tokenizer,
    inputs: &[String],
    text_field: &str,
) -> anyhow::Result<Vec<String>> {
    let spec = FileSourceSpec {
        text_field: text_field.to_owned(),
        metadata_fields: None,
        ..FileSourceSpec::new("eval", inputs.to_vec())
    };
    let mut by_lang: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    let mut failure = None;
    source::for_each_document(&spec, |d| {
        let tokens = match tokenizer.encode(&d.text) {
            Ok(ids) => ids.len() as u64,
            Err(err) => {
                failure = Some(anyhow::anyhow!("document {}: {err}", d.id));
                return false;
            }
        };
        let lang = d.metadata.get("lang").and_then(serde_json::Value::as_str).map(str::to_owned);
        for key in std::iter::once("all".to_owned()).chain(lang) {
            let entry = by_lang.entry(key).or_default();
            *entry = (entry.0 + 1, entry.1 + d.text.len() as u64, entry.2 + tokens);
        }
        true
    })?;
    if let Some(err) = failure {
        return Err(err);
    }
    anyhow::ensure!(!by_lang.is_empty(), "no held-out documents read from {}", inputs.join(", "));
    Ok(by_lang
        .into_iter()
        .map(|(lang, (docs, bytes, tokens))| {
            format!(
                "held-out {lang}: {docs} documents, {bytes} bytes, {tokens} tokens, {:.3} bytes/token",
                bytes as f64 / tokens.max(1) as f64
            )
        })
        .collect())
}
