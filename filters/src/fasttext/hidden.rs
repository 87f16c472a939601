//! The hidden vector of a line: the mean of its input rows, added in fastText's order
//! ([`Summation::Exact`]) or per word ([`Summation::PerWord`]).

use std::cell::RefCell;
use std::thread::LocalKey;

use super::exact_cache::{
    LANES, Lane, Mode, WORD_ROWS, WORD_SUMS, Word, WordRows, add_id_rows, add_rows,
};
use super::scan::{Key, Words};
use super::vocab::Found;
use super::{EOS, FastText, LABEL_PREFIX, Summation, hash};

/// [`Summation::PerWord`] adds the rows of longer lines in fastText's order. A float sum
/// rounds differently in another order, and the difference grows with the number of rows: on
/// the parity set (10,000 documents, `genre.bin`, character n-grams) per-word sums stay
/// within 4e-5 of fastText's probabilities up to 256 KiB and reach 1.1e-4 and 2.2e-4 on the
/// longest documents (311 and 379 KB).
pub const PER_WORD_MAX_BYTES: usize = 256 << 10;

/// Tokens hashed (and their table entries prefetched) before any is looked up, so that the
/// cache misses of a group overlap.
const GROUP: usize = 32;

/// A token of a line as its group is processed.
#[derive(Clone, Copy, Default)]
struct Token<'a> {
    word: &'a [u8],
    key: Key,
    /// [`Key::hash`].
    h: u64,
}

impl FastText {
    /// The mean of the input rows of a line's words, character n-grams and word n-grams, or
    /// `None` when there are no rows.
    pub(super) fn hidden(&self, line: &str) -> Option<Vec<f32>> {
        let dense = self.input.dense_data().is_some();
        let exact_mode = if dense { Mode::Ids } else { Mode::Rows };
        // Without character n-grams a word's sum is its one row: a dense model's rows are
        // listed by id and added in fastText's order whatever the summation (as fast).
        if self.summation != Summation::PerWord || self.rows_by_id() {
            return self.hidden_with(line, &WORD_ROWS, exact_mode, self.word_cache_bytes);
        }
        // Half of the budget to each cache: per-word sums, and rows for long lines.
        if line.len() > PER_WORD_MAX_BYTES {
            return self.hidden_with(line, &WORD_ROWS, exact_mode, self.word_cache_bytes / 2);
        }
        self.hidden_sums(line, self.word_cache_bytes / 2).unwrap_or_else(|()| {
            self.hidden_with(line, &WORD_SUMS, Mode::Sums, self.word_cache_bytes / 2)
        })
    }

    /// [`FastText::hidden`] with the thread's `cache` keeping what `mode` says within
    /// `budget` bytes. With [`Mode::Rows`] and [`Mode::Ids`] every row is added in fastText's
    /// order (`Model::computeHidden`), so the sum has fastText's roundings.
    fn hidden_with(
        &self,
        line: &str,
        cache: &'static LocalKey<RefCell<WordRows>>,
        mode: Mode,
        budget: usize,
    ) -> Option<Vec<f32>> {
        cache.with_borrow_mut(|cache| {
            cache.for_model(self, mode, budget);
            let mut hidden = vec![[0f32; LANES]; cache.width()];
            let mut rows = 0usize;
            let mut word_hashes = std::mem::take(&mut cache.word_hashes);
            word_hashes.clear();
            let bytes = line.as_bytes();
            let mut tokens = Words::new(bytes)
                .map(|(s, e)| (&bytes[s..e], Key::in_line(bytes, s, e)))
                .chain([(EOS.as_bytes(), Key::of(EOS.as_bytes()))]);
            let mut group = [Token::default(); GROUP];
            // Without character n-grams, only a quantized model's exact rows use the cache.
            let cached = self.maxn > 0 || mode == Mode::Rows;
            // A known word's row id is listed, and the line's rows are added at the end in one
            // pass, word n-grams after words, as fastText adds them.
            let by_id = self.rows_by_id();
            let mut ids = std::mem::take(&mut cache.ngram_ids);
            ids.clear();
            loop {
                let mut n = 0;
                for (slot, (word, key)) in group.iter_mut().zip(tokens.by_ref()) {
                    let h = key.hash();
                    // A quantized model's exact rows look the word up in the cache first.
                    if mode != Mode::Rows {
                        self.vocab.prefetch(h);
                    }
                    if cached {
                        cache.prefetch(h);
                    }
                    *slot = Token { word, key, h };
                    n += 1;
                }
                if n == 0 {
                    break;
                }
                for t in &group[..n] {
                    if by_id {
                        // An unknown word adds no row (no character n-grams) but its hash for
                        // word n-grams; fastText skips an unknown label.
                        let ft_hash = match self.vocab.find(t.word, &t.key, t.h) {
                            Some(found) => {
                                ids.push(found.id);
                                rows += 1;
                                found.ft_hash
                            }
                            None if t.word.starts_with(LABEL_PREFIX.as_bytes()) => continue,
                            None if self.word_ngrams > 1 => hash(t.word),
                            None => continue,
                        };
                        if self.word_ngrams > 1 {
                            word_hashes.push(ft_hash as i32);
                        }
                        continue;
                    }
                    let Some((n, ft_hash)) = self.add_word(cache, &mut hidden, t) else {
                        continue;
                    };
                    rows += n;
                    if self.word_ngrams > 1 {
                        word_hashes.push(ft_hash as i32);
                    }
                }
            }
            let words = ids.len();
            self.push_word_ngrams(&word_hashes, &mut ids);
            self.add_ids(&mut hidden, &ids);
            rows += ids.len() - words;
            cache.word_hashes = word_hashes;
            cache.ngram_ids = ids;
            if rows == 0 {
                return None;
            }
            let mut hidden = hidden.into_flattened();
            hidden.truncate(self.dim);
            // fastText: `hidden.mul(1.0 / input.size())`, the factor in double, then a float.
            let inv = (1.0 / rows as f64) as f32;
            hidden.iter_mut().for_each(|x| *x *= inv);
            Some(hidden)
        })
    }

