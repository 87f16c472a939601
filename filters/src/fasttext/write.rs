//! Writing supervised models in fastText's `.bin` format (version 12, softmax loss, dense
//! matrices; the layout in the parent module's docs), readable by [`super::FastText::load`] and
//! by the `fasttext` tool and Python package. A model is trained in two steps: the dictionary
//! of the training lines is written with one-column zero matrices, loaded, and asked for each
//! line's rows ([`super::FastText::line_rows`]), so that training sees exactly the features
//! prediction computes; the trained matrices are then written with the same dictionary.

use std::io::Write;
use std::path::Path;

use rustc_hash::FxHashMap;

use super::{EOS, LABEL_PREFIX, MAGIC, words};
use crate::error::{Error, Result};

/// fastText's format version written.
const VERSION: i32 = 12;
/// fastText's code of the softmax loss and of the supervised model.
const LOSS_SOFTMAX: i32 = 3;
const MODEL_SUPERVISED: i32 = 3;

/// The settings stored in a model file (fastText's `Args` that prediction reads, and the
/// training ones fastText keeps for the record).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelArgs {
    /// Embedding width.
    pub dim: usize,
    /// Passes over the training data (recorded only).
    pub epoch: u32,
    /// Minimum count of a word to enter the dictionary (recorded only).
    pub min_count: u32,
    /// Longest word n-gram (1: words only; 2: adds bigrams).
    pub word_ngrams: u32,
    /// Hash buckets for character and word n-grams.
    pub bucket: u32,
    /// Shortest and longest character n-gram (`maxn = 0`: none).
    pub minn: u32,
    /// Longest character n-gram.
    pub maxn: u32,
}

/// A model's dictionary: the words of the training lines that occur at least `min_count`
/// times (`</s>` counted once per line), most frequent first, then the labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dictionary {
    words: Vec<(String, i64)>,
    labels: Vec<(String, i64)>,
    tokens: i64,
}

impl Dictionary {
    /// Counts the words of `lines` (split as fastText splits them; tokens that start with
    /// `__label__` are not words) and keeps those seen `min_count` times or more. `labels`
    /// are the label names with their example counts; `__label__` is prefixed where missing.
    pub fn build<'a>(
        lines: impl IntoIterator<Item = &'a str>,
        labels: &[(String, u64)],
        min_count: u32,
    ) -> Self {
        let mut counts: FxHashMap<&str, i64> = FxHashMap::default();
        let mut tokens = 0i64;
        for line in lines {
            for w in words(line).chain([EOS]) {
                if !w.starts_with(LABEL_PREFIX) {
                    *counts.entry(w).or_default() += 1;
                    tokens += 1;
                }
            }
        }
        let mut words: Vec<(String, i64)> = counts
            .into_iter()
            .filter(|&(_, c)| c >= i64::from(min_count.max(1)))
            .map(|(w, c)| (w.to_string(), c))
            .collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let labels = labels
            .iter()
            .map(|(l, c)| {
                let name = if l.starts_with(LABEL_PREFIX) {
                    l.clone()
                } else {
                    LABEL_PREFIX.to_string() + l
                };
                (name, *c as i64)
            })
            .collect();
        Self { words, labels, tokens }
    }

    /// Number of words (the first rows of the input matrix).
    pub fn words(&self) -> usize {
        self.words.len()
    }

    /// Number of labels (the rows of the output matrix).
    pub fn labels(&self) -> usize {
        self.labels.len()
    }
}

