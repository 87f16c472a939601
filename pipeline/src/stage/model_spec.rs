//! Specs of the model-based stages: `quality_model` (a fastText classifier, e.g. from `tokenmill
//! train-classifier`) and `perplexity` (a small GPT from `tokenmill train-lm`).

use serde::{Deserialize, Serialize};

/// `type = "quality_model"`: classifier scores as a filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityModelSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// Path to a fastText supervised model (`.bin`/`.ftz`), e.g. written by `tokenmill
    /// train-classifier`.
    pub model: String,
    /// The label whose probability is the score, with or without `__label__`; default: the
    /// model's first label.
    #[serde(default)]
    pub label: Option<String>,
    /// Metadata field the score (0..1) is written to.
    #[serde(default = "default_score_field")]
    pub score_field: String,
    /// Drop documents scoring below this.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Drop documents scoring above this.
    #[serde(default)]
    pub max_score: Option<f32>,
    /// Characters of each document the model reads (the start of the text).
    #[serde(default = "default_score_chars")]
    pub max_chars: usize,
    /// Where the model scores: `cpu` (the default: the same scores on every machine), `auto`
    /// (a GPU if one is usable, else the CPU, logged), `cuda` or `cuda:N` (an error when that
    /// GPU is not usable). GPU and CPU scores agree within float rounding, so a document right
    /// at a threshold may be judged differently.
    #[serde(default = "default_device", deserialize_with = "device_request")]
    pub device: String,
}

fn default_device() -> String {
    "cpu".into()
}

/// A device string that parses (`auto`, `cpu`, `cuda`, `cuda:N`), checked with the config.
fn device_request<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<tokenmill_engine::device::DeviceRequest>().map_err(serde::de::Error::custom)?;
    Ok(s)
}

/// `type = "perplexity"`: perplexity under a small language model as a filter (CCNet-style:
/// keep what a model trained on reference text finds likely).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerplexitySpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// A model file written by `tokenmill train-lm`.
    pub model: String,
    /// The tokenizer the model was trained with (checked against the model).
    pub tokenizer: String,
    /// Metadata field the perplexity is written to.
    #[serde(default = "default_perplexity_field")]
    pub score_field: String,
    /// Drop documents above this perplexity.
    #[serde(default)]
    pub max_perplexity: Option<f64>,
    /// Drop documents below this perplexity (repetitive or templated text scores very low).
    #[serde(default)]
    pub min_perplexity: Option<f64>,
    /// Tokens of each document scored (its start).
    #[serde(default = "default_perplexity_tokens")]
    pub max_tokens: usize,
}

fn default_perplexity_field() -> String {
    "perplexity".into()
}

fn default_perplexity_tokens() -> usize {
    512
}

fn default_score_field() -> String {
    "quality_score".into()
}

fn default_score_chars() -> usize {
    20_000
}
