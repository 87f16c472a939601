//! Training the classifier: SGD (fastText's per-example updates) or minibatch AdamW with lazy
//! embedding rows, both with a learning rate decaying linearly to zero.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Classifier, features::for_each_feature, softmax_in_place};
use crate::error::{Error, Result};
use crate::ops::matmul::axpy;
use crate::optim::{AdamW, AdamWConfig, sgd_step};
use crate::rng::Rng;

/// How parameters are updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassifierOptimizer {
    /// Plain SGD on the minibatch gradient (fastText uses batch size 1).
    Sgd,
    /// AdamW; embedding rows not in the batch keep their moments unchanged (lazy Adam).
    AdamW,
}

/// Model shape and training hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierConfig {
    /// Embedding width.
    pub dim: usize,
    /// Hash buckets for word n-grams (the embedding table has this many rows).
    pub buckets: u32,
    /// Longest word n-gram: 1 (unigrams) or 2 (unigrams and bigrams).
    pub word_ngrams: u32,
    /// Passes over the training data.
    pub epochs: usize,
    /// Initial learning rate, decayed linearly to 0 over training.
    pub lr: f32,
    /// Examples per update.
    pub batch_size: usize,
    /// Optimizer.
    pub optimizer: ClassifierOptimizer,
    /// Seed for initialisation and shuffling.
    pub seed: u64,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            dim: 32,
            buckets: 1 << 18,
            word_ngrams: 2,
            epochs: 5,
            lr: 0.5,
            batch_size: 1,
            optimizer: ClassifierOptimizer::Sgd,
            seed: 42,
        }
    }
}

impl ClassifierConfig {
    /// Checks ranges (an AdamW run usually wants a much smaller `lr` than the SGD default).
    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(format!("classifier: {m}")));
        if self.dim == 0 || self.buckets == 0 || self.epochs == 0 || self.batch_size == 0 {
            return bad("dim, buckets, epochs and batch_size must be positive");
        }
        if !(1..=2).contains(&self.word_ngrams) {
            return bad("word_ngrams must be 1 or 2");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr must be positive");
        }
        Ok(())
    }
}

/// Checks that every label is `< labels`.
pub(crate) fn check_labels(data: &[(&str, u32)], labels: usize) -> Result<()> {
    match data.iter().position(|(_, l)| *l as usize >= labels) {
        Some(i) => Err(Error::Input(format!(
            "example {i} has label {} but there are only {labels} labels",
            data[i].1
        ))),
        None => Ok(()),
    }
}

/// Gradients of one minibatch: dense for the linear layer, sparse rows for the embeddings.
struct Grads {
    weights: Vec<f32>,
    bias: Vec<f32>,
    rows: Vec<u32>,
    row_grads: Vec<f32>,
    slot: HashMap<u32, usize>,
}

impl Classifier {
    /// Trains a classifier on `(text, label index)` pairs.
    ///
    /// # Errors
    /// [`Error::Config`] for out-of-range settings; [`Error::Input`] for no labels, no data or a
    /// label index out of range.
    pub fn train(
        config: &ClassifierConfig,
        labels: Vec<String>,
        data: &[(&str, u32)],
    ) -> Result<Classifier> {
        config.validate()?;
        if labels.is_empty() || data.is_empty() {
            return Err(Error::Input(
                "classifier training needs at least one label and one example".into(),
            ));
        }
        check_labels(data, labels.len())?;
        let (d, nl) = (config.dim, labels.len());
        let mut rng = Rng::new(config.seed);
        // fastText's initialisation: uniform embeddings in +-1/dim, zero output layer.
        let embeddings = (0..config.buckets as usize * d)
            .map(|_| (rng.uniform() * 2.0 - 1.0) / d as f32)
            .collect();
        let mut model = Classifier {
            dim: d,
            buckets: config.buckets,
            word_ngrams: config.word_ngrams,
            labels,
            embeddings,
            weights: vec![0.0; nl * d],
            bias: vec![0.0; nl],
        };
        let mut order: Vec<usize> = (0..data.len()).collect();
        let total = (config.epochs * data.len().div_ceil(config.batch_size)) as f32;
        let dense_cfg = AdamWConfig { lr: config.lr, ..AdamWConfig::default() };
        let (mut adam_w, mut adam_b, mut adam_e) = (
            AdamW::new(dense_cfg, nl * d),
            AdamW::new(dense_cfg, nl),
            AdamW::new(dense_cfg, model.embeddings.len()),
        );
        let mut g = Grads {
            weights: vec![0.0; nl * d],
            bias: vec![0.0; nl],
            rows: Vec::new(),
            row_grads: Vec::new(),
            slot: HashMap::new(),
        };
        let mut step = 0usize;
        for _ in 0..config.epochs {
            rng.shuffle(&mut order);
            for batch in order.chunks(config.batch_size) {
                let lr = config.lr * (1.0 - step as f32 / total).max(0.0);
                step += 1;
                model.batch_gradients(data, batch, &mut g);
                match config.optimizer {
                    ClassifierOptimizer::Sgd => {
                        sgd_step(&mut model.weights, &g.weights, lr);
                        sgd_step(&mut model.bias, &g.bias, lr);
                        for (j, &r) in g.rows.iter().enumerate() {
                            sgd_step(
                                &mut model.embeddings[r as usize * d..][..d],
                                &g.row_grads[j * d..][..d],
                                lr,
                            );
                        }
                    }
                    ClassifierOptimizer::AdamW => {
                        for opt in [&mut adam_w, &mut adam_b, &mut adam_e] {
                            opt.config.lr = lr;
                        }
                        adam_w.step(&mut model.weights, &g.weights);
                        adam_b.step(&mut model.bias, &g.bias);
                        adam_e.step_rows(&mut model.embeddings, &g.row_grads, &g.rows, d);
                    }
                }
            }
        }
        Ok(model)
    }

    /// Mean cross-entropy gradients of the examples `batch` of `data` into `g`.
    fn batch_gradients(&self, data: &[(&str, u32)], batch: &[usize], g: &mut Grads) {
        let (d, nl) = (self.dim, self.labels.len());
        g.weights.fill(0.0);
        g.bias.fill(0.0);
        g.rows.clear();
        g.row_grads.clear();
        g.slot.clear();
        let (mut hidden, mut probs, mut dhidden) = (vec![0.0; d], vec![0.0; nl], vec![0.0; d]);
        let scale = 1.0 / batch.len() as f32;
        for &i in batch {
            let (text, label) = data[i];
            let n = self.hidden(text, &mut hidden);
            self.logits(&hidden, &mut probs);
            softmax_in_place(&mut probs);
            dhidden.fill(0.0);
            for (l, &p) in probs.iter().enumerate() {
                let dl = (p - if l == label as usize { 1.0 } else { 0.0 }) * scale;
                g.bias[l] += dl;
                axpy(&mut g.weights[l * d..(l + 1) * d], dl, &hidden);
                axpy(&mut dhidden, dl, &self.weights[l * d..(l + 1) * d]);
            }
            if n == 0 {
                continue;
            }
            let inv = 1.0 / n as f32;
            for_each_feature(text, self.buckets, self.word_ngrams, |b| {
                let next = g.rows.len();
                let s = *g.slot.entry(b).or_insert(next);
                if s == next {
                    g.rows.push(b);
                    g.row_grads.resize(g.row_grads.len() + d, 0.0);
                }
                axpy(&mut g.row_grads[s * d..(s + 1) * d], inv, &dhidden);
            });
        }
    }
}
