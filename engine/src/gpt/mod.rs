//! A small GPT-2-style language model (pre-LayerNorm blocks, GELU MLP, learned positions, tied
//! or untied embeddings) for train/infer verification of token shards: train it on `&[u32]`
//! windows with AdamW, check that held-out loss falls well below [`unigram_entropy`], sample
//! from a prompt and score documents by perplexity.
//!
//! ```
//! use tokenmill_engine::gpt::{Gpt, GptConfig, GptTrainConfig, Sampling, unigram_entropy};
//!
//! let tokens: Vec<u32> = (0..2000).map(|i| (i % 7) as u32).collect();
//! let config = GptConfig { vocab_size: 7, context: 16, layers: 1, width: 16, heads: 2, ..GptConfig::default() };
//! let mut model = Gpt::new(config)?;
//! let train = GptTrainConfig { steps: 60, batch_size: 4, ..GptTrainConfig::default() };
//! let report = model.train(&tokens, &train, |_step| {})?;
//! assert!(report.final_loss < unigram_entropy(&tokens) as f32);
//! let next = model.generate(&[0, 1, 2], 4, Sampling::Greedy, 0)?;
//! assert_eq!(next.len(), 4);
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

mod device;
mod format;
mod forward;
mod params;
mod train;

pub use train::{GptTrainConfig, StepLog, TrainReport, unigram_entropy};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops::loss::softmax_row;
use crate::rng::Rng;
use forward::{Activations, forward};

/// Model shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GptConfig {
    /// Number of token ids (every id must be below it).
    pub vocab_size: usize,
    /// Longest sequence (positions), in tokens.
    pub context: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Channels of the residual stream.
    pub width: usize,
    /// Attention heads (must divide `width`).
    pub heads: usize,
    /// Use the token embedding as the output projection.
    pub tied_embeddings: bool,
    /// Seed for initialisation.
    pub seed: u64,
}

impl Default for GptConfig {
    /// Small enough to train for a few hundred steps on two CPU cores in about a minute.
    fn default() -> Self {
        Self {
            vocab_size: 256,
            context: 64,
            layers: 2,
            width: 64,
            heads: 4,
            tied_embeddings: true,
            seed: 42,
        }
    }
}

/// How the next token is chosen when generating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// The most probable token.
    Greedy,
    /// Sample from `softmax(logits / temperature)`; temperature must be positive.
    Temperature(f32),
}

/// A GPT with its parameters in one flat buffer.
#[derive(Debug, Clone)]
pub struct Gpt {
    config: GptConfig,
    params: Vec<f32>,
}

impl Gpt {
    /// A freshly initialised model (GPT-2 initialisation: N(0, 0.02) weights, residual
    /// projections scaled by 1/sqrt(2·layers), zero biases, unit LayerNorm gains).
    ///
    /// # Errors
    /// [`Error::Config`] if a dimension is zero or `heads` does not divide `width`.
    pub fn new(config: GptConfig) -> Result<Self> {
        let c = &config;
        if [c.vocab_size, c.context, c.layers, c.width, c.heads].contains(&0)
            || !c.width.is_multiple_of(c.heads)
        {
            return Err(Error::Config(format!(
                "gpt: all dimensions must be positive and heads must divide width: {c:?}"
            )));
        }
        let mut params = vec![0.0; params::count(c)];
        let mut rng = Rng::new(c.seed);
        let p = params::split_mut(c, &mut params);
        let proj_std = 0.02 / (2.0 * c.layers as f32).sqrt();
        for (w, std) in [
            (p.wte, 0.02),
            (p.wpe, 0.01),
            (p.qkvw, 0.02),
            (p.fcw, 0.02),
            (p.head, 0.02),
            (p.attprojw, proj_std),
            (p.fcprojw, proj_std),
        ] {
            w.iter_mut().for_each(|x| *x = rng.normal() * std);
        }
        for w in [p.ln1w, p.ln2w, p.lnfw] {
            w.fill(1.0);
        }
        Ok(Self { config, params })
    }

