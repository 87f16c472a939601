//! fastText's supervised model on feature ids computed by the caller: the mean of input rows
//! (an embedding bag), an output layer, softmax over labels ([`Bag`]); its training (fastText's
//! SGD), scoring on any backend ([`Scorer`], [`OwnedScorer`]) and evaluation ([`metrics`]).
//!
//! The engine knows no text: tokenization, the dictionary and the word and character n-gram
//! hashing are fastText's, in `tokenmill_filters::fasttext`, which gives each text's input rows
//! and reads and writes the model file; `tokenmill train-classifier` and the `quality_model`
//! stage join the two.
//!
//! ```
//! use tokenmill_engine::backend::CpuBackend;
//! use tokenmill_engine::classifier::{Bag, BagConfig, Scorer};
//!
//! // Rows 0-1 are features of "keep" texts, 2-3 of "spam" texts.
//! let data: [(&[u32], u32); 4] = [(&[0, 1], 0), (&[2, 3], 1), (&[0], 0), (&[3], 1)];
//! let model = Bag::train(&BagConfig { dim: 8, epochs: 50, ..BagConfig::default() }, 4, 2, &data)?;
//! let scorer = Scorer::new(&CpuBackend, &model)?;
//! // Two texts: rows [0, 1] and [2]; probabilities [texts, labels], row-major.
//! let probs = scorer.score_features(&[0, 1, 2], &[0, 2, 3])?;
//! assert!(probs[0] > 0.5 && probs[3] > 0.5);
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

mod bag;
mod device;
mod metrics;

pub use bag::{Bag, BagConfig};
pub use device::{OwnedScorer, Scorer};
pub use metrics::{LabelMetrics, Metrics, metrics};

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