/// Writes a supervised softmax model: `input` is `(words + bucket) × dim`, `output` is
/// `labels × dim`, row-major. Written to `path.tmp`, then renamed.
///
/// # Errors
/// [`Error::InvalidConfig`] if a matrix does not have the size the dictionary and `args` say;
/// [`Error::Io`] if the file cannot be written.
pub fn write_model(
    path: &Path,
    args: &ModelArgs,
    dict: &Dictionary,
    input: &[f32],
    output: &[f32],
) -> Result<()> {
    let rows = dict.words() + args.bucket as usize;
    if input.len() != rows * args.dim || output.len() != dict.labels() * args.dim {
        return Err(crate::error::invalid(
            "fasttext",
            "matrices",
            format!(
                "are {} and {} floats; the dictionary and dim {} want {} and {}",
                input.len(),
                output.len(),
                args.dim,
                rows * args.dim,
                dict.labels() * args.dim
            ),
        ));
    }
    let mut b: Vec<u8> = Vec::with_capacity(64 + 4 * (input.len() + output.len()));
    let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    let dim = args.dim as i32;
    i32s(&mut b, &[MAGIC, VERSION]);
    // dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn, lrUpdateRate
    let ints = [dim, 5, args.epoch as i32, args.min_count as i32, 5, args.word_ngrams as i32];
    i32s(&mut b, &ints);
    let (bucket, minn, maxn) = (args.bucket as i32, args.minn as i32, args.maxn as i32);
    i32s(&mut b, &[LOSS_SOFTMAX, MODEL_SUPERVISED, bucket, minn, maxn, 100]);
    b.extend(1e-4f64.to_le_bytes());
    let size = (dict.words.len() + dict.labels.len()) as i32;
    i32s(&mut b, &[size, dict.words.len() as i32, dict.labels.len() as i32]);
    b.extend(dict.tokens.to_le_bytes());
    b.extend((-1i64).to_le_bytes()); // no prune index
    for (entries, kind) in [(&dict.words, 0u8), (&dict.labels, 1u8)] {
        for (w, c) in entries {
            b.extend(w.as_bytes());
            b.push(0);
            b.extend(c.to_le_bytes());
            b.push(kind);
        }
    }
    for (m, data) in [(rows, input), (dict.labels(), output)] {
        b.push(0); // not quantized
        b.extend((m as i64).to_le_bytes());
        b.extend((args.dim as i64).to_le_bytes());
        data.iter().for_each(|x| b.extend(x.to_le_bytes()));
    }
    let io = |source| Error::Io { what: "fastText model", path: path.to_path_buf(), source };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&b).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::FastText;
    use super::*;

    #[test]
    fn a_written_model_loads_and_predicts_from_its_matrices() {
        let lines = ["good clean text here", "buy cheap pills now", "clean text", "cheap pills"];
        let labels = [("ok".to_string(), 2), ("__label__spam".to_string(), 2)];
        let dict = Dictionary::build(lines, &labels, 2);
        // "text", "clean", "cheap", "pills" twice, "</s>" four times.
        assert_eq!(dict.words(), 5);
        assert_eq!(dict.words[0], ("</s>".to_string(), 4));
        let args = ModelArgs {
            dim: 2,
            epoch: 1,
            min_count: 2,
            word_ngrams: 2,
            bucket: 10,
            minn: 2,
            maxn: 3,
        };
        let rows = dict.words() + 10;
        // Input row r is (r, 0); the output makes the label score the first coordinate.
        let input: Vec<f32> = (0..rows).flat_map(|r| [r as f32, 0.0]).collect();
        let output = [0.0, 0.0, 1.0, 0.0];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        assert!(write_model(&path, &args, &dict, &input[2..], &output).is_err());
        write_model(&path, &args, &dict, &input, &output).unwrap();
        let model = FastText::load(&path).unwrap();
        assert_eq!(model.labels(), ["__label__ok", "__label__spam"]);
        assert_eq!((model.dim(), model.input_rows()), (2, rows));
        let ids = model.line_rows("cheap unknown");
        // "cheap" is word 1..5 with its character n-grams; an unknown word has only n-grams.
        assert!(ids.iter().all(|&i| (i as usize) < rows));
        assert!(ids.len() > 4 && ids.iter().filter(|&&i| (i as usize) < dict.words()).count() == 2);
        // The mean of the rows' first coordinates is the spam logit.
        let mean = ids.iter().map(|&i| i as f32).sum::<f32>() / ids.len() as f32;
        let p_spam = 1.0 / (1.0 + (-mean).exp());
        let got = model.predict("cheap unknown", 2);
        assert_eq!(got[0].0, "__label__spam");
        assert!((got[0].1 - p_spam).abs() < 1e-4, "{got:?} vs {p_spam}");
        let (i, o) = model.dense_matrices().unwrap();
        assert_eq!((i, o), (&input[..], &output[..]));
    }
}
