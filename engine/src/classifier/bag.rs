//! fastText's supervised model on feature ids computed elsewhere (the caller's tokenizer and
//! hashing, e.g. a fastText dictionary): the mean of input rows, an output layer without bias,
//! softmax, trained by fastText's per-example SGD with a learning rate decaying linearly over
//! the tokens seen.
//!
//! ```
//! use tokenmill_engine::classifier::{Bag, BagConfig};
//!
//! // Rows 0-1 are "ham" words, 2-3 "spam" words.
//! let data: [(&[u32], u32); 4] = [(&[0, 1], 0), (&[2, 3], 1), (&[0], 0), (&[3], 1)];
//! let config = BagConfig { dim: 8, epochs: 50, ..BagConfig::default() };
//! let model = Bag::train(&config, 4, 2, &data)?;
//! assert!(model.probs(&[2])[1] > 0.5);
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::ops::matmul::{axpy, dot};
use crate::rng::Rng;

use super::softmax_in_place;

/// Shape and training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BagConfig {
    /// Embedding width.
    pub dim: usize,
    /// Passes over the examples.
    pub epochs: usize,
    /// Initial learning rate (fastText's `lr`), decayed linearly to 0.
    pub lr: f32,
    /// Seed for initialisation and example order.
    pub seed: u64,
}

impl Default for BagConfig {
    fn default() -> Self {
        Self { dim: 16, epochs: 5, lr: 0.1, seed: 42 }
    }
}

/// A trained model: `input[rows, dim]` and `output[labels, dim]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Bag {
    /// Embedding width.
    pub dim: usize,
    /// Number of labels.
    pub labels: usize,
    /// Input rows (one per feature id).
    pub input: Vec<f32>,
    /// Output rows (one per label).
    pub output: Vec<f32>,
}

impl Bag {
    /// Trains on `(feature ids, label)` examples; ids are below `rows`, labels below `labels`.
    /// Examples without ids are skipped (fastText skips empty lines).
    ///
    /// # Errors
    /// [`Error::Config`] for a zero size or a learning rate that is not positive;
    /// [`Error::Input`] for an id or a label out of range, or no examples.
    pub fn train(
        config: &BagConfig,
        rows: usize,
        labels: usize,
        examples: &[(&[u32], u32)],
    ) -> Result<Bag> {
        if config.dim == 0 || config.epochs == 0 || rows == 0 || labels == 0 {
            return Err(Error::Config(
                "bag classifier: dim, epochs, rows and labels must be positive".into(),
            ));
        }
        if !(config.lr > 0.0 && config.lr.is_finite()) {
            return Err(Error::Config("bag classifier: lr must be positive".into()));
        }
        if examples.is_empty() {
            return Err(Error::Input("bag classifier: no training examples".into()));
        }
        if let Some(i) = examples
            .iter()
            .position(|(ids, l)| *l as usize >= labels || ids.iter().any(|&r| r as usize >= rows))
        {
            return Err(Error::Input(format!(
                "example {i} has a label or feature id out of range ({labels} labels, {rows} rows)"
            )));
        }
        let d = config.dim;
        let mut rng = Rng::new(config.seed);
        // fastText's initialisation: input uniform in +-1/dim, output zero.
        let input = (0..rows * d).map(|_| (rng.uniform() * 2.0 - 1.0) / d as f32).collect();
        let mut model = Bag { dim: d, labels, input, output: vec![0.0; labels * d] };
        let tokens: usize = examples.iter().map(|(ids, _)| ids.len()).sum();
        let total = (tokens * config.epochs).max(1) as f32;
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let (mut hidden, mut grad, mut probs) = (vec![0.0; d], vec![0.0; d], vec![0.0; labels]);
        let mut seen = 0usize;
        for _ in 0..config.epochs {
            rng.shuffle(&mut order);
            for &i in &order {
                let (ids, label) = examples[i];
                if ids.is_empty() {
                    continue;
                }
                let lr = config.lr * (1.0 - seen as f32 / total).max(0.0);
                seen += ids.len();
                model.hidden(ids, &mut hidden);
                model.logits(&hidden, &mut probs);
                softmax_in_place(&mut probs);
                grad.fill(0.0);
                for (l, &p) in probs.iter().enumerate() {
                    let alpha = lr * (f32::from(l == label as usize) - p);
                    let row = &mut model.output[l * d..(l + 1) * d];
                    axpy(&mut grad, alpha, row);
                    axpy(row, alpha, &hidden);
                }
                let inv = 1.0 / ids.len() as f32;
                for &r in ids {
                    axpy(&mut model.input[r as usize * d..(r as usize + 1) * d], inv, &grad);
                }
            }
        }
        Ok(model)
    }

    /// The mean of the rows `ids` (zeros for none; ids past the end are ignored).
    fn hidden(&self, ids: &[u32], hidden: &mut [f32]) {
        hidden.fill(0.0);
        let d = self.dim;
        for &r in ids {
            if let Some(row) = self.input.get(r as usize * d..(r as usize + 1) * d) {
                axpy(hidden, 1.0, row);
            }
        }
        if !ids.is_empty() {
            let inv = 1.0 / ids.len() as f32;
            hidden.iter_mut().for_each(|h| *h *= inv);
        }
    }

    fn logits(&self, hidden: &[f32], out: &mut [f32]) {
        for (l, o) in out.iter_mut().enumerate() {
            *o = dot(hidden, &self.output[l * self.dim..(l + 1) * self.dim]);
        }
    }

    /// Label probabilities of the example with features `ids`.
    pub fn probs(&self, ids: &[u32]) -> Vec<f32> {
        let mut hidden = vec![0.0; self.dim];
        let mut probs = vec![0.0; self.labels];
        self.hidden(ids, &mut hidden);
        self.logits(&hidden, &mut probs);
        softmax_in_place(&mut probs);
        probs
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::classifier::OwnedScorer;

    #[test]
    fn learns_separable_bags_and_scores_the_same_on_a_backend() {
        let data: Vec<(Vec<u32>, u32)> = (0..40)
            .map(|i| if i % 2 == 0 { (vec![i % 5, 5], 0) } else { (vec![6 + i % 4, 5], 1) })
            .collect();
        let refs: Vec<(&[u32], u32)> = data.iter().map(|(v, l)| (&v[..], *l)).collect();
        let config = BagConfig { dim: 4, epochs: 30, lr: 0.5, seed: 1 };
        let model = Bag::train(&config, 10, 2, &refs).unwrap();
        assert!(model.probs(&[1, 5])[0] > 0.8 && model.probs(&[7, 5])[1] > 0.8);
        let scorer = OwnedScorer::for_bag(CpuBackend, &model).unwrap();
        let got = scorer.score_features(&[1, 5, 7, 5], &[0, 2, 4]).unwrap();
        let want: Vec<f32> = [model.probs(&[1, 5]), model.probs(&[7, 5])].concat();
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6), "{got:?} {want:?}");
        // Rows beyond the model are refused, not read.
        assert!(scorer.score_features(&[10], &[0, 1]).is_err());
        assert!(Bag::train(&config, 10, 2, &[(&[10], 0)]).is_err());
        assert!(Bag::train(&config, 10, 2, &[(&[1], 2)]).is_err());
        assert!(Bag::train(&BagConfig { lr: 0.0, ..config }, 10, 2, &refs).is_err());
    }
}