    /// Adds the rows of token `t` to `hidden`, in fastText's order or as the sum the cache
    /// keeps: how many rows, and fastText's hash of the word; `None` for an unknown label,
    /// which fastText skips.
    fn add_word(
        &self,
        cache: &mut WordRows,
        hidden: &mut [Lane],
        t: &Token<'_>,
    ) -> Option<(usize, u32)> {
        let (word, key, h) = (t.word, &t.key, t.h);
        // Known words' rows (and per-word sums) were listed at load: only unknown words (their
        // character n-grams) go through the thread's cache. A quantized model's words all do
        // with exact sums, for their decoded rows.
        let known_first = cache.mode() != Mode::Rows;
        if known_first {
            match self.vocab.find(word, key, h) {
                Some(Found { id, ft_hash, rows }) => {
                    let id = id as usize;
                    if cache.mode() == Mode::Sums {
                        let w = hidden.len();
                        add_rows(hidden, &self.word_vecs[id * w..(id + 1) * w]);
                    } else {
                        let (a, b) = self.word_spans[id];
                        self.add_ids(hidden, &self.word_ids[a as usize..b as usize]);
                    }
                    return Some((rows as usize, ft_hash));
                }
                None if word.starts_with(LABEL_PREFIX.as_bytes()) => return None,
                // No character n-grams: an unknown word adds no row.
                None if self.maxn == 0 => {
                    let ft_hash = if self.word_ngrams > 1 { hash(word) } else { 0 };
                    return Some((0, ft_hash));
                }
                None => {}
            }
        }
        match cache.word(self, word, key, h, known_first) {
            Word::Rows(block, ft_hash) => {
                add_rows(hidden, block);
                Some((block.len() / hidden.len(), ft_hash))
            }
            Word::Sum(sum, rows, ft_hash) => {
                add_rows(hidden, sum);
                Some((rows, ft_hash))
            }
            Word::Ids(ids, ft_hash) => {
                self.add_ids(hidden, ids);
                Some((ids.len(), ft_hash))
            }
            Word::Skip => None,
        }
    }

    /// Adds the input rows `ids` to `hidden` (lanes) one after the other.
    pub(super) fn add_ids(&self, hidden: &mut [Lane], ids: &[u32]) {
        match self.input.dense_data() {
            Some(data) => add_id_rows(hidden, data, self.dim, ids),
            None => {
                let x = &mut hidden.as_flattened_mut()[..self.dim];
                ids.iter().for_each(|&id| self.input.add_row(x, id as usize));
            }
        }
    }

    /// The rows of the word n-grams of a line's word hashes: fastText mixes sign-extended
    /// 32-bit word hashes into a 64-bit hash.
    pub(super) fn push_word_ngrams(&self, word_hashes: &[i32], ids: &mut Vec<u32>) {
        for i in 0..word_hashes.len() {
            let mut h = word_hashes[i] as i64 as u64;
            for &wh in word_hashes.iter().skip(i + 1).take(self.word_ngrams.saturating_sub(1)) {
                h = h.wrapping_mul(116_049_371).wrapping_add(wh as i64 as u64);
                self.push_bucket(ids, self.ngram_mod.of(h) as u32);
            }
        }
    }
}
