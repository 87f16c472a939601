//! `gopher_repetition`: Gopher's repetition heuristics (Rae et al. 2021, table A1), as
//! datatrove 0.10.1's `GopherRepetitionFilter` computes them.
//!
//! Rules, in order (fractions are of the whole text's length in code points):
//! 1. `dup_para_frac` / `dup_para_char_frac`: paragraphs (split on 2+ newlines) that repeat an
//!    earlier one, as a share of paragraphs / their characters;
//! 2. `dup_line_frac` / `dup_line_char_frac`: the same for lines (split on 1+ newlines);
//! 3. `top_{n}_gram` for n = 2, 3, 4: characters of the most frequent word n-gram (joined by
//!    spaces) times its count;
//! 4. `duplicated_{n}_n_grams` for n = 5..10: characters of word n-grams (joined without
//!    separator, as datatrove does) seen before, skipping past each duplicate.
//!
//! Per script: for Chinese/Japanese documents a word is one Han/Kana character (see
//! [`crate::filters::words`]), so rules 3-4 look at character n-grams there; rules 1-2 are script-free.
//!
//! Known difference from datatrove: n-grams are compared as word sequences, so two different
//! sequences with the same concatenation (`ab c` vs `a bc`) count as distinct here for rule 4.

use std::hash::Hasher;

use rustc_hash::{FxHashSet, FxHasher};
use serde::Deserialize;

use crate::filters::Verdict;
use crate::filters::error::{Result, check_ratio, invalid};
use crate::filters::words::{WordMode, Words, char_len, py_strip};

/// Config of [`GopherRepetition`]; `None` disables a rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GopherRepetitionConfig {
    /// Maximum share of duplicate lines (ratio of lines).
    pub dup_line_frac: Option<f64>,
    /// Maximum share of duplicate paragraphs (ratio of paragraphs).
    pub dup_para_frac: Option<f64>,
    /// Maximum characters in duplicate lines (ratio of text characters).
    pub dup_line_char_frac: Option<f64>,
    /// Maximum characters in duplicate paragraphs (ratio of text characters).
    pub dup_para_char_frac: Option<f64>,
    /// `[n, max]` pairs: most frequent n-gram's characters × count (ratio of text characters).
    pub top_n_grams: Vec<(usize, f64)>,
    /// `[n, max]` pairs: characters in repeated n-grams (ratio of text characters).
    pub dup_n_grams: Vec<(usize, f64)>,
    /// How words are found.
    pub words: WordMode,
}

impl Default for GopherRepetitionConfig {
    fn default() -> Self {
        Self {
            dup_line_frac: Some(0.3),
            dup_para_frac: Some(0.3),
            dup_line_char_frac: Some(0.2),
            dup_para_char_frac: Some(0.2),
            top_n_grams: vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: vec![(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)],
            words: WordMode::Auto,
        }
    }
}

/// The Gopher repetition filter.
#[derive(Debug, Clone)]
pub struct GopherRepetition {
    cfg: GopherRepetitionConfig,
    top_labels: Vec<&'static str>,
    dup_labels: Vec<&'static str>,
}

fn label(prefix: &str, n: usize, suffix: &str) -> &'static str {
    // Labels are few and built once per filter; leaking keeps `Verdict` a plain `&'static str`.
    match (prefix, n) {
        ("top_", 2) => "top_2_gram",
        ("top_", 3) => "top_3_gram",
        ("top_", 4) => "top_4_gram",
        ("duplicated_", 5) => "duplicated_5_n_grams",
        ("duplicated_", 6) => "duplicated_6_n_grams",
        ("duplicated_", 7) => "duplicated_7_n_grams",
        ("duplicated_", 8) => "duplicated_8_n_grams",
        ("duplicated_", 9) => "duplicated_9_n_grams",
        ("duplicated_", 10) => "duplicated_10_n_grams",
        _ => Box::leak(format!("{prefix}{n}{suffix}").into_boxed_str()),
    }
}

impl GopherRepetition {
    /// Builds the filter.
    ///
    /// # Errors
    /// A ratio outside `[0, 1]` or an n-gram size of 0.
    pub fn new(cfg: GopherRepetitionConfig) -> Result<Self> {
        const F: &str = "gopher_repetition";
        for (field, v) in [
            ("dup_line_frac", cfg.dup_line_frac),
            ("dup_para_frac", cfg.dup_para_frac),
            ("dup_line_char_frac", cfg.dup_line_char_frac),
            ("dup_para_char_frac", cfg.dup_para_char_frac),
        ] {
            check_ratio(F, field, v)?;
        }
        for &(n, r) in cfg.top_n_grams.iter().chain(&cfg.dup_n_grams) {
            if n == 0 {
                return Err(invalid(F, "top_n_grams/dup_n_grams", "has n = 0; n-gram sizes start at 1"));
            }
            check_ratio(F, "top_n_grams/dup_n_grams", Some(r))?;
        }
        let top_labels = cfg.top_n_grams.iter().map(|&(n, _)| label("top_", n, "_gram")).collect();
        let dup_labels = cfg.dup_n_grams.iter().map(|&(n, _)| label("duplicated_", n, "_n_grams")).collect();
        Ok(Self { cfg, top_labels, dup_labels })
    }

