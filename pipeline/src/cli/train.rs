//! `tokenmill train-tokenizer`: byte-level BPE trained on a sample of documents.

use std::path::PathBuf;

use clap::Args;
use tokenmill_tokenize::{BpeTrainingConfig, train_byte_level_bpe};

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
}

pub(super) fn train(args: TrainArgs) -> anyhow::Result<Exit> {
    let spec = match (&args.config, &args.source) {
        (Some(config), Some(name)) => {
            let plan = crate::config::load(config).map_err(|d| anyhow::anyhow!("{d}"))?;
            let source = plan.spec.sources.iter().find(|s| s.name() == name).ok_or_else(|| {
                let names: Vec<&str> = plan.spec.sources.iter().map(|s| s.name()).collect();
                anyhow::anyhow!("{} has no source `{name}` (sources: {})", config.display(), names.join(", "))
            })?;
            FileSourceSpec { metadata_fields: Some(vec![]), where_sql: None, ..source.file().clone() }
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
    tracing::info!(documents = texts.len(), bytes, skipped = errors, "training byte-level BPE, vocab {}", args.vocab_size);
    let cfg = BpeTrainingConfig {
        vocab_size: args.vocab_size,
        min_frequency: args.min_frequency,
        special_tokens: args.special_tokens,
        ..BpeTrainingConfig::default()
    };
    let tokenizer = train_byte_level_bpe(texts.into_iter(), &cfg)?;
    tokenizer.save(&args.output)?;
    let info = tokenizer.info();
    println!("wrote {}: vocab {}, eos {:?}, hash {}", args.output.display(), info.vocab_size, info.eos_id, info.hash);
    Ok(Exit::Ok)
}
