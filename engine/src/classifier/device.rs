//! Scoring on any [`Backend`]: features are hashed on the CPU ([`features_batch`], rayon), then
//! the embedding bag, the linear layer and the softmax run on the backend for a whole batch.
//!
//! ```
//! use tokenmill_engine::backend::CpuBackend;
//! use tokenmill_engine::classifier::{Classifier, ClassifierConfig};
//!
//! let data = [("good clean text", 0), ("buy cheap pills now", 1)];
//! let config = ClassifierConfig { buckets: 1024, epochs: 50, ..ClassifierConfig::default() };
//! let model = Classifier::train(&config, vec!["keep".into(), "spam".into()], &data)?;
//! let scorer = model.scorer(&CpuBackend)?;
//! let probs = scorer.score_batch(&["cheap pills", "clean text"])?;
//! assert!(probs[0][1] > 0.5 && probs[1][0] > 0.5);
//! # Ok::<(), tokenmill_engine::Error>(())
//! ```

use rayon::prelude::*;

use super::Classifier;
use super::features::for_each_feature;
use crate::backend::Backend;
use crate::error::{Error, Result};

/// The features of every text, concatenated, and `texts.len() + 1` offsets: text `j` has
/// `ids[offsets[j]..offsets[j + 1]]`. Hashing runs in parallel; order is kept.
///
/// # Errors
/// [`Error::Input`] if the batch has 2^32 features or more (offsets are `u32`).
pub fn features_batch(
    texts: &[&str],
    buckets: u32,
    word_ngrams: u32,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let per_text: Vec<Vec<u32>> = texts
        .par_iter()
        .with_min_len(16)
        .map(|t| {
            let mut f = Vec::new();
            for_each_feature(t, buckets, word_ngrams, |b| f.push(b));
            f
        })
        .collect();
    let total: usize = per_text.iter().map(Vec::len).sum();
    if u32::try_from(total).is_err() {
        return Err(Error::Input(format!(
            "a scoring batch of {total} features is too large; split it"
        )));
    }
    let mut offsets = Vec::with_capacity(texts.len() + 1);
    let mut ids = Vec::with_capacity(total);
    offsets.push(0);
    for f in per_text {
        ids.extend_from_slice(&f);
        offsets.push(ids.len() as u32);
    }
    Ok((ids, offsets))
}

/// A classifier's parameters on a backend, ready to score batches.
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

/// The parameters once copied to a backend.
#[derive(Debug)]
struct Resident<B: Backend> {
    dim: usize,
    labels: usize,
    buckets: u32,
    /// `None` for a [`super::Bag`], whose features are computed by the caller.
    word_ngrams: Option<u32>,
    embeddings: B::Buf,
    weights: B::Buf,
    bias: B::Buf,
}

impl Classifier {
    /// Copies the parameters to `backend` for batch scoring there.
    ///
    /// # Errors
    /// Backend errors (out of device memory).
    pub fn scorer<'a, B: Backend>(&self, backend: &'a B) -> Result<Scorer<'a, B>> {
        Ok(Scorer { be: backend, params: self.resident(backend)? })
    }

    /// Moves `backend` into a scorer with the parameters copied there.
    ///
    /// # Errors
    /// Backend errors (out of device memory).
    pub fn into_scorer<B: Backend>(&self, backend: B) -> Result<OwnedScorer<B>> {
        let params = self.resident(&backend)?;
        Ok(OwnedScorer { be: backend, params })
    }

    fn resident<B: Backend>(&self, backend: &B) -> Result<Resident<B>> {
        Ok(Resident {
            dim: self.dim,
            labels: self.labels.len(),
            buckets: self.buckets,
            word_ngrams: Some(self.word_ngrams),
            embeddings: backend.upload(&self.embeddings)?,
            weights: backend.upload(&self.weights)?,
            bias: backend.upload(&self.bias)?,
        })
    }
}

impl<B: Backend> Scorer<'_, B> {
    /// Label probabilities of every text, in order (features hashed on the CPU).
    ///
    /// # Errors
    /// Backend errors; a batch of 2^32 features or more.
    pub fn score_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.params.score_batch(self.be, texts)
    }

    /// Probabilities `[bags, labels]`, row-major, of precomputed features (as from
    /// [`features_batch`]); uploads them, scores, downloads the result.
    ///
    /// # Errors
    /// [`Error::Input`] for offsets that are empty, decreasing or past the end of `ids`, or ids
    /// outside the model's buckets; backend errors.
    pub fn score_features(&self, ids: &[u32], offsets: &[u32]) -> Result<Vec<f32>> {
        self.params.score_features(self.be, ids, offsets)
    }

    /// Probabilities `[bags, labels]` of features already on the device, left there (for
    /// pipelines that keep data on the GPU, and to time the device work alone). Unchecked: the
    /// ids must be below the model's buckets and the offsets valid, as [`Scorer::score_features`]
    /// checks.
    ///
    /// # Errors
    /// Backend errors.
    pub fn score_uploaded(&self, ids: &B::Ids, offsets: &B::Ids, bags: usize) -> Result<B::Buf> {
        self.params.score_uploaded(self.be, ids, offsets, bags)
    }
}

