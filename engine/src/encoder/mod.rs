//! Transformer encoder classifiers (BERT, RoBERTa, XLM-RoBERTa) from Hugging Face checkpoints:
//! the model-based quality filters of FineWeb-Edu, Chinese-FineWeb-Edu and CCI3-HQ.
//!
//! A checkpoint is a directory with `config.json` ([`EncoderConfig`]: `model_type` `bert`,
//! `roberta` or `xlm-roberta`, absolute positions, post-LN, GELU; anything else is refused by
//! name) and `model.safetensors` ([`Weights`]: fp32, fp16 or bf16 on disk, computed in `f32`).
//! The head is the one the checkpoint declares: `BertForSequenceClassification` (pooler dense +
//! tanh on `[CLS]`, then the classifier) or `(XLM)RobertaForSequenceClassification` (dense +
//! tanh on `<s>`, then `out_proj`). With `num_labels = 1` the output is a regression score.
//!
//! [`Encoder::logits`] takes token ids with the special tokens already in place
//! ([`Encoder::frame`] adds them and truncates, as the tokenizer's post-processor with
//! `truncation=True` does) and runs on the calling thread (CPU; the CUDA backend does not run
//! encoders yet). Sequences of any lengths go in one call without padding work (see
//! `forward.rs`).
//!
//! ```no_run
//! use tokenmill_engine::encoder::Encoder;
//!
//! let model = Encoder::load(std::path::Path::new("fineweb-edu-classifier"))?;
//! let ids = model.frame(&[7592, 2088], 101, 102); // [CLS] hello world [SEP]
//! let score = model.logits(&[&ids])?[0][0];
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

mod config;
mod forward;
mod gemm;
mod weights;

use std::path::Path;

pub use config::{Activation, EncoderConfig, Family, Problem, SUPPORTED_MODEL_TYPES};
pub use forward::erf;
pub use weights::{Layer, Linear, Norm, Weights};

use crate::error::{Error, Result};

/// An encoder with its classification head, ready to score.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: EncoderConfig,
    weights: Weights,
}

impl Encoder {
    /// Loads `dir/config.json` and `dir/model.safetensors`.
    ///
    /// # Errors
    /// As [`EncoderConfig::from_file`] and [`Weights::from_file`].
    pub fn load(dir: &Path) -> Result<Self> {
        let config = EncoderConfig::from_file(&dir.join("config.json"))?;
        let weights = Weights::from_file(&dir.join("model.safetensors"), &config)?;
        Ok(Self { config, weights })
    }

    /// An encoder from parts already loaded.
    pub fn new(config: EncoderConfig, weights: Weights) -> Self {
        Self { config, weights }
    }

    /// The configuration.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// `[first] + ids + [last]`, with `ids` cut so the whole fits [`EncoderConfig::max_tokens`]
    /// (right truncation, as `truncation=True`).
    pub fn frame(&self, ids: &[u32], first: u32, last: u32) -> Vec<u32> {
        let keep = ids.len().min(self.config.max_tokens().saturating_sub(2));
        let mut out = Vec::with_capacity(keep + 2);
        out.push(first);
        out.extend_from_slice(&ids[..keep]);
        out.push(last);
        out
    }

    /// The head's outputs (`num_labels` logits, or the regression score) for each sequence.
    ///
    /// # Errors
    /// [`Error::Input`] if a sequence is empty, longer than [`EncoderConfig::max_tokens`] or
    /// holds an id outside the vocabulary (naming the sequence and the position).
    pub fn logits(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let max = self.config.max_tokens();
        for (i, s) in seqs.iter().enumerate() {
            if s.is_empty() || s.len() > max {
                return Err(Error::Input(format!(
                    "sequence {i} has {} tokens; the encoder takes 1 to {max}",
                    s.len()
                )));
            }
            if let Some(p) = s.iter().position(|&id| id as usize >= self.config.vocab_size) {
                return Err(Error::Input(format!(
                    "sequence {i} position {p}: token id {} is outside the vocabulary of {}",
                    s[p], self.config.vocab_size
                )));
            }
        }
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        Ok(forward::forward(&self.config, &self.weights, seqs))
    }
}
