//! `type = "transformer_classifier"`: score documents with a Hugging Face encoder classifier
//! (BERT, RoBERTa, XLM-R: FineWeb-Edu's, Chinese-FineWeb-Edu's, CCI3-HQ's), keep those in range.
//!
//! `model` is a directory as downloaded from the Hub: `config.json`, `model.safetensors`,
//! `tokenizer.json` ([`tokenmill_engine::encoder`] says which checkpoints load). Each document's
//! text (its first `max_chars` characters) is tokenized, framed with the model's first and last
//! special tokens (`[CLS]`/`[SEP]`, `<s>`/`</s>`) and truncated to the model's length (512
//! tokens), as the Hugging Face tokenizer does with `truncation=True`. The score written into
//! `score_field` is the regression output of a `num_labels = 1` model, or the softmax
//! probability of `label` (the sigmoid for multi-label models); `min_score` / `max_score` keep
//! a range.
//!
//! A batch is tokenized in parallel on the worker pool, sorted by length, and cut into groups of
//! at most `batch_tokens` tokens, each group one forward pass (no padding: the encoder packs
//! sequences). Groups run in parallel on the pool, each on one thread. Only the CPU runs
//! encoders for now: `device = "auto"` uses it, `cuda` is refused at build time.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenmill_engine::device::DeviceRequest;
use tokenmill_engine::encoder::{Encoder, Family, Problem};
use tokenmill_tokenize::Tokenizer;

use super::{BatchScorer, BuildOperator, Operator};
use crate::document::Document;

/// `type = "transformer_classifier"`: an encoder classifier's score as a filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerClassifierSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// Model directory: `config.json`, `model.safetensors`, `tokenizer.json`.
    pub model: String,
    /// Where it runs: `cpu` (default) or `auto` (the CPU: the CUDA path for encoders is not
    /// built yet, so `cuda`/`cuda:N` is an error).
    #[serde(default = "default_device")]
    pub device: String,
    /// Tokens per forward pass (documents are grouped by length up to this many tokens).
    #[serde(default = "default_batch_tokens")]
    pub batch_tokens: usize,
    /// For a classification model, the label whose probability is the score (a name from the
    /// config's `id2label`); default: the last label. Not allowed for a regression model, whose
    /// score is its output.
    #[serde(default)]
    pub label: Option<String>,
    /// Metadata field the score is written to.
    #[serde(default = "default_score_field")]
    pub score_field: String,
    /// Drop documents scoring below this.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Drop documents scoring above this.
    #[serde(default)]
    pub max_score: Option<f32>,
    /// Characters of each document tokenized (its start); tokens past the model's length are
    /// cut anyway, this bounds the tokenizer's work on huge documents.
    #[serde(default = "default_max_chars")]
    pub max_chars: usize,
}

fn default_device() -> String {
    "cpu".into()
}
fn default_batch_tokens() -> usize {
    8192
}
fn default_score_field() -> String {
    "classifier_score".into()
}
fn default_max_chars() -> usize {
    100_000
}

/// A loaded encoder, its tokenizer and the range to keep.
#[derive(Debug)]
pub struct TransformerClassifier {
    encoder: Encoder,
    tokenizer: Tokenizer,
    /// The special tokens framing every input.
    first: u32,
    last: u32,
    /// `None`: the regression output; `Some(i)`: the probability of label `i`.
    label: Option<usize>,
    spec: TransformerClassifierSpec,
}

impl TransformerClassifier {
    /// Loads the model directory the spec names.
    ///
    /// # Errors
    /// A file cannot be read or is not a supported checkpoint, the tokenizer lacks the special
    /// tokens, the label does not exist, or a GPU is requested.
    pub fn new(spec: &TransformerClassifierSpec) -> anyhow::Result<Self> {
        let dir = std::path::Path::new(&spec.model);
        match spec.device.parse::<DeviceRequest>()? {
            DeviceRequest::Cpu | DeviceRequest::Auto => {}
            DeviceRequest::Cuda(_) => anyhow::bail!(
                "transformer_classifier {}: device {:?}: encoders run on the CPU only for now \
                 (use \"cpu\" or \"auto\")",
                spec.name,
                spec.device
            ),
        }
        anyhow::ensure!(
            spec.batch_tokens > 0,
            "transformer_classifier {}: batch_tokens is 0",
            spec.name
        );
        let encoder =
            Encoder::load(dir).map_err(|e| anyhow::anyhow!("model {}: {e}", spec.model))?;
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| anyhow::anyhow!("model {}: {e}", spec.model))?;
        let config = encoder.config();
        let (first, last) = match config.family {
            Family::Bert => ("[CLS]", "[SEP]"),
            Family::Roberta => ("<s>", "</s>"),
        };
        let special = |t: &str| {
            tokenizer.token_to_id(t).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no {t} token for a {} model",
                    tok_path.display(),
                    config.model_type
                )
            })
        };
        let (first, last) = (special(first)?, special(last)?);
        let label = match (config.problem, &spec.label) {
            (Problem::Regression, None) => None,
            (Problem::Regression, Some(l)) => anyhow::bail!(
                "model {} is a regression model (one score): it has no label {l:?}",
                spec.model
            ),
            (_, None) => Some(config.num_labels - 1),
            (_, Some(l)) => Some(config.labels.iter().position(|m| m == l).ok_or_else(|| {
                anyhow::anyhow!(
                    "model {} has no label {l:?} (labels: {})",
                    spec.model,
                    config.labels.join(", ")
                )
            })?),
        };
        tracing::info!(
            stage = %spec.name,
            model_type = %config.model_type,
            layers = config.num_layers,
            hidden = config.hidden_size,
            "transformer_classifier: scoring on the CPU"
        );
        Ok(Self { encoder, tokenizer, first, last, label, spec: spec.clone() })
    }

    /// The model's input for one text, or why it has none.
    fn input(&self, text: &str) -> Result<Vec<u32>, &'static str> {
        let text = text.char_indices().nth(self.spec.max_chars).map_or(text, |(i, _)| &text[..i]);
        let ids = self.tokenizer.encode(text).map_err(|_| "tokenize_failed")?;
        let vocab = self.encoder.config().vocab_size;
        if ids.iter().any(|&id| id as usize >= vocab) {
            return Err("token_out_of_vocab");
        }
        Ok(self.encoder.frame(&ids, self.first, self.last))
    }

    /// The score of one output row.
    fn score(&self, logits: &[f32]) -> f32 {
        let Some(i) = self.label else { return logits[0] };
        if self.encoder.config().problem == Problem::MultiLabel {
            return 1.0 / (1.0 + (-logits[i]).exp());
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
        (logits[i] - max).exp() / sum
    }
}