impl<B: Backend> OwnedScorer<B> {
    /// Moves `backend` into a scorer of a [`super::Bag`] (no bias; features from the caller:
    /// [`OwnedScorer::score_features`] only, the text methods fail).
    ///
    /// # Errors
    /// Backend errors (out of device memory); a model of 2^32 rows or more.
    pub fn for_bag(backend: B, bag: &super::Bag) -> Result<Self> {
        let rows = bag.input.len() / bag.dim.max(1);
        let buckets = u32::try_from(rows)
            .map_err(|_| Error::Input(format!("a model of {rows} rows is too large to score")))?;
        let params = Resident {
            dim: bag.dim,
            labels: bag.labels,
            buckets,
            word_ngrams: None,
            embeddings: backend.upload(&bag.input)?,
            weights: backend.upload(&bag.output)?,
            bias: backend.upload(&vec![0.0; bag.labels])?,
        };
        Ok(Self { be: backend, params })
    }

    /// The backend scoring runs on.
    pub fn backend(&self) -> &B {
        &self.be
    }

    /// As [`Scorer::score_batch`].
    ///
    /// # Errors
    /// Backend errors; a batch of 2^32 features or more.
    pub fn score_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.params.score_batch(&self.be, texts)
    }

    /// As [`Scorer::score_features`].
    ///
    /// # Errors
    /// As [`Scorer::score_features`].
    pub fn score_features(&self, ids: &[u32], offsets: &[u32]) -> Result<Vec<f32>> {
        self.params.score_features(&self.be, ids, offsets)
    }

    /// The features of `texts` as [`OwnedScorer::score_features`] takes them (hashed on the
    /// CPU in parallel; call this outside any lock that serializes device work).
    ///
    /// # Errors
    /// A batch of 2^32 features or more.
    pub fn features(&self, texts: &[&str]) -> Result<(Vec<u32>, Vec<u32>)> {
        features_batch(texts, self.params.buckets, self.params.text_features()?)
    }

    /// Number of labels (the width of each probability row).
    pub fn labels(&self) -> usize {
        self.params.labels
    }
}

impl<B: Backend> Resident<B> {
    /// The word n-gram length of a model that hashes text itself.
    fn text_features(&self) -> Result<u32> {
        self.word_ngrams.ok_or_else(|| {
            Error::Input("this scorer takes feature ids (score_features), not text".into())
        })
    }

    fn score_batch(&self, be: &B, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let (ids, offsets) = features_batch(texts, self.buckets, self.text_features()?)?;
        let probs = self.score_features(be, &ids, &offsets)?;
        Ok(probs.chunks_exact(self.labels.max(1)).map(<[f32]>::to_vec).collect())
    }

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
        if let Some(id) = ids.iter().find(|&&id| id >= self.buckets) {
            return bad(format!("feature {id} is outside the model's {} buckets", self.buckets));
        }
        let bags = offsets.len() - 1;
        if bags == 0 {
            return Ok(Vec::new());
        }
        // All texts may be empty; a zero-byte device allocation is not portable, so pad.
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
mod tests {
    use super::*;
    use crate::backend::CpuBackend;
    use crate::classifier::ClassifierConfig;

    #[test]
    fn backend_scoring_matches_score_batch_and_checks_input() {
        let data = [
            ("the cat sat on the mat", 0),
            ("der hund lief nach hause", 1),
            ("the dog ran home", 0),
            ("die katze sass", 1),
        ];
        let config =
            ClassifierConfig { buckets: 1 << 10, epochs: 10, ..ClassifierConfig::default() };
        let model = Classifier::train(&config, vec!["en".into(), "de".into()], &data).unwrap();
        let texts = ["the cat ran home", "", "die hund", "a b c d e f"];
        let want = model.score_batch(&texts);
        let got = model.scorer(&CpuBackend).unwrap().score_batch(&texts).unwrap();
        for (w, g) in want.iter().zip(&got) {
            assert!(w.iter().zip(g).all(|(a, b)| (a - b).abs() < 1e-6), "{w:?} vs {g:?}");
        }
        let scorer = model.scorer(&CpuBackend).unwrap();
        assert!(scorer.score_features(&[1, 2], &[0, 3]).is_err());
        assert!(scorer.score_features(&[1 << 10], &[0, 1]).is_err());
        assert!(scorer.score_features(&[1, 2], &[0, 2, 1]).is_err());
        assert_eq!(scorer.score_features(&[], &[0]).unwrap().len(), 0);
        // Owning its backend, it scores the same.
        let owned = model.into_scorer(CpuBackend).unwrap();
        assert_eq!(owned.score_batch(&texts).unwrap(), got);
        let (ids, offsets) = owned.features(&texts).unwrap();
        assert_eq!(
            owned.score_features(&ids, &offsets).unwrap().len(),
            texts.len() * owned.labels()
        );
    }
}
