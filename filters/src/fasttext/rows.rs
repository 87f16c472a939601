//! A line's input rows as fastText computes them, for training and for scoring elsewhere (the
//! engine's embedding bag on a GPU): the same tokenization and hashing as prediction.

use super::scan::Key;
use super::{EOS, FastText, LABEL_PREFIX, hash, matrix::Matrix, words};

impl FastText {
    /// The input-matrix rows of `line` in fastText's order (`Dictionary::getLine` with
    /// `addSubwords` and `addWordNgrams`): per word its id if the model knows it, then its
    /// character n-grams, `</s>` at the end, then the word n-grams. Their mean is the hidden
    /// vector [`FastText::predict`] scores. Unknown tokens that start with `__label__` are
    /// skipped, as in prediction.
    pub fn line_rows(&self, line: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::new();
        let mut buf = Vec::new();
        let mut word_hashes = Vec::new();
        for word in words(line).chain([EOS]) {
            let key = Key::of(word.as_bytes());
            match self.vocab.id(word.as_bytes(), &key, key.hash()) {
                // Precomputed at load for exact summation; computed here otherwise.
                Some(id) => match self.word_spans.get(id) {
                    Some(&(a, b)) => ids.extend_from_slice(&self.word_ids[a as usize..b as usize]),
                    None => {
                        ids.push(id as u32);
                        self.subwords(word.as_bytes(), &mut ids, &mut buf);
                    }
                },
                None if word.starts_with(LABEL_PREFIX) => continue,
                None => self.subwords(word.as_bytes(), &mut ids, &mut buf),
            }
            if self.word_ngrams > 1 {
                word_hashes.push(hash(word.as_bytes()) as i32);
            }
        }
        self.push_word_ngrams(&word_hashes, &mut ids);
        ids
    }

    /// Rows of the input matrix (words, then hash buckets): the bound of [`FastText::line_rows`].
    pub fn input_rows(&self) -> usize {
        self.input.rows()
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The input and output matrices, row-major (`input_rows() × dim` and `labels × dim`), of
    /// a model that is not quantized; `None` for a quantized (`.ftz`) one.
    pub fn dense_matrices(&self) -> Option<(&[f32], &[f32])> {
        match (&self.input, &self.output) {
            (Matrix::Dense { m, n, data: i }, Matrix::Dense { m: mo, n: no, data: o }) => {
                Some((&i[..m * n], &o[..mo * no]))
            }
            _ => None,
        }
    }
}
