//! `type = "perplexity"`: scores each document by its perplexity under a small language model
//! (`tokenmill train-lm`), writes the score into its metadata, and drops documents outside the
//! configured range. Documents of fewer than two tokens cannot be scored and are kept unscored
//! (counted as `unscored`).
//!
//! The model predicts a compacted vocabulary in which every id outside its `cap - 1` most
//! frequent ones is one shared "rare" id. Taken as it is, its perplexity would call a text made
//! of rare ids (another script, say) very likely. So each predicted rare token also pays the
//! cost of naming which rare id it is, as if they were equally likely: `ln(V - kept)` nats,
//! where `V` is the tokenizer's vocabulary. The score is then a perplexity over the tokenizer's
//! whole vocabulary.

use std::path::Path;

use tokenmill_tokenize::Tokenizer;

use super::PerplexitySpec;
use super::{Outcome, Transform};
use crate::document::Document;
use crate::lm::LanguageModel;

/// A loaded language model and the perplexity range to keep.
#[derive(Debug)]
pub struct PerplexityFilter {
    lm: LanguageModel,
    tokenizer: Tokenizer,
    field: String,
    min: Option<f64>,
    max: Option<f64>,
    max_tokens: usize,
    /// Nats to name one of the rare ids.
    rare_cost: f64,
}

impl PerplexityFilter {
    /// Loads the model and the tokenizer, and checks that they belong together.
    ///
    /// # Errors
    /// Either cannot be read, the tokenizer is not the one the model was trained with, or the
    /// range is empty.
    pub fn new(spec: &PerplexitySpec) -> anyhow::Result<Self> {
        let lm = LanguageModel::load(Path::new(&spec.model))?;
        let tokenizer = super::tokenize::load_tokenizer(&spec.tokenizer)?;
        anyhow::ensure!(
            tokenizer.info().hash == lm.tokenizer_hash,
            "model {} was trained with another tokenizer than {} (hash {} vs {})",
            spec.model,
            spec.tokenizer,
            lm.tokenizer_hash,
            tokenizer.info().hash
        );
        if let (Some(lo), Some(hi)) = (spec.min_perplexity, spec.max_perplexity) {
            anyhow::ensure!(lo < hi, "min_perplexity {lo} must be below max_perplexity {hi}");
        }
        anyhow::ensure!(spec.max_tokens >= 2, "max_tokens must be at least 2");
        let rare_ids = tokenizer.info().vocab_size.saturating_sub(lm.compaction.size() - 1).max(1);
        Ok(Self {
            rare_cost: (rare_ids as f64).ln(),
            lm,
            tokenizer,
            field: spec.score_field.clone(),
            min: spec.min_perplexity,
            max: spec.max_perplexity,
            max_tokens: spec.max_tokens,
        })
    }

    /// The perplexity of a text's first `max_tokens` tokens; `None` under two tokens.
    fn score(&self, text: &str) -> anyhow::Result<Option<f64>> {
        // Encoding a long document only to keep its start would waste time: cut the text first
        // (a token is rarely more than 16 bytes), at a character boundary.
        let cut = text.char_indices().nth(self.max_tokens * 16).map_or(text, |(i, _)| &text[..i]);
        let mut ids = self.tokenizer.encode(cut)?;
        ids.truncate(self.max_tokens);
        if ids.len() < 2 {
            return Ok(None);
        }
        let compact = self.lm.compaction.apply(&ids);
        let rare = (self.lm.compaction.size() - 1) as u32;
        let rare_targets = compact[1..].iter().filter(|&&c| c == rare).count();
        let loss = self.lm.gpt.document_loss(&compact)?
            + rare_targets as f64 / (compact.len() - 1) as f64 * self.rare_cost;
        Ok(Some(loss.exp()))
    }
}

impl Transform for PerplexityFilter {
    fn apply(&self, doc: &mut Document) -> Outcome {
        match self.score(&doc.text) {
            Ok(Some(ppl)) => {
                let rounded = (ppl * 1e3).round() / 1e3;
                doc.metadata.insert(self.field.clone(), serde_json::Value::from(rounded));
                let dropped = if self.max.is_some_and(|m| ppl > m) {
                    Some("above_max_perplexity")
                } else if self.min.is_some_and(|m| ppl < m) {
                    Some("below_min_perplexity")
                } else {
                    None
                };
                Outcome { dropped, counts: vec![] }
            }
            Ok(None) => Outcome { dropped: None, counts: vec![("unscored", 1)] },
            // Encoding failures are the tokenizer's (they do not happen for byte-level BPE); the
            // document is kept and counted rather than lost.
            Err(_) => Outcome { dropped: None, counts: vec![("score_failed", 1)] },
        }
    }
}

impl super::BuildOperator for PerplexitySpec {
    fn operator(&self) -> anyhow::Result<Option<super::Operator>> {
        Ok(Some(super::Operator::Transform(Box::new(PerplexityFilter::new(self)?))))
    }
}
