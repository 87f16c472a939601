//! MinHash signatures of word or character n-gram shingles.
//!
//! A document's shingles are its n-grams of lowercased words ([`for_each_word`]), or of
//! word characters (for CJK and other scripts without spaces), as [`MinHashConfig::shingles`]
//! says: [`Shingles::Auto`] (the default) takes characters for a document whose Han/Kana
//! characters are at least 30% of its letters ([`is_cjk_text`]) and words otherwise;
//! [`MinHashConfig::char_ngrams`] forces characters. A document with fewer than `n` tokens has one shingle, all its tokens;
//! a document with no tokens has none, and its signature is all `u64::MAX` (it is never a
//! near-duplicate of anything; exact dedup still sees it).
//!
//! Each shingle is hashed to 64 bits: words are hashed with XXH3-64, and the shingle hash is
//! XXH3-64 of its word hashes (little-endian, in order). Permutation `i` maps a shingle hash
//! `x` to `a_i * x + b_i (mod 2^64)` with `a_i` odd (a bijection of `u64`); signature slot `i`
//! is the minimum over the shingles. The `(a_i, b_i)` come from SplitMix64 seeded with
//! [`MinHashConfig::seed`], so signatures are deterministic. The multiply-add family is two
//! to three times cheaper than arithmetic modulo the Mersenne prime `2^61 - 1` (datasketch,
//! datatrove) and estimates Jaccard just as well on hashed inputs (see the tests).

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::error::{Error, Result};
use crate::normalize::{for_each_word, for_each_word_char};

/// The largest supported shingle size.
pub const MAX_NGRAM: usize = 32;

/// How signatures are computed and banded. `FooConfig` builds [`MinHasher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinHashConfig {
    /// Number of hash permutations (signature length, 64-bit values); at least `bands * rows`.
    pub num_perm: usize,
    /// Number of LSH bands.
    pub bands: usize,
    /// Rows (signature values) per band.
    pub rows: usize,
    /// Shingle size in tokens (words, or characters with `char_ngrams`).
    pub ngram: usize,
    /// Shingle characters instead of words whatever `shingles` says (for CJK and other
    /// unsegmented scripts).
    pub char_ngrams: bool,
    /// Words or characters per document (default [`Shingles::Auto`]).
    pub shingles: Shingles,
    /// Seed of the permutations; signatures from different seeds are not comparable.
    pub seed: u64,
}

impl Default for MinHashConfig {
    /// FineWeb's setup: 5-word shingles, 14 bands of 8 rows, 112 permutations.
    fn default() -> Self {
        MinHashConfig {
            num_perm: 112,
            bands: 14,
            rows: 8,
            ngram: 5,
            char_ngrams: false,
            shingles: Shingles::Auto,
            seed: 1,
        }
    }
}

/// What a document's shingles are made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shingles {
    /// Characters for CJK documents ([`is_cjk_text`]), words for the others.
    #[default]
    Auto,
    /// Words for every document.
    Words,
    /// Characters for every document.
    Chars,
}

/// Han/Kana share of letters from which [`Shingles::Auto`] shingles characters.
pub const CJK_MIN_SHARE: f64 = 0.3;