    /// Keeps or drops one document.
    pub fn check(&self, text: &str) -> Verdict {
        self.check_inner(text, None)
    }

    /// [`Self::check`] with the document's words already split (shared between filters; they
    /// must come from `Words::new(text, mode)` with this filter's `words` mode).
    pub fn check_words(&self, text: &str, words: &Words<'_>) -> Verdict {
        self.check_inner(text, Some(words))
    }

    fn check_inner(&self, text: &str, shared: Option<&Words<'_>>) -> Verdict {
        let c = &self.cfg;
        if text.is_empty() {
            return Verdict::Drop("empty");
        }
        let total = char_len(text) as f64;
        let paragraphs: Vec<&str> = split_newline_runs(py_strip(text), 2);
        let (dups, dup_chars) = find_duplicates(&paragraphs);
        if c.dup_para_frac.is_some_and(|m| dups as f64 / paragraphs.len() as f64 > m) {
            return Verdict::Drop("dup_para_frac");
        }
        if c.dup_para_char_frac.is_some_and(|m| dup_chars as f64 / total > m) {
            return Verdict::Drop("dup_para_char_frac");
        }
        let lines = split_newline_runs(text, 1);
        let (dups, dup_chars) = find_duplicates(&lines);
        if c.dup_line_frac.is_some_and(|m| dups as f64 / lines.len() as f64 > m) {
            return Verdict::Drop("dup_line_frac");
        }
        if c.dup_line_char_frac.is_some_and(|m| dup_chars as f64 / total > m) {
            return Verdict::Drop("dup_line_char_frac");
        }
        if c.top_n_grams.is_empty() && c.dup_n_grams.is_empty() {
            return Verdict::Keep;
        }
        let own;
        let words = match shared {
            Some(w) => &w.tokens,
            None => {
                own = Words::new(text, c.words);
                &own.tokens
            }
        };
        let grams = NGrams::new(words);
        let mut table = CountTable::with_capacity(words.len());
        // If no n-gram occurs twice, no longer one does either (it would contain a repeated
        // n-gram): from there on the counts are known without counting.
        let mut unique_from = usize::MAX;
        for (&(n, max), &lbl) in c.top_n_grams.iter().zip(&self.top_labels) {
            let top = if n >= unique_from { grams.first_ngram_chars(n) } else { grams.top_ngram_chars(n, &mut table) };
            if let Some((chars, count)) = top {
                if count == 1 {
                    unique_from = unique_from.min(n);
                }
                if (chars * count) as f64 / total > max {
                    return Verdict::Drop(lbl);
                }
            }
        }
        for (&(n, max), &lbl) in c.dup_n_grams.iter().zip(&self.dup_labels) {
            if n >= unique_from {
                continue;
            }
            let repeated = grams.dup_ngram_chars(n, &mut table);
            if repeated == 0 {
                unique_from = unique_from.min(n);
            }
            if repeated as f64 / total > max {
                return Verdict::Drop(lbl);
            }
        }
        Verdict::Keep
    }
}

/// `re.split(r"\n{min,}", text)`.
fn split_newline_runs(text: &str, min: usize) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        if b[i] == b'\n' {
            let run = b[i..].iter().take_while(|&&x| x == b'\n').count();
            if run >= min {
                out.push(&text[start..i]);
                start = i + run;
            }
            i += run;
        } else {
            i += 1;
        }
    }
    out.push(&text[start..]);
    out
}

/// (number of elements equal to an earlier one, their total length in code points).
pub(crate) fn find_duplicates(items: &[&str]) -> (usize, usize) {
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let (mut n, mut chars) = (0, 0);
    for it in items {
        if !seen.insert(it) {
            n += 1;
            chars += char_len(it);
        }
    }
    (n, chars)
}

/// Word n-grams of a document with O(1) hashes and character lengths: words are interned to
/// ids, ids mapped to random 64-bit values, and an n-gram's hash is a polynomial over them
/// (prefix sums mod 2^64). Equal n-grams get equal hashes; a collision between different ones
/// is as likely as for any 64-bit hash.
struct NGrams {
    /// `prefix[i]` = polynomial hash of the first `i` words.
    prefix: Vec<u64>,
    /// `chars[i]` = code points in the first `i` words.
    chars: Vec<usize>,
}

