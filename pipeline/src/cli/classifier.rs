//! `tokenmill train-classifier`: a fastText-style classifier from labelled documents.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use tokenmill_engine::classifier::{Classifier, ClassifierConfig};
use xxhash_rust::xxh3::xxh3_64;

use super::Exit;
use crate::config::FileSourceSpec;
use crate::source;

/// `tokenmill train-classifier` arguments.
#[derive(Debug, Args)]
pub struct TrainClassifierArgs {
    /// Labelled input files, globs or URLs (JSONL plain/.gz/.zst, or .parquet).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Where to write the model file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Field holding the label (any JSON value; strings are used as they are).
    #[arg(long, default_value = "label")]
    pub label_field: String,
    /// Field holding the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Share of documents held out for evaluation, chosen by a hash of the text (deterministic).
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    /// Embedding width.
    #[arg(long, default_value_t = 16)]
    pub dim: usize,
    /// Hash buckets for word unigram and bigram features (the model holds buckets x dim floats).
    #[arg(long, default_value_t = 1 << 16)]
    pub buckets: u32,
    /// Passes over the training documents.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.5)]
    pub lr: f32,
    /// Characters of each document used (long documents are cut).
    #[arg(long, default_value_t = 20_000)]
    pub max_chars: usize,
    /// Seed for initialization and example order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub(super) fn train(args: TrainClassifierArgs) -> anyhow::Result<Exit> {
    anyhow::ensure!((0.0..1.0).contains(&args.holdout), "--holdout must be in [0, 1)");
    let spec = FileSourceSpec {
        text_field: args.text_field.clone(),
        metadata_fields: Some(vec![args.label_field.clone()]),
        ..FileSourceSpec::new("train", args.inputs.clone())
    };
    let mut examples: Vec<(String, String)> = Vec::new();
    let mut unlabelled = 0u64;
    let errors = source::for_each_document(&spec, |d| {
        match d.metadata.get(&args.label_field) {
            None | Some(serde_json::Value::Null) => unlabelled += 1,
            Some(serde_json::Value::String(s)) => {
                examples.push((cut(d.text, args.max_chars), s.clone()))
            }
            Some(other) => examples.push((cut(d.text, args.max_chars), other.to_string())),
        }
        true
    })?;
    anyhow::ensure!(
        !examples.is_empty(),
        "no labelled documents (field `{}`) in {}",
        args.label_field,
        args.inputs.join(", ")
    );
    let labels: Vec<String> = examples
        .iter()
        .map(|(_, l)| l.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let index: BTreeMap<&str, u32> =
        labels.iter().enumerate().map(|(i, l)| (l.as_str(), i as u32)).collect();
    let cutoff = (args.holdout * u64::MAX as f64) as u64;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (text, label) in &examples {
        let pair = (text.as_str(), index[label.as_str()]);
        if xxh3_64(text.as_bytes()) < cutoff { test.push(pair) } else { train.push(pair) }
    }
    tracing::info!(
        train = train.len(),
        held_out = test.len(),
        unlabelled,
        skipped = errors,
        "training a {}-label classifier",
        labels.len()
    );
    let config = ClassifierConfig {
        dim: args.dim,
        buckets: args.buckets,
        epochs: args.epochs,
        lr: args.lr,
        seed: args.seed,
        ..ClassifierConfig::default()
    };
    let model = Classifier::train(&config, labels.clone(), &train)?;
    if !test.is_empty() {
        let m = model.evaluate(&test)?;
        println!(
            "held out: {} documents, accuracy {:.4}, macro F1 {:.4}",
            m.examples, m.accuracy, m.macro_f1
        );
        for (label, l) in labels.iter().zip(&m.per_label) {
            println!(
                "  {label:<24} precision {:.4} recall {:.4} F1 {:.4} support {}",
                l.precision, l.recall, l.f1, l.support
            );
        }
    }
    model.save(&args.output)?;
    println!("wrote {} ({} labels: {})", args.output.display(), labels.len(), labels.join(", "));
    Ok(Exit::Ok)
}

fn cut(mut text: String, max_chars: usize) -> String {
    if let Some((i, _)) = text.char_indices().nth(max_chars) {
        text.truncate(i);
    }
    text
}