    /// The model shape.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.params.len()
    }

    /// Checks that every token is in the vocabulary.
    fn check_tokens(&self, tokens: &[u32]) -> Result<()> {
        match tokens.iter().position(|&t| t as usize >= self.config.vocab_size) {
            Some(i) => Err(Error::Input(format!(
                "token {} at index {i} is outside the vocabulary of {}",
                tokens[i], self.config.vocab_size
            ))),
            None => Ok(()),
        }
    }

    /// Continues `prompt` by `max_new_tokens` tokens (returned without the prompt). The model
    /// sees at most the last `context` tokens. No KV cache: each token reruns the window.
    ///
    /// # Errors
    /// [`Error::Input`] for an empty prompt or a token outside the vocabulary;
    /// [`Error::Config`] for a non-positive temperature.
    pub fn generate(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        sampling: Sampling,
        seed: u64,
    ) -> Result<Vec<u32>> {
        self.check_tokens(prompt)?;
        if prompt.is_empty() {
            return Err(Error::Input("generation needs a non-empty prompt".into()));
        }
        if let Sampling::Temperature(temp) = sampling
            && !(temp > 0.0 && temp.is_finite())
        {
            return Err(Error::Config(format!("temperature must be positive, got {temp}")));
        }
        let (v, ctx) = (self.config.vocab_size, self.config.context);
        let mut rng = Rng::new(seed);
        let mut seq = prompt.to_vec();
        let mut probs = vec![0.0; v];
        for _ in 0..max_new_tokens {
            let window = &seq[seq.len().saturating_sub(ctx)..];
            let mut acts = Activations::new(&self.config, 1, window.len());
            forward(&self.config, &self.params, &mut acts, window, None);
            let logits = &acts.logits[(window.len() - 1) * v..];
            let next = match sampling {
                Sampling::Greedy => {
                    logits
                        .iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
                        .0
                }
                Sampling::Temperature(temp) => {
                    let scaled: Vec<f32> = logits.iter().map(|x| x / temp).collect();
                    softmax_row(&mut probs, &scaled);
                    let (mut u, mut pick) = (rng.uniform(), v - 1);
                    for (i, p) in probs.iter().enumerate() {
                        u -= p;
                        if u < 0.0 {
                            pick = i;
                            break;
                        }
                    }
                    pick
                }
            };
            seq.push(next as u32);
        }
        Ok(seq.split_off(prompt.len()))
    }

    /// Mean next-token loss (nats) of `doc`: it is cut into windows of up to `context + 1`
    /// tokens overlapping by one, so every token after the first is predicted exactly once,
    /// from the tokens of its own window.
    ///
    /// # Errors
    /// [`Error::Input`] if `doc` has fewer than two tokens or one outside the vocabulary.
    pub fn document_loss(&self, doc: &[u32]) -> Result<f64> {
        self.check_tokens(doc)?;
        if doc.len() < 2 {
            return Err(Error::Input(format!(
                "a document needs at least 2 tokens to score, got {}",
                doc.len()
            )));
        }
        let ctx = self.config.context;
        let (mut total, mut count) = (0.0f64, 0usize);
        let mut start = 0;
        while start + 1 < doc.len() {
            let end = (start + ctx + 1).min(doc.len());
            let t = end - start - 1;
            let mut acts = Activations::new(&self.config, 1, t);
            forward(
                &self.config,
                &self.params,
                &mut acts,
                &doc[start..end - 1],
                Some(&doc[start + 1..end]),
            );
            total += acts.losses.iter().map(|&x| x as f64).sum::<f64>();
            count += t;
            start += ctx;
        }
        Ok(total / count as f64)
    }

    /// Perplexity of `doc`: `exp` of [`Gpt::document_loss`].
    ///
    /// # Errors
    /// As [`Gpt::document_loss`].
    pub fn perplexity(&self, doc: &[u32]) -> Result<f64> {
        Ok(self.document_loss(doc)?.exp())
    }

    /// Perplexity of each document, in order.
    ///
    /// # Errors
    /// The first document's error, as [`Gpt::document_loss`].
    pub fn perplexities(&self, docs: &[&[u32]]) -> Result<Vec<f64>> {
        docs.iter().map(|d| self.perplexity(d)).collect()
    }
}

#[cfg(test)]
mod tests;
