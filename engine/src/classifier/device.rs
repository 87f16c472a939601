//! Scoring a [`Bag`] on any [`Backend`]: the embedding bag, the output layer and the softmax of a
//! whole batch run on the backend, given each text's feature ids (computed by the caller).

use super::Bag;
use crate::backend::Backend;
use crate::error::{Error, Result};

/// A model's parameters on a backend, ready to score batches.
#[derive(Debug)]
pub struct Scorer<'a, B: Backend> {
    be: &'a B,
    params: Resident<B>,
}

/// Like [`Scorer`], owning its backend: for a pipeline stage that scores for a whole run.
#[derive(Debug)]
pub struct OwnedScorer<B: Backend> {
    be: B,
    params: Resident<B>,
}

/// The parameters once copied to a backend (a zero bias: fastText's output layer has none).
#[derive(Debug)]
struct Resident<B: Backend> {
    dim: usize,
    labels: usize,
    rows: u32,
    embeddings: B::Buf,
    weights: B::Buf,
    bias: B::Buf,
}

impl<B: Backend> Resident<B> {
    fn new(be: &B, bag: &Bag) -> Result<Self> {
        let rows = bag.input.len() / bag.dim.max(1);
        let rows = u32::try_from(rows)
            .map_err(|_| Error::Input(format!("a model of {rows} rows is too large to score")))?;
        Ok(Self {
            dim: bag.dim,
            labels: bag.labels,
            rows,
            embeddings: be.upload(&bag.input)?,
            weights: be.upload(&bag.output)?,
            bias: be.upload(&vec![0.0; bag.labels])?,
        })
    }
}

impl<'a, B: Backend> Scorer<'a, B> {
    /// Copies the parameters of `bag` to `backend`.
    ///
    /// # Errors
    /// Backend errors (out of device memory); a model of 2^32 rows or more.
    pub fn new(backend: &'a B, bag: &Bag) -> Result<Self> {
        Ok(Scorer { be: backend, params: Resident::new(backend, bag)? })
    }

    /// Probabilities `[bags, labels]`, row-major, of feature ids: bag `j` has
    /// `ids[offsets[j]..offsets[j + 1]]`. Uploads them, scores, downloads the result.
    ///
    /// # Errors
    /// [`Error::Input`] for offsets that are empty, decreasing or past the end of `ids`, or ids
    /// outside the model's rows; backend errors.
    pub fn score_features(&self, ids: &[u32], offsets: &[u32]) -> Result<Vec<f32>> {
        self.params.score_features(self.be, ids, offsets)
    }

    /// Probabilities `[bags, labels]` of features already on the device, left there (for
    /// pipelines that keep data on the GPU, and to time the device work alone). Unchecked: the
    /// ids must be below the model's rows and the offsets valid, as [`Scorer::score_features`]
    /// checks.
    ///
    /// # Errors
    /// Backend errors.
    pub fn score_uploaded(&self, ids: &B::Ids, offsets: &B::Ids, bags: usize) -> Result<B::Buf> {
        self.params.score_uploaded(self.be, ids, offsets, bags)
    }
}

impl<B: Backend> OwnedScorer<B> {
    /// Moves `backend` into a scorer with the parameters of `bag` copied there.
    ///
    /// # Errors
    /// Backend errors (out of device memory); a model of 2^32 rows or more.
    pub fn for_bag(backend: B, bag: &Bag) -> Result<Self> {
        let params = Resident::new(&backend, bag)?;
        Ok(Self { be: backend, params })
    }

    /// The backend scoring runs on.
    pub fn backend(&self) -> &B {
        &self.be
    }

    /// As [`Scorer::score_features`].
    ///
    /// # Errors
    /// As [`Scorer::score_features`].
    pub fn score_features(&self, ids: &[u32], offsets: &[u32]) -> Result<Vec<f32>> {
        self.params.score_features(&self.be, ids, offsets)
    }

