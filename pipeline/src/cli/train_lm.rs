//! `tokenmill train-lm`: a small GPT over a tokenizer's ids, for the `perplexity` stage.
//!
//! The usual recipe (CCNet, the Gopher and Llama data pipelines) trains a language model on text
//! of the quality one wants (an encyclopedia, curated books) and keeps web documents the model
//! finds likely. This trains tokenmill's own GPT on the documents given, on the CPU or a GPU.

use std::path::PathBuf;

use clap::Args;
use tokenmill_engine::device::DeviceRequest;
use tokenmill_engine::gpt::unigram_entropy;

use super::Exit;
use super::train_verify::LmArgs;
use crate::config::FileSourceSpec;
use crate::lm::{Compaction, LanguageModel};
use crate::source;

/// `tokenmill train-lm` arguments.
#[derive(Debug, Args)]
pub struct TrainLmArgs {
    /// Reference documents: files, globs or URLs (JSONL plain/.gz/.zst, or .parquet).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// The tokenizer (`tokenizer.json`); the `perplexity` stage must use the same one.
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// Where to write the model (`.tmlm`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Field holding the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// The model and how long it trains.
    #[command(flatten)]
    pub model: LmArgs,
    /// `auto` (a GPU if there is one), `cpu`, or `cuda[:N]`.
    #[arg(long, default_value = "auto")]
    pub device: DeviceRequest,
}

pub(super) fn train(args: TrainLmArgs) -> anyhow::Result<Exit> {
    let tokenizer = tokenmill_tokenize::Tokenizer::from_file(&args.tokenizer)?;
    let spec = FileSourceSpec {
        text_field: args.text_field.clone(),
        ..FileSourceSpec::new("train", args.inputs.clone())
    };
    let (mut train, mut heldout) = (Vec::new(), Vec::new());
    let mut docs = 0u64;
    let mut failure = None;
    let skipped = source::for_each_document(&spec, |d| {
        match tokenizer.encode(&d.text) {
            Ok(ids) => {
                // Every tenth document is held out to report the model's loss.
                if docs % 10 == 9 {
                    heldout.extend(ids)
                } else {
                    train.extend(ids)
                }
                docs += 1;
            }
            Err(e) => failure = Some(e),
        }
        failure.is_none() && train.len() < args.model.max_tokens
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    anyhow::ensure!(
        train.len() > args.model.context * 4 && heldout.len() > args.model.context + 1,
        "too few tokens to train on: {} train, {} held out (from {} documents)",
        train.len(),
        heldout.len(),
        docs
    );
    let compaction = Compaction::fit(&train, args.model.vocab_cap);
    let (train_c, heldout_c) = (compaction.apply(&train), compaction.apply(&heldout));
    let (device, why) = args.device.resolve()?;
    tracing::info!(%device, documents = docs, train_tokens = train.len(), skipped, "train-lm: {why}");
    let (gpt, report) = args.model.train(compaction.size(), device, &train_c)?;
    let loss = gpt.eval_loss(&heldout_c, 64)?;
    let entropy = unigram_entropy(&heldout_c);
    let lm = LanguageModel { tokenizer_hash: tokenizer.info().hash.clone(), compaction, gpt };
    lm.save(&args.output)?;
    println!(
        "wrote {}: {} parameters, {} steps in {:.1}s on {device}; held-out loss {loss:.3} nats (perplexity {:.1}) vs unigram entropy {entropy:.3}",
        args.output.display(),
        lm.gpt.parameter_count(),
        args.model.steps,
        report.seconds,
        loss.exp()
    );
    Ok(Exit::Ok)
}
