//! `config.json` of a Hugging Face encoder checkpoint: the architecture, its sizes and its head.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The encoder families tokenmill runs (`model_type` in `config.json`).
pub const SUPPORTED_MODEL_TYPES: [&str; 3] = ["bert", "roberta", "xlm-roberta"];

/// Which family: it decides the position ids, the weight names and the classification head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// BERT (and BERT-architecture models such as arctic-embed, BGE v1.5): positions from 0,
    /// a pooler (dense + tanh on `[CLS]`) before the classifier.
    Bert,
    /// RoBERTa and XLM-RoBERTa (BGE-M3): positions from `pad_token_id + 1`, skipping pad
    /// tokens, and a classification head of dense + tanh + out_proj on `<s>`.
    Roberta,
}

/// The activation of the feed-forward layers (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: the exact GELU, `x * Phi(x)` (erf).
    Gelu,
    /// `gelu_new`, `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
}

/// What the head's outputs mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// `num_labels = 1`: one regression score (FineWeb-Edu's classifier).
    Regression,
    /// Two or more labels: logits of a softmax.
    SingleLabel,
    /// `problem_type = "multi_label_classification"`: one sigmoid per label.
    MultiLabel,
}

/// The parts of `config.json` the forward pass needs, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// The family (from `model_type`).
    pub family: Family,
    /// `model_type` as written.
    pub model_type: String,
    /// The head class (`architectures[0]`).
    pub architecture: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Attention heads per layer.
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Rows of the position embedding table.
    pub max_position_embeddings: usize,
    /// Rows of the token type embedding table.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f32,
    /// The padding token id (RoBERTa's positions are counted from it).
    pub pad_token_id: u32,
    /// Number of outputs of the head.
    pub num_labels: usize,
    /// Label names, by output index (`id2label`; `LABEL_i` where the config has none).
    pub labels: Vec<String>,
    /// What the outputs mean.
    pub problem: Problem,
}