    /// Number of labels (the width of each probability row).
    pub fn labels(&self) -> usize {
        self.params.labels
    }
}

impl<B: Backend> Resident<B> {
    fn score_features(&self, be: &B, ids: &[u32], offsets: &[u32]) -> Result<Vec<f32>> {
        let bad = |m: String| Err(Error::Input(format!("scoring features: {m}")));
        if offsets.is_empty() || offsets[0] != 0 || offsets.windows(2).any(|w| w[0] > w[1]) {
            return bad("offsets must start at 0 and never decrease".into());
        }
        if offsets[offsets.len() - 1] as usize != ids.len() {
            return bad(format!(
                "the last offset is {} but there are {} ids",
                offsets[offsets.len() - 1],
                ids.len()
            ));
        }
        if let Some(id) = ids.iter().find(|&&id| id >= self.rows) {
            return bad(format!("feature {id} is outside the model's {} rows", self.rows));
        }
        let bags = offsets.len() - 1;
        if bags == 0 {
            return Ok(Vec::new());
        }
        // All bags may be empty; a zero-byte device allocation is not portable, so pad.
        let ids = if ids.is_empty() { be.upload_ids(&[0])? } else { be.upload_ids(ids)? };
        let offsets = be.upload_ids(offsets)?;
        let probs = self.score_uploaded(be, &ids, &offsets, bags)?;
        be.download(&probs)
    }

    fn score_uploaded(
        &self,
        be: &B,
        ids: &B::Ids,
        offsets: &B::Ids,
        bags: usize,
    ) -> Result<B::Buf> {
        let (d, nl) = (self.dim, self.labels);
        let mut hidden = be.zeros(bags * d)?;
        be.embedding_bag_mean_forward(&mut hidden, ids, offsets, &self.embeddings, bags, d)?;
        let mut logits = be.zeros(bags * nl)?;
        be.matmul_bt(&mut logits, &hidden, &self.weights, bags, d, nl)?;
        be.bias_forward(&mut logits, &self.bias, bags, nl)?;
        let mut probs = be.zeros(bags * nl)?;
        be.softmax(&mut probs, &logits, bags, nl)?;
        Ok(probs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::classifier::BagConfig;

    #[test]
    fn backend_scoring_matches_the_model_and_checks_input() {
        let data: [(&[u32], u32); 4] = [(&[0, 1, 2], 0), (&[3, 4], 1), (&[0, 5], 0), (&[4, 6], 1)];
        let config = BagConfig { dim: 8, epochs: 20, lr: 0.5, seed: 7 };
        let model = Bag::train(&config, 8, 2, &data).unwrap();
        let bags: [&[u32]; 4] = [&[0, 4], &[], &[3, 3, 7], &[1, 2, 5, 6]];
        let ids: Vec<u32> = bags.concat();
        let mut offsets = vec![0u32];
        bags.iter().for_each(|b| offsets.push(offsets[offsets.len() - 1] + b.len() as u32));
        let scorer = Scorer::new(&CpuBackend, &model).unwrap();
        let got = scorer.score_features(&ids, &offsets).unwrap();
        for (j, bag) in bags.iter().enumerate() {
            let want = model.probs(bag);
            let row = &got[j * 2..(j + 1) * 2];
            assert!(want.iter().zip(row).all(|(a, b)| (a - b).abs() < 1e-6), "{want:?} vs {row:?}");
        }
        assert!(scorer.score_features(&[1, 2], &[0, 3]).is_err());
        assert!(scorer.score_features(&[8], &[0, 1]).is_err());
        assert!(scorer.score_features(&[1, 2], &[0, 2, 1]).is_err());
        assert_eq!(scorer.score_features(&[], &[0]).unwrap().len(), 0);
        // Owning its backend, it scores the same.
        let owned = OwnedScorer::for_bag(CpuBackend, &model).unwrap();
        assert_eq!(owned.score_features(&ids, &offsets).unwrap(), got);
        assert_eq!(owned.labels(), 2);
    }
}
