//! [`Summation::PerWord`](super::Summation::PerWord)'s hidden vector with the row width fixed
//! at compile time (up to 8 lanes, 32 dimensions), so that the sum stays in
//! registers across a line: per token one lookup and one add of the word's sum.

use super::exact_cache::{LANES, Lane, Mode, WORD_SUMS, Word, WordRows};
use super::scan::{Key, Words};
use super::{EOS, FastText, LABEL_PREFIX, hash};

/// Tokens keyed (and their table entries prefetched) before any is looked up, so that the
/// cache misses of a group overlap.
const GROUP: usize = 32;

impl FastText {
    /// The hidden vector of `line` with per-word sums, within `budget` bytes of the thread's
    /// cache: `Ok(None)` when there are no rows, `Err(())` when the rows are wider than 8
    /// lanes (the caller adds them another way).
    pub(super) fn hidden_sums(&self, line: &str, budget: usize) -> Result<Option<Vec<f32>>, ()> {
        WORD_SUMS.with_borrow_mut(|cache| {
            cache.for_model(self, Mode::Sums, budget);
            Ok(match cache.width() {
                1 => self.sums_fixed::<1>(line, cache),
                2 => self.sums_fixed::<2>(line, cache),
                3 => self.sums_fixed::<3>(line, cache),
                4 => self.sums_fixed::<4>(line, cache),
                5 => self.sums_fixed::<5>(line, cache),
                6 => self.sums_fixed::<6>(line, cache),
                7 => self.sums_fixed::<7>(line, cache),
                8 => self.sums_fixed::<8>(line, cache),
                _ => return Err(()),
            })
        })
    }

    fn sums_fixed<const W: usize>(&self, line: &str, cache: &mut WordRows) -> Option<Vec<f32>> {
        let mut acc = [[0f32; LANES]; W];
        let add = |acc: &mut [Lane; W], sum: &[Lane]| {
            for (a, s) in acc.iter_mut().zip(sum) {
                (0..LANES).for_each(|i| a[i] += s[i]);
            }
        };
        let mut rows = 0usize;
        let bigrams = self.word_ngrams > 1;
        let mut word_hashes = std::mem::take(&mut cache.word_hashes);
        word_hashes.clear();
        // The same token groups as `hidden_with` fills: a shared iterator and group filler
        // measured 10% slower here (BENCHMARKS.md, "fastText classifiers").
        let bytes = line.as_bytes();
        let mut tokens = Words::new(bytes)
            .map(|(s, e)| (&bytes[s..e], Key::in_line(bytes, s, e)))
            .chain([(EOS.as_bytes(), Key::of(EOS.as_bytes()))]);
        let mut group = [(&[][..], Key::default(), 0u64); GROUP];
        loop {
            let mut n = 0;
            for (slot, (word, key)) in group.iter_mut().zip(tokens.by_ref()) {
                let h = key.hash();
                self.vocab.prefetch(h);
                if self.maxn > 0 {
                    cache.prefetch(h);
                }
                *slot = (word, key, h);
                n += 1;
            }
            if n == 0 {
                break;
            }
            for &(word, ref key, h) in &group[..n] {
                let ft_hash = match self.vocab.find(word, key, h) {
                    Some(f) => {
                        let id = f.id as usize;
                        add(&mut acc, &self.word_vecs[id * W..id * W + W]);
                        rows += f.rows as usize;
                        f.ft_hash
                    }
                    // fastText skips unknown labels ...
                    None if word.starts_with(LABEL_PREFIX.as_bytes()) => continue,
                    // ... and, without character n-grams, an unknown word adds no row.
                    None if self.maxn == 0 => {
                        if bigrams {
                            hash(word)
                        } else {
                            0
                        }
                    }
                    None => match cache.word(self, word, key, h, true) {
                        Word::Sum(sum, n, ft_hash) => {
                            add(&mut acc, sum);
                            rows += n;
                            ft_hash
                        }
                        Word::Ids(ids, ft_hash) => {
                            let mut sum = [[0f32; LANES]; W];
                            self.add_ids(&mut sum, ids);
                            add(&mut acc, &sum);
                            rows += ids.len();
                            ft_hash
                        }
                        Word::Rows(block, ft_hash) => {
                            block.chunks_exact(W).for_each(|r| add(&mut acc, r));
                            rows += block.len() / W;
                            ft_hash
                        }
                        Word::Skip => continue,
                    },
                };
                if bigrams {
                    word_hashes.push(ft_hash as i32);
                }
            }
        }
        if bigrams {
            let mut ids = std::mem::take(&mut cache.ngram_ids);
            ids.clear();
            self.push_word_ngrams(&word_hashes, &mut ids);
            // Through a copy, so that `acc` itself stays in registers.
            let mut with_ngrams = acc;
            self.add_ids(&mut with_ngrams, &ids);
            acc = with_ngrams;
            rows += ids.len();
            cache.ngram_ids = ids;
        }
        cache.word_hashes = word_hashes;
        if rows == 0 {
            return None;
        }
        let mut hidden = acc.as_flattened()[..self.dim].to_vec();
        // fastText: `hidden.mul(1.0 / input.size())`, the factor in double, then a float.
        let inv = (1.0 / rows as f64) as f32;
        hidden.iter_mut().for_each(|x| *x *= inv);
        Some(hidden)
    }
}