impl BatchScorer for TransformerClassifier {
    /// Drops documents the tokenizer fails on (`tokenize_failed`) or that hold ids outside the
    /// model's vocabulary (`token_out_of_vocab`); an error means the encoder refused an input
    /// it was given (a bug: inputs are checked first).
    fn run(&self, docs: &mut [Document]) -> anyhow::Result<Vec<Option<&'static str>>> {
        let inputs: Vec<Result<Vec<u32>, &'static str>> =
            docs.par_iter().map(|d| self.input(&d.text)).collect();
        // Scorable documents by length, cut into groups of at most `batch_tokens` tokens.
        let mut order: Vec<usize> = (0..docs.len()).filter(|&i| inputs[i].is_ok()).collect();
        order.sort_by_key(|&i| inputs[i].as_ref().map_or(0, Vec::len));
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut tokens = usize::MAX;
        for i in order {
            let n = inputs[i].as_ref().map_or(0, Vec::len);
            if tokens.saturating_add(n) > self.spec.batch_tokens {
                groups.push(Vec::new());
                tokens = 0;
            }
            tokens += n;
            if let Some(g) = groups.last_mut() {
                g.push(i);
            }
        }
        let scored: Vec<Vec<(usize, f32)>> = groups
            .par_iter()
            .map(|g| {
                let seqs: Vec<&[u32]> =
                    g.iter().map(|&i| inputs[i].as_ref().map_or(&[][..], Vec::as_slice)).collect();
                let logits = self.encoder.logits(&seqs)?;
                Ok(g.iter().zip(&logits).map(|(&i, l)| (i, self.score(l))).collect())
            })
            .collect::<anyhow::Result<_>>()?;
        let mut scores = vec![None; docs.len()];
        for (i, s) in scored.into_iter().flatten() {
            scores[i] = Some(s);
        }
        Ok(docs
            .iter_mut()
            .zip(scores.into_iter().zip(&inputs))
            .map(|(doc, (score, input))| {
                let score = match (score, input) {
                    (Some(s), _) => s,
                    (None, Err(rule)) => return Some(*rule),
                    (None, Ok(_)) => return Some("unscored"),
                };
                let rounded = (f64::from(score) * 1e6).round() / 1e6;
                doc.metadata
                    .insert(self.spec.score_field.clone(), serde_json::Value::from(rounded));
                if self.spec.min_score.is_some_and(|m| score < m) {
                    Some("below_min_score")
                } else if self.spec.max_score.is_some_and(|m| score > m) {
                    Some("above_max_score")
                } else {
                    None
                }
            })
            .collect())
    }
}

impl BuildOperator for TransformerClassifierSpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        Ok(Some(Operator::Scorer(Box::new(TransformerClassifier::new(self)?))))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        root.join("engine/tests/fixtures/encoder").join(name).display().to_string()
    }

    fn spec(extra: &str) -> TransformerClassifierSpec {
        toml::from_str(&format!(
            "name = \"t\"\ninputs = [\"in\"]\nmodel = {:?}\n{extra}",
            fixture("xlmr-2labels")
        ))
        .unwrap()
    }

    #[test]
    fn groups_by_tokens_and_scores_every_document() {
        let one = TransformerClassifier::new(&spec("batch_tokens = 1")).unwrap();
        let many = TransformerClassifier::new(&spec("label = \"LABEL_0\"")).unwrap();
        let texts = ["短文本", "", "a longer English text about the weather", &"诗 ".repeat(400)];
        let mut a: Vec<Document> = texts.iter().map(|t| Document::new("d", *t)).collect();
        let mut b = a.clone();
        assert_eq!(one.run(&mut a).unwrap(), vec![None; 4]);
        assert_eq!(many.run(&mut b).unwrap(), vec![None; 4]);
        for (x, y) in a.iter().zip(&b) {
            let (p1, p0) = (
                x.metadata["classifier_score"].as_f64().unwrap(),
                y.metadata["classifier_score"].as_f64().unwrap(),
            );
            assert!((p1 + p0 - 1.0).abs() < 2e-6, "{p1} + {p0}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let err = TransformerClassifier::new(&spec("device = \"cuda\"")).unwrap_err();
        assert!(err.to_string().contains("CPU only"), "{err}");
        let err = TransformerClassifier::new(&spec("label = \"nope\"")).unwrap_err();
        assert!(err.to_string().contains("LABEL_0, LABEL_1"), "{err}");
        let mut s = spec("");
        s.model = fixture("bert-regression");
        s.label = Some("x".into());
        assert!(TransformerClassifier::new(&s).unwrap_err().to_string().contains("regression"));
    }
}
