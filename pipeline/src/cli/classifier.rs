//! `tokenmill train-classifier`: a fastText supervised model (`.bin`, softmax loss) from
//! labelled documents. The dictionary, tokenization and n-gram hashing are those of the one
//! fastText implementation (`tokenmill_filters::fasttext`): the dictionary of the training
//! documents is written as a model file and loaded, each document's input rows come from it
//! ([`FastText::line_rows`]), the engine trains the embedding bag and output layer on them
//! ([`Bag`]), and the trained matrices are written with the same dictionary. The file is
//! read by `quality_model`, `fasttext_classifier` and the `fasttext` tool alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;
use tokenmill_engine::classifier::{Bag, BagConfig, metrics};
use tokenmill_filters::fasttext::{Dictionary, FastText, ModelArgs, write_model};
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
    /// Where to write the model (a fastText `.bin`).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Field holding the label (any JSON value; strings are used as they are).
    #[arg(long, default_value = "label")]
    pub label_field: String,
    /// Field holding the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Share of documents held out for evaluation, chosen by a hash of the text (deterministic;
    /// the same text is always on the same side).
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    /// Embedding width (fastText's `-dim`).
    #[arg(long, default_value_t = 16)]
    pub dim: usize,
    /// Hash buckets for character and word n-grams (fastText's `-bucket`).
    #[arg(long, default_value_t = 1 << 18)]
    pub buckets: u32,
    /// Longest word n-gram (fastText's `-wordNgrams`; 1: words only).
    #[arg(long, default_value_t = 2)]
    pub word_ngrams: u32,
    /// Shortest character n-gram (fastText's `-minn`).
    #[arg(long, default_value_t = 0)]
    pub minn: u32,
    /// Longest character n-gram (fastText's `-maxn`; 0: none). Character n-grams make a model
    /// for text without spaces between words (Chinese, Japanese): e.g. `--minn 1 --maxn 3`.
    #[arg(long, default_value_t = 0)]
    pub maxn: u32,
    /// Words seen fewer times are left out of the dictionary (fastText's `-minCount`).
    #[arg(long, default_value_t = 1)]
    pub min_count: u32,
    /// Passes over the training documents.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Learning rate (fastText's `-lr`).
    #[arg(long, default_value_t = 0.1)]
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
    anyhow::ensure!(args.minn <= args.maxn, "--minn must not exceed --maxn");
    let examples = read_examples(&args)?;
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
    anyhow::ensure!(!train.is_empty(), "every document was held out; lower --holdout");
    tracing::info!(
        train = train.len(),
        held_out = test.len(),
        "training a {}-label classifier",
        labels.len()
    );
    let counts: Vec<(String, u64)> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), train.iter().filter(|(_, j)| *j as usize == i).count() as u64))
        .collect();
    let dict = Dictionary::build(train.iter().map(|(t, _)| *t), &counts, args.min_count);
    let model_args = ModelArgs {
        dim: args.dim,
        epoch: args.epochs as u32,
        min_count: args.min_count,
        word_ngrams: args.word_ngrams,
        bucket: args.buckets,
        minn: args.minn,
        maxn: args.maxn,
    };
    let features = dictionary_model(&args.output, &model_args, &dict)?;
    let rows: Vec<Vec<u32>> = train.par_iter().map(|(t, _)| features.line_rows(t)).collect();
    let data: Vec<(&[u32], u32)> =
        rows.iter().zip(&train).map(|(r, (_, l))| (&r[..], *l)).collect();
    let config = BagConfig { dim: args.dim, epochs: args.epochs, lr: args.lr, seed: args.seed };
    let bag = Bag::train(&config, features.input_rows(), labels.len(), &data)?;
    write_model(&args.output, &model_args, &dict, &bag.input, &bag.output)?;
    if !test.is_empty() {
        let model = FastText::load(&args.output)?;
        print_held_out(&model, &labels, &test);
    }
    println!(
        "wrote {} (fastText supervised model, {} words, {} labels: {})",
        args.output.display(),
        dict.words(),
        labels.len(),
        labels.join(", ")
    );
    Ok(Exit::Ok)
}

/// The labelled documents, cut to `max_chars`.
fn read_examples(args: &TrainClassifierArgs) -> anyhow::Result<Vec<(String, String)>> {
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
    tracing::info!(labelled = examples.len(), unlabelled, skipped = errors, "read the documents");
    anyhow::ensure!(
        !examples.is_empty(),
        "no labelled documents (field `{}`) in {}",
        args.label_field,
        args.inputs.join(", ")
    );
    Ok(examples)
}

/// The dictionary as a model with one-column zero matrices, loaded: it computes each
/// document's input rows exactly as the finished model will.
fn dictionary_model(
    output: &Path,
    args: &ModelArgs,
    dict: &Dictionary,
) -> anyhow::Result<FastText> {
    let path = output.with_extension("dictionary.tmp");
    let shape = ModelArgs { dim: 1, ..*args };
    let rows = dict.words() + args.bucket as usize;
    write_model(&path, &shape, dict, &vec![0.0; rows], &vec![0.0; dict.labels()])
        .with_context(|| format!("writing the dictionary next to {}", output.display()))?;
    let model = FastText::load(&path);
    std::fs::remove_file(&path).ok();
    Ok(model?)
}

/// Accuracy, macro F1 and per-label precision and recall of the written model's predictions.
fn print_held_out(model: &FastText, labels: &[String], test: &[(&str, u32)]) {
    let predicted: Vec<u32> = test
        .par_iter()
        .map(|(t, _)| model.predict_ids(t, Some(1), 0.0).first().map_or(0, |&(i, _)| i as u32))
        .collect();
    let actual: Vec<u32> = test.iter().map(|(_, l)| *l).collect();
    let m = metrics(&predicted, &actual, labels.len());
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

fn cut(mut text: String, max_chars: usize) -> String {
    if let Some((i, _)) = text.char_indices().nth(max_chars) {
        text.truncate(i);
    }
    text
}