/// Whether Han and Kana characters are at least [`CJK_MIN_SHARE`] of the letters among the first
/// 4,096 characters of `text`.
pub fn is_cjk_text(text: &str) -> bool {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in text.chars().take(4096) {
        if c.is_ascii() {
            letters += usize::from(c.is_ascii_alphabetic());
        } else if matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
        {
            cjk += 1;
            letters += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    letters > 0 && cjk as f64 >= CJK_MIN_SHARE * letters as f64
}

impl MinHashConfig {
    /// A config with `num_perm` permutations and the bands and rows that minimize the
    /// equally weighted false-positive and false-negative areas of the LSH S-curve around
    /// `threshold` (datasketch's `_optimal_param`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `threshold` is not in (0, 1) or `num_perm` is 0.
    pub fn from_threshold(threshold: f64, num_perm: usize) -> Result<Self> {
        if !(threshold > 0.0 && threshold < 1.0) || num_perm == 0 {
            return Err(Error::Config(format!(
                "threshold {threshold} must be in (0, 1) and num_perm {num_perm} > 0"
            )));
        }
        let mut best = (f64::INFINITY, 1, 1);
        for b in 1..=num_perm {
            for r in 1..=num_perm / b {
                let p = |s: f64| 1.0 - (1.0 - s.powi(r as i32)).powi(b as i32);
                let fp = integrate(p, 0.0, threshold);
                let fneg = integrate(|s| 1.0 - p(s), threshold, 1.0);
                let err = 0.5 * fp + 0.5 * fneg;
                if err < best.0 {
                    best = (err, b, r);
                }
            }
        }
        Ok(MinHashConfig { num_perm, bands: best.1, rows: best.2, ..MinHashConfig::default() })
    }

    /// Checks the values are usable.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the bad value.
    pub fn validate(&self) -> Result<()> {
        if self.bands == 0 || self.rows == 0 || self.bands * self.rows > self.num_perm {
            return Err(Error::Config(format!(
                "bands ({}) x rows ({}) must be at least 1 and at most num_perm ({})",
                self.bands, self.rows, self.num_perm
            )));
        }
        if self.ngram == 0 || self.ngram > MAX_NGRAM {
            return Err(Error::Config(format!("ngram {} must be in 1..={MAX_NGRAM}", self.ngram)));
        }
        Ok(())
    }

    /// Probability that two documents with Jaccard similarity `j` share at least one band.
    pub fn candidate_probability(&self, j: f64) -> f64 {
        1.0 - (1.0 - j.powi(self.rows as i32)).powi(self.bands as i32)
    }

    /// A hash of every field: artifacts record it so that phases refuse to mix configs.
    pub fn fingerprint(&self) -> u64 {
        let mut b = Vec::with_capacity(48);
        for v in [
            self.num_perm as u64,
            self.bands as u64,
            self.rows as u64,
            self.ngram as u64,
            self.char_ngrams as u64,
            self.shingles as u64,
            self.seed,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        xxh3_64(&b)
    }
}

/// Simpson's rule with 64 intervals: the S-curve is smooth, this is accurate to ~1e-6.
fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    const N: usize = 64;
    let h = (hi - lo) / N as f64;
    let mut sum = f(lo) + f(hi);
    for i in 1..N {
        sum += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    sum * h / 3.0
}

/// SplitMix64: the permutation coefficients' generator.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Computes MinHash signatures. Cheap to share across threads (`&self` only).
#[derive(Debug, Clone)]
pub struct MinHasher {
    config: MinHashConfig,
    mul: Vec<u64>,
    add: Vec<u64>,
}

impl MinHasher {
    /// Builds the permutations for `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the config does not [`validate`](MinHashConfig::validate).
    pub fn new(config: MinHashConfig) -> Result<Self> {
        config.validate()?;
        let mut state = config.seed;
        let mul = (0..config.num_perm).map(|_| splitmix64(&mut state) | 1).collect();
        let add = (0..config.num_perm).map(|_| splitmix64(&mut state)).collect();
        Ok(MinHasher { config, mul, add })
    }

    /// The config this hasher was built from.
    pub fn config(&self) -> &MinHashConfig {
        &self.config
    }

    /// The signature of `text` (length `num_perm`).
    pub fn signature(&self, text: &str) -> Vec<u64> {
        let mut sig = vec![u64::MAX; self.config.num_perm];
        self.signature_into(text, &mut sig);
        sig
    }

    /// Writes the signature of `text` into `sig` (length `num_perm`) and returns the number
    /// of shingles (with repeats); 0 means the text has no tokens.
    ///
    /// # Panics
    ///
    /// If `sig.len() != num_perm`.
    pub fn signature_into(&self, text: &str, sig: &mut [u64]) -> u64 {
        assert_eq!(sig.len(), self.config.num_perm, "signature buffer length");
        sig.fill(u64::MAX);
        let n = self.config.ngram;
        let mut tokens: Vec<u64> = Vec::with_capacity(text.len() / 5 + 1);
        let chars = self.config.char_ngrams
            || match self.config.shingles {
                Shingles::Auto => is_cjk_text(text),
                Shingles::Words => false,
                Shingles::Chars => true,
            };
        if chars {
            for_each_word_char(text, |c| tokens.push(u64::from(c)));
        } else {
            let mut buf = String::new();
            for_each_word(text, &mut buf, |w| tokens.push(xxh3_64(w.as_bytes())));
        }
        if tokens.is_empty() {
            return 0;
        }
        // Shingle hashes overwrite the token buffer in place (window `i` only reads tokens
        // at `i` and later).
        let windows = if tokens.len() < n { 1 } else { tokens.len() - n + 1 };
        let width = n.min(tokens.len());
        let mut bytes = [0u8; 8 * MAX_NGRAM];
        for i in 0..windows {
            for (chunk, t) in bytes.chunks_exact_mut(8).zip(&tokens[i..i + width]) {
                chunk.copy_from_slice(&t.to_le_bytes());
            }
            // Seeded by the window length so a short document's single shingle never equals
            // an n-gram.
            tokens[i] = xxh3_64_with_seed(&bytes[..8 * width], width as u64);
        }
        tokens.truncate(windows);
        self.fold(sig, &tokens);
        windows as u64
    }

    /// Folds shingle hashes into the signature: the hot loop. Permutations outside, shingles
    /// inside, with four independent minima so the multiply-add-min chains overlap.
    fn fold(&self, sig: &mut [u64], xs: &[u64]) {
        let chunks = xs.chunks_exact(4);
        let rest = chunks.remainder();
        for ((s, &a), &b) in sig.iter_mut().zip(&self.mul).zip(&self.add) {
            let mut m = [*s; 4];
            for c in chunks.clone() {
                for j in 0..4 {
                    m[j] = m[j].min(a.wrapping_mul(c[j]).wrapping_add(b));
                }
            }
            for &x in rest {
                m[0] = m[0].min(a.wrapping_mul(x).wrapping_add(b));
            }
            *s = m[0].min(m[1]).min(m[2].min(m[3]));
        }
    }
}

/// Estimated Jaccard similarity: the share of equal slots of two signatures (0 for empty
/// signatures or different lengths).
pub fn jaccard_estimate(a: &[u64], b: &[u64]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    equal as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn shingles(text: &str, n: usize) -> HashSet<String> {
        let w = crate::normalize::words(text);
        if w.len() < n {
            return [w.join(" ")].into_iter().collect();
        }
        w.windows(n).map(|x| x.join(" ")).collect()
    }

    #[test]
    fn identical_text_identical_signature_and_deterministic() {
        let h = MinHasher::new(MinHashConfig::default()).unwrap();
        let a = h.signature("The quick brown fox jumps over the lazy dog again and again");
        assert_eq!(a, h.signature("the QUICK brown fox, jumps over the lazy dog again and again!"));
        assert_eq!(jaccard_estimate(&a, &a), 1.0);
        let h2 = MinHasher::new(MinHashConfig::default()).unwrap();
        assert_eq!(a, h2.signature("The quick brown fox jumps over the lazy dog again and again"));
        let other = MinHasher::new(MinHashConfig { seed: 2, ..MinHashConfig::default() }).unwrap();
        assert_ne!(
            a,
            other.signature("The quick brown fox jumps over the lazy dog again and again")
        );
    }

    #[test]
    fn signature_scheme_is_as_documented() {
        // Pinned: changing the hashing scheme invalidates persistent indexes.
        let h = MinHasher::new(MinHashConfig::default()).unwrap();
        let s = h.signature("one two three four five six");
        let again = h.signature("one two three four five six");
        assert_eq!(s, again);
        let mut state = 1u64;
        let a0 = splitmix64(&mut state) | 1;
        let w: Vec<u64> = ["one", "two", "three", "four", "five", "six"]
            .iter()
            .map(|w| xxh3_64(w.as_bytes()))
            .collect();
        let sh = |ws: &[u64]| {
            let b: Vec<u8> = ws.iter().flat_map(|x| x.to_le_bytes()).collect();
            xxh3_64_with_seed(&b, 5)
        };
        let mut state = 1u64;
        let _ = (0..112).map(|_| splitmix64(&mut state)).count();
        let b0 = splitmix64(&mut state);
        let expect = (a0.wrapping_mul(sh(&w[0..5])).wrapping_add(b0))
            .min(a0.wrapping_mul(sh(&w[1..6])).wrapping_add(b0));
        assert_eq!(s[0], expect);
        // The literal value, so that a change to any step above fails loudly.
        assert_eq!(s[0], GOLDEN_SLOT0, "{:#x}", s[0]);
    }

    const GOLDEN_SLOT0: u64 = 0xce14_8f9a_481a_a784;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Two windows of a random word stream: the estimate is within 5 standard deviations
        /// (plus a little) of the true Jaccard of their 5-gram sets.
        #[test]
        fn estimate_within_tolerance(seed in 0u64..1_000_000, len in 50usize..400, shift in 0usize..400, vocab in 20u64..2000) {
            let k = 256;
            let h = MinHasher::new(MinHashConfig { num_perm: k, ..MinHashConfig::default() }).unwrap();
            let mut state = seed;
            let stream: Vec<String> = (0..len + shift).map(|_| format!("w{}", splitmix64(&mut state) % vocab)).collect();
            let a = stream[..len].join(" ");
            let b = stream[shift.min(len)..].join(" ");
            let (sa, sb) = (shingles(&a, 5), shingles(&b, 5));
            let truth = sa.intersection(&sb).count() as f64 / sa.union(&sb).count() as f64;
            let est = jaccard_estimate(&h.signature(&a), &h.signature(&b));
            let sigma = (truth * (1.0 - truth) / k as f64).sqrt();
            proptest::prop_assert!((est - truth).abs() <= 5.0 * sigma + 0.01, "est {} truth {}", est, truth);
        }
    }

    #[test]
    fn empty_and_short_texts() {
        let h = MinHasher::new(MinHashConfig::default()).unwrap();
        let mut sig = vec![0; 112];
        assert_eq!(h.signature_into("  ...  ", &mut sig), 0);
        assert!(sig.iter().all(|&x| x == u64::MAX));
        assert_eq!(h.signature_into("just three words", &mut sig), 1);
        assert_ne!(h.signature("just three words"), h.signature("just three"));
    }

    #[test]
    fn char_ngrams_see_cjk_edits() {
        let cfg = MinHashConfig {
            char_ngrams: true,
            ngram: 3,
            num_perm: 256,
            bands: 16,
            rows: 16,
            ..MinHashConfig::default()
        };
        let h = MinHasher::new(cfg).unwrap();
        let a = "床前明月光疑是地上霜举头望明月低头思故乡春眠不觉晓处处闻啼鸟夜来风雨声花落知多少";
        let b = "床前明月光疑是地上霜举头望明月低头思故乡春眠不觉晓处处闻啼鸟夜来风雨声花落知多";
        let j = jaccard_estimate(&h.signature(a), &h.signature(b));
        assert!(j > 0.85 && j < 1.0, "{j}");
        // `auto` takes characters for the CJK text: the same signatures.
        let auto = MinHasher::new(MinHashConfig { char_ngrams: false, ..cfg }).unwrap();
        assert_eq!(auto.signature(a), h.signature(a));
        let words =
            MinHasher::new(MinHashConfig { shingles: Shingles::Words, ..auto.config }).unwrap();
        // As words, the unspaced text is one token: any edit makes another signature.
        assert_eq!(jaccard_estimate(&words.signature(a), &words.signature(b)), 0.0);
        // English stays on words.
        let en = "the quick brown fox jumps over the lazy dog";
        assert_eq!(auto.signature(en), words.signature(en));
        assert!(is_cjk_text("中文 text 混合") && !is_cjk_text("English 一"));
    }

    #[test]
    fn estimate_tracks_true_jaccard() {
        // Overlapping windows of a long pseudo-random word stream have known Jaccard.
        let h = MinHasher::new(MinHashConfig {
            num_perm: 512,
            bands: 32,
            rows: 16,
            ..MinHashConfig::default()
        })
        .unwrap();
        let mut state = 7u64;
        let vocab: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
        let stream: Vec<&str> =
            (0..4000).map(|_| vocab[(splitmix64(&mut state) % 5000) as usize].as_str()).collect();
        for (len, shift) in [(1000, 100), (1000, 300), (1000, 600), (2000, 200)] {
            let a = stream[..len].join(" ");
            let b = stream[shift..shift + len].join(" ");
            let (sa, sb) = (shingles(&a, 5), shingles(&b, 5));
            let truth = sa.intersection(&sb).count() as f64 / sa.union(&sb).count() as f64;
            let est = jaccard_estimate(&h.signature(&a), &h.signature(&b));
            assert!((est - truth).abs() < 0.07, "len {len} shift {shift}: est {est} truth {truth}");
        }
    }

    #[test]
    fn from_threshold_balances_the_s_curve() {
        let c = MinHashConfig::from_threshold(0.8, 128).unwrap();
        // datasketch's MinHashLSH(threshold=0.8, num_perm=128) picks the same.
        assert_eq!((c.bands, c.rows), (9, 13));
        assert!(c.candidate_probability(0.9) > 0.9, "{c:?}");
        assert!(c.candidate_probability(0.5) < 0.01, "{c:?}");
        assert!(MinHashConfig::from_threshold(1.5, 128).is_err());
        let d = MinHashConfig::default();
        assert!((d.candidate_probability(0.8) - 0.924).abs() < 0.01);
    }

    #[test]
    fn validate_rejects_bad_shapes() {
        assert!(MinHasher::new(MinHashConfig { bands: 20, ..MinHashConfig::default() }).is_err());
        assert!(MinHasher::new(MinHashConfig { ngram: 0, ..MinHashConfig::default() }).is_err());
    }
}
