//! `type = "quality_model"`: score documents with a trained classifier, keep those in range.
//!
//! The score is the model's probability of one label (`label`), written into the document's
//! metadata (`score_field`) so that later stages, sinks and `where` clauses can use it.
//! Documents are scored a batch at a time on the CPU backend.

use tokenmill_engine::classifier::Classifier;

use crate::config::QualityModelSpec;
use crate::document::Document;

/// A loaded classifier and the score range to keep.
#[derive(Debug)]
pub struct QualityModel {
    model: Classifier,
    label: usize,
    field: String,
    min: Option<f32>,
    max: Option<f32>,
    max_chars: usize,
}

impl QualityModel {
    /// Loads the model named by the spec.
    ///
    /// # Errors
    /// The model cannot be read, or it has no such label.
    pub fn new(spec: &QualityModelSpec) -> anyhow::Result<Self> {
        let model = Classifier::load(std::path::Path::new(&spec.model)).map_err(|e| anyhow::anyhow!("model {}: {e}", spec.model))?;
        let label = match &spec.label {
            None => 0,
            Some(l) => model
                .labels()
                .iter()
                .position(|m| m == l)
                .ok_or_else(|| anyhow::anyhow!("model {} has no label `{l}` (labels: {})", spec.model, model.labels().join(", ")))?,
        };
        Ok(Self { model, label, field: spec.score_field.clone(), min: spec.min_score, max: spec.max_score, max_chars: spec.max_chars })
    }

    /// Scores a batch, writes each score into metadata, and returns which documents to keep
    /// (`None`) or drop (the rule).
    pub fn run(&self, docs: &mut [Document]) -> Vec<Option<&'static str>> {
        let texts: Vec<&str> = docs.iter().map(|d| prefix(&d.text, self.max_chars)).collect();
        let scores = self.model.score_batch(&texts);
        docs.iter_mut()
            .zip(scores)
            .map(|(doc, probs)| {
                let score = probs.get(self.label).copied().unwrap_or(0.0);
                let rounded = (f64::from(score) * 1e6).round() / 1e6;
                doc.metadata.insert(self.field.clone(), serde_json::Value::from(rounded));
                if self.min.is_some_and(|m| score < m) {
                    Some("below_min_score")
                } else if self.max.is_some_and(|m| score > m) {
                    Some("above_max_score")
                } else {
                    None
                }
            })
            .collect()
    }
}

fn prefix(text: &str, max_chars: usize) -> &str {
    text.char_indices().nth(max_chars).map_or(text, |(i, _)| &text[..i])
}
