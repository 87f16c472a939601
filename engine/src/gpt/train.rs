//! Training and evaluating the GPT: random windows of a token stream, AdamW with linear warmup
//! and cosine decay, global gradient-norm clipping.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Gpt;
use super::forward::{Activations, Scratch, backward, forward};
use crate::error::{Error, Result};
use crate::optim::{AdamW, AdamWConfig};
use crate::rng::Rng;

/// Training hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GptTrainConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Windows per step; each window is `context + 1` tokens.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// Steps of linear warmup from 0 to `lr`.
    pub warmup_steps: usize,
    /// Final learning rate as a fraction of `lr` (cosine decay after warmup).
    pub min_lr_ratio: f32,
    /// AdamW decoupled weight decay.
    pub weight_decay: f32,
    /// Clip the global gradient norm to this (0 disables).
    pub grad_clip: f32,
    /// Seed for window sampling.
    pub seed: u64,
}

impl Default for GptTrainConfig {
    fn default() -> Self {
        Self {
            steps: 600,
            batch_size: 8,
            lr: 3e-3,
            warmup_steps: 20,
            min_lr_ratio: 0.1,
            weight_decay: 0.0,
            grad_clip: 1.0,
            seed: 42,
        }
    }
}

/// What one training step reports to the caller's callback.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Step number, from 0.
    pub step: usize,
    /// Mean training loss of the batch, in nats.
    pub loss: f32,
    /// Learning rate used.
    pub lr: f32,
    /// Gradient norm before clipping.
    pub grad_norm: f32,
    /// Seconds since training started.
    pub elapsed_s: f64,
}

/// Summary of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Training loss of every step.
    pub losses: Vec<f32>,
    /// Mean training loss of the last 10% of steps (at least one).
    pub final_loss: f32,
    /// Tokens predicted during training.
    pub tokens: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Entropy in nats of the unigram distribution of `tokens` (0 for an empty slice): the loss of
/// the best model that ignores context, so a trained model must beat it.
pub fn unigram_entropy(tokens: &[u32]) -> f64 {
    let mut counts = std::collections::HashMap::<u32, usize>::new();
    for &t in tokens {
        *counts.entry(t).or_default() += 1;
    }
    let n = tokens.len() as f64;
    counts.values().map(|&c| c as f64 / n).map(|p| -p * p.ln()).sum()
}

/// Fills `inputs` and `targets` (`[b, t]`) with `b` random windows of `tokens` and the
/// windows one token later.
pub(super) fn sample_windows(
    rng: &mut Rng,
    tokens: &[u32],
    t: usize,
    inputs: &mut [u32],
    targets: &mut [u32],
) {
    for (x, y) in inputs.chunks_exact_mut(t).zip(targets.chunks_exact_mut(t)) {
        let off = rng.below(tokens.len() - t);
        x.copy_from_slice(&tokens[off..off + t]);
        y.copy_from_slice(&tokens[off + 1..off + t + 1]);
    }
}

impl Gpt {
    /// Checks what [`Gpt::train`] and [`Gpt::train_with`] are given.
    pub(super) fn check_training(&self, tokens: &[u32], config: &GptTrainConfig) -> Result<()> {
        self.check_tokens(tokens)?;
        if tokens.len() < 2 {
            return Err(Error::Input("training needs at least 2 tokens".into()));
        }
        if config.steps == 0 || config.batch_size == 0 {
            return Err(Error::Config(
                "gpt training: steps and batch_size must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Trains on random windows of `tokens`, calling `on_step` after every step.
    ///
    /// # Errors
    /// [`Error::Input`] if `tokens` has fewer than two tokens or one outside the vocabulary;
    /// [`Error::Config`] for zero steps or batch size.
    pub fn train(
        &mut self,
        tokens: &[u32],
        config: &GptTrainConfig,
        mut on_step: impl FnMut(&StepLog),
    ) -> Result<TrainReport> {
        self.check_training(tokens, config)?;
        let cfg = self.config;
        let (b, t) = (config.batch_size, cfg.context.min(tokens.len() - 1));
        let mut acts = Activations::new(&cfg, b, t);
        let mut scratch = Scratch::new(&cfg, b, t);
        let mut grads = vec![0.0f32; self.params.len()];
        let mut opt = AdamW::new(
            AdamWConfig {
                lr: config.lr,
                weight_decay: config.weight_decay,
                ..AdamWConfig::default()
            },
            self.params.len(),
        );
        let (mut inputs, mut targets) = (vec![0u32; b * t], vec![0u32; b * t]);
        let mut rng = Rng::new(config.seed);
        let start = Instant::now();
        let mut losses = Vec::with_capacity(config.steps);
        for step in 0..config.steps {
            sample_windows(&mut rng, tokens, t, &mut inputs, &mut targets);
            let loss = forward(&cfg, &self.params, &mut acts, &inputs, Some(&targets));
            grads.fill(0.0);
            backward(&cfg, &self.params, &mut grads, &acts, &mut scratch, &inputs, &targets);
            let grad_norm =
                grads.iter().map(|g| (*g as f64) * (*g as f64)).sum::<f64>().sqrt() as f32;
            if config.grad_clip > 0.0 && grad_norm > config.grad_clip {
                let s = config.grad_clip / grad_norm;
                grads.iter_mut().for_each(|g| *g *= s);
            }
            opt.config.lr = lr_at(config, step);
            opt.step(&mut self.params, &grads);
            losses.push(loss);
            on_step(&StepLog {
                step,
                loss,
                lr: opt.config.lr,
                grad_norm,
                elapsed_s: start.elapsed().as_secs_f64(),
            });
        }
        let tail = &losses[losses.len() - (losses.len() / 10).max(1)..];
        Ok(TrainReport {
            final_loss: tail.iter().sum::<f32>() / tail.len() as f32,
            losses,
            tokens: config.steps * b * t,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// Mean next-token loss (nats) over consecutive windows of `tokens` (each `context + 1`
    /// tokens, overlapping by one), using at most `max_windows` windows from the start.
    ///
    /// # Errors
    /// As [`Gpt::document_loss`].
    pub fn eval_loss(&self, tokens: &[u32], max_windows: usize) -> Result<f64> {
        let ctx = self.config.context;
        let end = (max_windows.max(1) * ctx + 1).min(tokens.len());
        self.document_loss(&tokens[..end])
    }
}

/// Linear warmup, then cosine decay from `lr` to `lr * min_lr_ratio`.
pub(super) fn lr_at(c: &GptTrainConfig, step: usize) -> f32 {
    if step < c.warmup_steps {
        return c.lr * (step + 1) as f32 / c.warmup_steps as f32;
    }
    let span = (c.steps - c.warmup_steps).max(1) as f32;
    let progress = ((step - c.warmup_steps) as f32 / span).min(1.0);
    let cos = 0.5 * (1.0 + (std::f32::consts::PI * progress).cos());
    c.lr * (c.min_lr_ratio + (1.0 - c.min_lr_ratio) * cos)
}