const BASE: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl NGrams {
    fn new(words: &[&str]) -> Self {
        let mut prefix = Vec::with_capacity(words.len() + 1);
        let mut chars = Vec::with_capacity(words.len() + 1);
        prefix.push(0u64);
        chars.push(0usize);
        let (mut h, mut c) = (0u64, 0usize);
        for w in words {
            // A word's value is a mixed 64-bit hash of its bytes: equal words, equal values.
            let mut fx = FxHasher::default();
            fx.write(w.as_bytes());
            h = h.wrapping_mul(BASE).wrapping_add(splitmix64(fx.finish()));
            c += char_len(w);
            prefix.push(h);
            chars.push(c);
        }
        Self { prefix, chars }
    }

    fn len(&self) -> usize {
        self.prefix.len() - 1
    }

    fn hash(&self, i: usize, n: usize, base_pow: u64) -> u64 {
        self.prefix[i + n].wrapping_sub(self.prefix[i].wrapping_mul(base_pow))
    }

    fn chars(&self, i: usize, n: usize) -> usize {
        self.chars[i + n] - self.chars[i]
    }

    /// The first n-gram's characters (space-joined) and count 1: the most frequent one when
    /// no n-gram repeats. `None` with fewer than n words.
    fn first_ngram_chars(&self, n: usize) -> Option<(usize, usize)> {
        (self.len() >= n).then(|| (self.chars(0, n) + n - 1, 1))
    }

    /// Characters (space-joined) and count of the most frequent n-gram; ties go to the n-gram
    /// seen first, like Python's `Counter.most_common(1)`. `None` with fewer than n words.
    fn top_ngram_chars(&self, n: usize, table: &mut CountTable) -> Option<(usize, usize)> {
        if self.len() < n {
            return None;
        }
        table.clear();
        let p = BASE.wrapping_pow(n as u32);
        let (mut best_count, mut best_first) = (0u32, 0u32);
        for i in 0..=self.len() - n {
            let (count, first) = table.bump(self.hash(i, n, p), i as u32);
            if count > best_count || (count == best_count && first < best_first) {
                (best_count, best_first) = (count, first);
            }
        }
        Some((self.chars(best_first as usize, n) + n - 1, best_count as usize))
    }

    /// Characters of n-grams (concatenated) that repeat an earlier one, jumping n words past
    /// each repeat.
    fn dup_ngram_chars(&self, n: usize, table: &mut CountTable) -> usize {
        table.clear();
        let p = BASE.wrapping_pow(n as u32);
        let (mut repeated, mut i) = (0, 0);
        while i + n <= self.len() {
            if table.bump(self.hash(i, n, p), 0).0 == 1 {
                i += 1;
            } else {
                repeated += self.chars(i, n);
                i += n;
            }
        }
        repeated
    }
}

/// Open-addressing counter keyed by (already random) 64-bit n-gram hashes: linear probing in
/// a power-of-two table at most half full, the key's high bits as the slot. Faster than a
/// general hash map for this one job (9 passes over every word position of a document).
struct CountTable {
    keys: Vec<u64>,
    counts: Vec<u32>,
    firsts: Vec<u32>,
    shift: u32,
}

impl CountTable {
    fn with_capacity(n: usize) -> Self {
        let size = (2 * n.max(8)).next_power_of_two();
        Self { keys: vec![0; size], counts: vec![0; size], firsts: vec![0; size], shift: 64 - size.trailing_zeros() }
    }

    fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
    }

    /// Counts one occurrence of `key` at position `pos`; returns (count so far, first position).
    fn bump(&mut self, key: u64, pos: u32) -> (u32, u32) {
        let mask = self.keys.len() - 1;
        let mut slot = (key >> self.shift) as usize;
        loop {
            if self.counts[slot] == 0 {
                self.keys[slot] = key;
                self.counts[slot] = 1;
                self.firsts[slot] = pos;
                return (1, pos);
            }
            if self.keys[slot] == key {
                self.counts[slot] += 1;
                return (self.counts[slot], self.firsts[slot]);
            }
            slot = (slot + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> GopherRepetition {
        GopherRepetition::new(GopherRepetitionConfig::default()).expect("defaults")
    }

    #[test]
    fn splits_like_re() {
        assert_eq!(split_newline_runs("a\n\nb\n\n\nc\nd", 2), ["a", "b", "c\nd"]);
        assert_eq!(split_newline_runs("\na\n", 1), ["", "a", ""]);
    }

    #[test]
    fn drops_repetition() {
        assert_eq!(f().check(""), Verdict::Drop("empty"));
        assert_eq!(f().check("same line\nsame line\nsame line\nother"), Verdict::Drop("dup_line_frac"));
        let rep = "buy cheap pills now ".repeat(20);
        assert_ne!(f().check(&rep), Verdict::Keep);
        let prose = "Rust is a language empowering everyone to build reliable and efficient software. \
                     Its rich type system and ownership model guarantee memory safety and thread safety.";
        assert_eq!(f().check(prose), Verdict::Keep);
    }

    #[test]
    fn top_ngram_ties_go_to_first_seen() {
        // "a bb" and "bb a" both appear twice; "a bb" is first: 4 chars × 2.
        let g = NGrams::new(&["a", "bb", "a", "bb", "a"]);
        assert_eq!(g.top_ngram_chars(2, &mut CountTable::with_capacity(5)), Some((4, 2)));
        let g = NGrams::new(&["a", "bb", "a", "bb", "a", "bb"]);
        assert_eq!(g.dup_ngram_chars(2, &mut CountTable::with_capacity(6)), 6);
    }
}
