//! `type = "fasttext_classifier"`: a fastText supervised model (`.bin` or `.ftz`, trained with
//! the `fasttext` tool: DCLM's quality classifier, FineWeb-Edu-style or toxicity classifiers, a
//! team's own) scores documents into their metadata and keeps or drops them by label
//! ([`tokenmill_filters::fasttext_classifier`]).
//!
//! Each predicted label's probability goes into the metadata field `score_prefix` + the label
//! without `__label__`: by default `__label__hq`, the field datatrove's
//! `FastTextClassifierFilter` writes. The documents of a batch are scored in parallel on the
//! runner's workers (each worker keeps its own cache of unknown words' rows).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokenmill_filters::fasttext_classifier::{
    FastTextClassifier, FastTextClassifierConfig, Preprocess,
};

use super::{BuildOperator, Operator, Outcome, Transform, Verdict};
use crate::document::Document;

/// `type = "fasttext_classifier"`: fastText label probabilities into metadata, a keep rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FastTextClassifierSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// The fastText model file (`.bin` or `.ftz`, supervised).
    pub model: PathBuf,
    /// Keep a document only if one of these labels reaches its probability, e.g.
    /// `{ hq = 0.5 }` (label with or without `__label__` -> minimum, 0..=1).
    #[serde(default)]
    pub keep_labels: BTreeMap<String, f64>,
    /// Drop a document if one of these labels reaches its probability, e.g. `{ toxic = 0.9 }`.
    #[serde(default)]
    pub remove_labels: BTreeMap<String, f64>,
    /// Labels predicted per document (labels; default: all of the model's).
    #[serde(default)]
    pub k: Option<usize>,
    /// Labels below this probability are neither written nor used (fastText's `threshold`,
    /// 0..=1; default 0).
    #[serde(default)]
    pub threshold: f64,
    /// Metadata fields are this prefix + the label without `__label__` (default `__label__`,
    /// datatrove's field names; e.g. `dclm_` gives `dclm_hq`).
    #[serde(default = "default_score_prefix")]
    pub score_prefix: String,
    /// Write the probabilities into the metadata (default true).
    #[serde(default = "default_save_scores")]
    pub save_scores: bool,
    /// Text preparation, e.g. `{ join_lines = true, lowercase = true }` (DCLM-style) or
    /// `{ segment = "jieba" }` (a Chinese model trained on jieba-segmented text); see
    /// [`Preprocess`]. Default: the text as it is, newlines as spaces.
    #[serde(default)]
    pub preprocess: Preprocess,
    /// `true`: fastText's exact probabilities (rows added in its order); `false`: per-word
    /// row sums, faster, probabilities within float rounding of fastText's. Unset (default):
    /// per-word sums for softmax and hierarchical-softmax models, fastText's order for
    /// one-vs-all ones (`Summation::Auto`).
    #[serde(default)]
    pub exact: Option<bool>,
}

fn default_score_prefix() -> String {
    tokenmill_filters::fasttext::LABEL_PREFIX.into()
}

fn default_save_scores() -> bool {
    true
}

/// The stage: the classifier and each label's metadata field.
#[derive(Debug)]
pub struct FastTextClassifierStage {
    classifier: FastTextClassifier,
    /// Metadata field per label index; `None` when scores are not saved.
    fields: Option<Vec<String>>,
}

impl FastTextClassifierStage {
    /// Loads the model named by the spec and checks its labels.
    ///
    /// # Errors
    /// The model cannot be read, a label is not the model's, or a threshold is out of range.
    pub fn new(spec: &FastTextClassifierSpec) -> anyhow::Result<Self> {
        let classifier = FastTextClassifier::new(FastTextClassifierConfig {
            model: spec.model.clone(),
            keep_labels: spec.keep_labels.clone(),
            remove_labels: spec.remove_labels.clone(),
            k: spec.k,
            threshold: spec.threshold,
            preprocess: spec.preprocess.clone(),
            exact: spec.exact,
        })?;
        let fields = spec.save_scores.then(|| {
            classifier.labels().iter().map(|l| format!("{}{l}", spec.score_prefix)).collect()
        });
        Ok(Self { classifier, fields })
    }
}

impl Transform for FastTextClassifierStage {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let scores = self.classifier.scores(&doc.text);
        if let Some(fields) = &self.fields {
            for &(label, p) in &scores {
                doc.metadata.insert(fields[label].clone(), Value::from(f64::from(p)));
            }
        }
        match self.classifier.decide(&scores) {
            Verdict::Keep => Outcome::keep(),
            Verdict::Drop(rule) => Outcome::drop(rule),
        }
    }
}

impl BuildOperator for FastTextClassifierSpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        Ok(Some(Operator::Transform(Box::new(FastTextClassifierStage::new(self)?))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/fasttext/genre.bin");

    fn stage(toml: &str) -> anyhow::Result<Operator> {
        let spec: FastTextClassifierSpec =
            toml::from_str(&format!("name = \"x\"\ninputs = [\"in\"]\nmodel = {MODEL:?}\n{toml}"))?;
        spec.operator()?.ok_or_else(|| anyhow::anyhow!("a per-batch stage"))
    }

    #[test]
    fn writes_label_scores_and_keeps_by_label() -> anyhow::Result<()> {
        let Operator::Transform(t) =
            stage("keep_labels = { poetry = 0.5 }\nscore_prefix = \"g_\"")?
        else {
            anyhow::bail!("a transform")
        };
        let mut poem = Document::new("p", "春宵一刻值千金，\n花有清香月有陰。");
        assert_eq!(t.apply(&mut poem), Outcome::keep());
        assert!(poem.metadata["g_poetry"].as_f64().is_some_and(|p| p > 0.5), "{:?}", poem.metadata);
        let mut doc = Document::new("d", "Run cargo build --release to compile the crate.");
        assert_eq!(t.apply(&mut doc).dropped, Some("fasttext_low_score"));
        assert!(doc.metadata.contains_key("g_docs"), "{:?}", doc.metadata);
        Ok(())
    }

    #[test]
    fn rejects_a_label_the_model_lacks() {
        let Err(err) = stage("remove_labels = { toxic = 0.9 }") else {
            panic!("a label the model lacks was accepted")
        };
        let err = err.to_string();
        assert!(err.contains("no label `toxic`"), "{err}");
    }
}