#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_act")]
    hidden_act: String,
    max_position_embeddings: usize,
    #[serde(default = "default_types")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    pad_token_id: Option<u32>,
    position_embedding_type: Option<String>,
    num_labels: Option<usize>,
    id2label: Option<BTreeMap<String, String>>,
    problem_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl EncoderConfig {
    /// Reads and checks `config.json`.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, [`Error::Format`] if it is not a valid config, and
    /// [`Error::Config`] for a `model_type`, head, activation or position embedding that
    /// tokenmill does not run (the message names it and lists what is supported).
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        Self::from_json(&bytes, &path.display().to_string())
    }

    /// Parses and checks the bytes of a `config.json`; `origin` names it in errors.
    ///
    /// # Errors
    /// As for [`EncoderConfig::from_file`].
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Self> {
        let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| Error::Format {
            context: format!("{origin} line {} column {}", e.line(), e.column()),
            reason: e.to_string(),
        })?;
        let unsupported = |what: String| Error::Config(format!("{origin}: {what}"));
        let model_type = raw.model_type.unwrap_or_default();
        let family = match model_type.as_str() {
            "bert" => Family::Bert,
            "roberta" | "xlm-roberta" => Family::Roberta,
            other => {
                return Err(unsupported(format!(
                    "model_type {other:?} is not supported; tokenmill runs {} encoders",
                    SUPPORTED_MODEL_TYPES.join(", ")
                )));
            }
        };
        let architecture = raw.architectures.first().cloned().unwrap_or_default();
        let heads: &[&str] = match family {
            Family::Bert => &["BertForSequenceClassification"],
            Family::Roberta => {
                &["RobertaForSequenceClassification", "XLMRobertaForSequenceClassification"]
            }
        };
        if !heads.contains(&architecture.as_str()) {
            return Err(unsupported(format!(
                "architectures {:?} has no classification head tokenmill runs (expected {})",
                raw.architectures,
                heads.join(" or ")
            )));
        }
        let activation = match raw.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(unsupported(format!(
                    "hidden_act {other:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
                )));
            }
        };
        if let Some(p) = raw.position_embedding_type.as_deref().filter(|p| *p != "absolute") {
            return Err(unsupported(format!(
                "position_embedding_type {p:?} is not supported (only \"absolute\")"
            )));
        }
        let labels: Vec<String> = match (&raw.id2label, raw.num_labels) {
            (Some(map), n) if n.is_none_or(|n| n == map.len()) => {
                let mut v = vec![String::new(); map.len()];
                for (k, name) in map {
                    let slot = k.parse::<usize>().ok().and_then(|i| v.get_mut(i));
                    let slot = slot.ok_or_else(|| Error::Format {
                        context: origin.to_string(),
                        reason: format!("id2label key {k:?} is not an index below {}", map.len()),
                    })?;
                    *slot = name.clone();
                }
                v
            }
            (_, n) => (0..n.unwrap_or(2)).map(|i| format!("LABEL_{i}")).collect(),
        };
        let num_labels = labels.len();
        let problem = match (raw.problem_type.as_deref(), num_labels) {
            (Some("multi_label_classification"), _) => Problem::MultiLabel,
            (Some("regression"), _) | (None, 1) => Problem::Regression,
            _ => Problem::SingleLabel,
        };
        let config = Self {
            family,
            model_type,
            architecture,
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            num_layers: raw.num_hidden_layers,
            num_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            activation,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: raw.type_vocab_size,
            layer_norm_eps: raw.layer_norm_eps as f32,
            pad_token_id: raw.pad_token_id.unwrap_or(match family {
                Family::Bert => 0,
                Family::Roberta => 1,
            }),
            num_labels,
            labels,
            problem,
        };
        config.check(origin)?;
        Ok(config)
    }

    fn check(&self, origin: &str) -> Result<()> {
        let bad = |reason: String| Error::Format { context: origin.to_string(), reason };
        if self.num_heads == 0 || !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_heads
            )));
        }
        if self.num_labels == 0
            || self.vocab_size == 0
            || self.intermediate_size == 0
            || self.type_vocab_size == 0
        {
            return Err(bad(
                "num_labels, vocab_size, intermediate_size and type_vocab_size must be > 0".into(),
            ));
        }
        if self.max_tokens() == 0 {
            return Err(bad(format!(
                "max_position_embeddings {} leaves no position for tokens",
                self.max_position_embeddings
            )));
        }
        Ok(())
    }

    /// The longest input, special tokens included: the position table's rows, less RoBERTa's
    /// `pad_token_id + 1` offset (514 rows give 512 tokens).
    pub fn max_tokens(&self) -> usize {
        match self.family {
            Family::Bert => self.max_position_embeddings,
            Family::Roberta => {
                self.max_position_embeddings.saturating_sub(self.pad_token_id as usize + 1)
            }
        }
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bert(extra: &str) -> String {
        format!(
            r#"{{"model_type": "bert", "architectures": ["BertForSequenceClassification"],
            "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 16,
            "max_position_embeddings": 512{extra}}}"#
        )
    }

    #[test]
    fn parses_bert_and_infers_the_head() {
        let c = EncoderConfig::from_json(bert("").as_bytes(), "c.json").unwrap();
        assert_eq!((c.family, c.num_labels, c.problem), (Family::Bert, 2, Problem::SingleLabel));
        assert_eq!((c.max_tokens(), c.head_size(), c.layer_norm_eps), (512, 4, 1e-12));
        let c = EncoderConfig::from_json(bert(r#", "num_labels": 1"#).as_bytes(), "c").unwrap();
        assert_eq!((c.num_labels, c.problem), (1, Problem::Regression));
        let c =
            EncoderConfig::from_json(bert(r#", "id2label": {"1": "b", "0": "a"}"#).as_bytes(), "c")
                .unwrap();
        assert_eq!(c.labels, ["a", "b"]);
    }

    #[test]
    fn refuses_what_it_cannot_run_by_name() {
        let other = bert("").replace("\"bert\"", "\"deberta-v2\"");
        let err = EncoderConfig::from_json(other.as_bytes(), "m/config.json").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("deberta-v2") && msg.contains("xlm-roberta"), "{msg}");
        assert!(msg.contains("m/config.json"), "{msg}");
        let base = bert("").replace("BertForSequenceClassification", "BertModel");
        let err = EncoderConfig::from_json(base.as_bytes(), "c").unwrap_err();
        assert!(err.to_string().contains("BertModel"), "{err}");
        let rel = bert(r#", "position_embedding_type": "relative_key""#);
        assert!(EncoderConfig::from_json(rel.as_bytes(), "c").is_err());
        let err = EncoderConfig::from_json(b"{\"model_type\": ", "c").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
