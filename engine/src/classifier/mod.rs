//! A fastText-style text classifier: hashed word unigram and bigram features, the mean of their
//! embeddings, one linear layer, softmax over labels.
//!
//! ```
//! use tokenmill_engine::classifier::{Classifier, ClassifierConfig};
//!
//! let data = [("the cat sat on the mat", 0), ("der hund lief nach hause", 1), ("the dog ran home", 0), ("die katze sass", 1)];
//! let config = ClassifierConfig { buckets: 1 << 12, epochs: 20, ..ClassifierConfig::default() };
//! let model = Classifier::train(&config, vec!["en".into(), "de".into()], &data)?;
//! let probs = model.score_batch(&["the cat ran home"]);
//! assert!(probs[0][0] > 0.5);
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

mod bag;
mod device;
mod features;
mod format;
mod metrics;
mod train;

pub use bag::{Bag, BagConfig};
pub use device::{OwnedScorer, Scorer, features_batch};
pub use features::{features, for_each_feature};
pub use format::{FORMAT_VERSION, MAGIC};
pub use metrics::{LabelMetrics, Metrics, metrics};
pub use train::{ClassifierConfig, ClassifierOptimizer};

use rayon::prelude::*;

use crate::ops::matmul::{axpy, dot};

/// A trained classifier. Parameters: `embeddings[buckets, dim]`, `weights[labels, dim]`,
/// `bias[labels]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    dim: usize,
    buckets: u32,
    word_ngrams: u32,
    labels: Vec<String>,
    embeddings: Vec<f32>,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Classifier {
    /// The label names, in index order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of hash buckets.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Longest word n-gram used as a feature (1 or 2).
    pub fn word_ngrams(&self) -> u32 {
        self.word_ngrams
    }

    /// Mean feature embedding of `text` into `hidden` (zeros for a text without words).
    fn hidden(&self, text: &str, hidden: &mut [f32]) -> usize {
        hidden.fill(0.0);
        let mut n = 0usize;
        let d = self.dim;
        for_each_feature(text, self.buckets, self.word_ngrams, |b| {
            axpy(hidden, 1.0, &self.embeddings[b as usize * d..(b as usize + 1) * d]);
            n += 1;
        });
        if n > 0 {
            let inv = 1.0 / n as f32;
            hidden.iter_mut().for_each(|h| *h *= inv);
        }
        n
    }

    /// Logits from a hidden vector.
    fn logits(&self, hidden: &[f32], logits: &mut [f32]) {
        for (l, (o, b)) in logits.iter_mut().zip(&self.bias).enumerate() {
            *o = dot(hidden, &self.weights[l * self.dim..(l + 1) * self.dim]) + b;
        }
    }

    fn score_into(&self, text: &str, hidden: &mut [f32], probs: &mut [f32]) {
        self.hidden(text, hidden);
        self.logits(hidden, probs);
        softmax_in_place(probs);
    }

    /// Label probabilities of one text.
    pub fn score(&self, text: &str) -> Vec<f32> {
        let mut hidden = vec![0.0; self.dim];
        let mut probs = vec![0.0; self.labels.len()];
        self.score_into(text, &mut hidden, &mut probs);
        probs
    }

    /// Label probabilities of every text, in order, scored in parallel with rayon.
    pub fn score_batch(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        texts
            .par_iter()
            .with_min_len(16)
            .map_init(
                || vec![0.0; self.dim],
                |hidden, text| {
                    let mut probs = vec![0.0; self.labels.len()];
                    self.score_into(text, hidden, &mut probs);
                    probs
                },
            )
            .collect()
    }

    /// The most probable label index and its probability.
    pub fn predict(&self, text: &str) -> (u32, f32) {
        argmax(&self.score(text))
    }

    /// Accuracy and F1 on labelled examples.
    ///
    /// # Errors
    /// [`crate::Error::Input`] if a label is out of range.
    pub fn evaluate(&self, data: &[(&str, u32)]) -> crate::Result<Metrics> {
        train::check_labels(data, self.labels.len())?;
        let texts: Vec<&str> = data.iter().map(|(t, _)| *t).collect();
        let predicted: Vec<u32> = self.score_batch(&texts).iter().map(|p| argmax(p).0).collect();
        let actual: Vec<u32> = data.iter().map(|(_, l)| *l).collect();
        Ok(metrics(&predicted, &actual, self.labels.len()))
    }
}

/// Softmax of a row, in place.
fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    x.iter_mut().for_each(|v| *v /= sum);
}

/// Index and value of the largest element (first on ties).
fn argmax(p: &[f32]) -> (u32, f32) {
    p.iter().enumerate().fold((0u32, f32::NEG_INFINITY), |best, (i, &v)| {
        if v > best.1 { (i as u32, v) } else { best }
    })
}

#[cfg(test)]
mod tests;
