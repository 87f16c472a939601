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
//! [`crate::words`]), so rules 3-4 look at character n-grams there; rules 1-2 are script-free.
//!
//! Known difference from datatrove: n-grams are compared as word sequences, so two different
//! sequences with the same concatenation (`ab c` vs `a bc`) count as distinct here for rule 4.

use std::hash::Hasher;

use rustc_hash::{FxHashSet, FxHasher};
use serde::Deserialize;

use crate::Verdict;
use crate::error::{Result, check_ratio, invalid};
use crate::words::{WordMode, Words, char_len, py_strip};

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
                return Err(invalid(
                    F,
                    "top_n_grams/dup_n_grams",
                    "has n = 0; n-gram sizes start at 1",
                ));
            }
            check_ratio(F, "top_n_grams/dup_n_grams", Some(r))?;
        }
        let top_labels = cfg.top_n_grams.iter().map(|&(n, _)| label("top_", n, "_gram")).collect();
        let dup_labels =
            cfg.dup_n_grams.iter().map(|&(n, _)| label("duplicated_", n, "_n_grams")).collect();
        Ok(Self { cfg, top_labels, dup_labels })
    }

    /// Keeps or drops one document.
    pub fn check(&self, text: &str) -> Verdict {
        self.check_with(text, || Words::new(text, self.cfg.words))
    }

    /// How this filter splits words.
    pub fn word_mode(&self) -> WordMode {
        self.cfg.words
    }

    /// [`Self::check`] with the document's words from `words`, called only once the line and
    /// paragraph rules have passed (shared between filters: they must be what
    /// `Words::new(text, self.word_mode())` gives).
    pub fn check_with<'t>(&self, text: &'t str, words: impl FnOnce() -> Words<'t>) -> Verdict {
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
        let words = words();
        let grams = NGrams::new(&words.tokens);
        let mut counter = Counter::new(&grams);
        for (&(n, max), &lbl) in c.top_n_grams.iter().zip(&self.top_labels) {
            if let Some((chars, count)) = counter.top(n)
                && (chars * count) as f64 / total > max
            {
                return Verdict::Drop(lbl);
            }
        }
        for (&(n, max), &lbl) in c.dup_n_grams.iter().zip(&self.dup_labels) {
            if counter.duplicated(n) as f64 / total > max {
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
    while let Some(at) = memchr::memchr(b'\n', &b[i..]) {
        i += at;
        let run = b[i..].iter().take_while(|&&x| x == b'\n').count();
        if run >= min {
            out.push(&text[start..i]);
            start = i + run;
        }
        i += run;
    }
    out.push(&text[start..]);
    out
}

/// (number of elements equal to an earlier one, their total length in code points).
pub(crate) fn find_duplicates(items: &[&str]) -> (usize, usize) {
    let mut seen: FxHashSet<&str> =
        FxHashSet::with_capacity_and_hasher(items.len(), Default::default());
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
}

/// Answers the n-gram rules of one document, pruning with what earlier sizes showed.
///
/// Equal n-grams (n > m) start with equal m-grams, so an n-gram can only repeat at a position
/// whose m-gram repeats somewhere in the document. Counting the n-grams at those positions alone
/// gives every count of 2 or more exactly, and the first position of each, which is all the
/// rules need: the most frequent n-gram (ties to the first seen) and datatrove's left-to-right
/// walk over duplicates (a position whose n-gram is unique is never found again, so the walk
/// can step over it without recording it). In prose few 4-grams repeat, so the six duplicate
/// sizes cost a few percent of a pass each instead of a pass each.
struct Counter<'g> {
    grams: &'g NGrams,
    table: CountTable,
    /// `(m, positions whose m-gram occurs at least twice)` for the sizes counted in full so far.
    repeats: Vec<(usize, Vec<u32>)>,
}

impl<'g> Counter<'g> {
    fn new(grams: &'g NGrams) -> Self {
        Self { grams, table: CountTable::with_capacity(grams.len()), repeats: Vec::new() }
    }

    /// Positions where an n-gram could repeat: all of them, or those of the largest size m <= n
    /// counted so far.
    fn candidates(repeats: &[(usize, Vec<u32>)], n: usize) -> Option<&[u32]> {
        repeats.iter().filter(|(m, _)| *m <= n).max_by_key(|(m, _)| *m).map(|(_, r)| r.as_slice())
    }

    /// Characters (space-joined) and count of the most frequent n-gram; ties go to the n-gram
    /// seen first, like Python's `Counter.most_common(1)`. `None` with fewer than n words.
    fn top(&mut self, n: usize) -> Option<(usize, usize)> {
        let g = self.grams;
        if g.len() < n {
            return None;
        }
        let last = (g.len() - n) as u32;
        let p = BASE.wrapping_pow(n as u32);
        self.table.reset();
        let ((best_count, best_first), repeated) = match Self::candidates(&self.repeats, n) {
            Some(c) => {
                count_at(&mut self.table, g, n, p, c.iter().copied().take_while(|&i| i <= last))
            }
            None => count_at(&mut self.table, g, n, p, 0..=last),
        };
        self.repeats.push((n, repeated));
        if best_count == 1 {
            return g.first_ngram_chars(n);
        }
        Some((g.chars(best_first as usize, n) + n - 1, best_count as usize))
    }

    /// Characters of n-grams (concatenated) that repeat an earlier one, jumping n words past
    /// each repeat (datatrove's walk: only the positions it stops at are remembered).
    fn duplicated(&mut self, n: usize) -> usize {
        let g = self.grams;
        if g.len() < n {
            return 0;
        }
        let p = BASE.wrapping_pow(n as u32);
        self.table.reset();
        let (mut repeated, mut i) = (0, 0usize);
        let mut step = |table: &mut CountTable, i: usize| {
            if table.bump(g.hash(i, n, p), 0).1 == 1 {
                1
            } else {
                repeated += g.chars(i, n);
                n
            }
        };
        match Self::candidates(&self.repeats, n) {
            None => {
                while i + n <= g.len() {
                    i += step(&mut self.table, i);
                }
            }
            Some(cands) => {
                // The walk visits every position from `i` on; only candidates can repeat.
                let mut k = 0;
                while k < cands.len() && cands[k] as usize + n <= g.len() {
                    let c = cands[k] as usize;
                    if c >= i {
                        i = c + step(&mut self.table, c);
                    }
                    k += 1;
                }
            }
        }
        repeated
    }
}

/// Counts the n-grams at `positions` (in order) into the empty `table`: the most frequent one's
/// count and first position (count 1 and position 0 when none repeats), and the positions whose
/// n-gram occurs at least twice.
fn count_at(
    table: &mut CountTable,
    g: &NGrams,
    n: usize,
    p: u64,
    positions: impl Iterator<Item = u32> + Clone,
) -> ((u32, u32), Vec<u32>) {
    let mut slots: Vec<u32> = Vec::with_capacity(positions.size_hint().1.unwrap_or(0));
    let (mut best_count, mut best_first) = (1u32, 0u32);
    for i in positions.clone() {
        let (slot, count, first) = table.bump(g.hash(i as usize, n, p), i);
        slots.push(slot as u32);
        if count > best_count || (count == best_count && first < best_first) {
            (best_count, best_first) = (count, first);
        }
    }
    let repeated = positions
        .zip(&slots)
        .filter(|&(_, &slot)| table.count(slot as usize) >= 2)
        .map(|(i, _)| i)
        .collect();
    ((best_count, best_first), repeated)
}

/// Open-addressing counter keyed by (already random) 64-bit n-gram hashes: linear probing in
/// a power-of-two table at most half full, the key's high bits as the slot, key, count and
/// first position side by side (one cache line per probe). Faster than a general hash map for
/// this one job (many passes over word positions of a document); a reset clears only the slots
/// used.
struct CountTable {
    slots: Vec<Slot>,
    used: Vec<u32>,
    shift: u32,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    count: u32,
    first: u32,
}

impl CountTable {
    fn with_capacity(n: usize) -> Self {
        let size = (2 * n.max(8)).next_power_of_two();
        Self {
            slots: vec![Slot::default(); size],
            used: Vec::new(),
            shift: 64 - size.trailing_zeros(),
        }
    }

    fn reset(&mut self) {
        for &s in &self.used {
            self.slots[s as usize].count = 0;
        }
        self.used.clear();
    }

    fn count(&self, slot: usize) -> u32 {
        self.slots[slot].count
    }

    /// Counts one occurrence of `key` at position `pos`; returns (slot, count so far, first position).
    fn bump(&mut self, key: u64, pos: u32) -> (usize, u32, u32) {
        let mask = self.slots.len() - 1;
        let mut i = (key >> self.shift) as usize;
        loop {
            let s = &mut self.slots[i];
            if s.count == 0 {
                *s = Slot { key, count: 1, first: pos };
                self.used.push(i as u32);
                return (i, 1, pos);
            }
            if s.key == key {
                s.count += 1;
                return (i, s.count, s.first);
            }
            i = (i + 1) & mask;
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
        assert_eq!(
            f().check("same line\nsame line\nsame line\nother"),
            Verdict::Drop("dup_line_frac")
        );
        let rep = "buy cheap pills now ".repeat(20);
        assert_ne!(f().check(&rep), Verdict::Keep);
        let prose = "Rust is a language empowering everyone to build reliable and efficient software. \
                     Its rich type system and ownership model guarantee memory safety and thread safety.";
        assert_eq!(f().check(prose), Verdict::Keep);
    }

    /// datatrove's own formulation, on strings: the oracle for [`Counter`].
    fn naive_top(words: &[&str], n: usize) -> Option<(usize, usize)> {
        if words.len() < n {
            return None;
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for w in words.windows(n) {
            let g = w.join(" ");
            match counts.iter_mut().find(|(k, _)| *k == g) {
                Some((_, c)) => *c += 1,
                None => counts.push((g, 1)),
            }
        }
        let mut best = &counts[0];
        for c in &counts {
            if c.1 > best.1 {
                best = c;
            }
        }
        Some((best.0.chars().count(), best.1))
    }

    fn naive_dup(words: &[&str], n: usize) -> usize {
        let mut seen = std::collections::HashSet::new();
        let (mut repeated, mut i) = (0, 0);
        while i + n <= words.len() {
            let g = &words[i..i + n];
            if seen.contains(g) {
                repeated += g.iter().map(|w| w.chars().count()).sum::<usize>();
                i += n;
            } else {
                seen.insert(g);
                i += 1;
            }
        }
        repeated
    }

    #[test]
    fn top_ngram_ties_go_to_first_seen() {
        // "a bb" and "bb a" both appear twice; "a bb" is first: 4 chars × 2.
        let g = NGrams::new(&["a", "bb", "a", "bb", "a"]);
        assert_eq!(Counter::new(&g).top(2), Some((4, 2)));
        let g = NGrams::new(&["a", "bb", "a", "bb", "a", "bb"]);
        assert_eq!(Counter::new(&g).duplicated(2), 6);
    }

    proptest::proptest! {
        /// Pruning by smaller sizes gives exactly what counting every position gives, for any
        /// order of sizes (the config may list them in any order).
        #[test]
        fn pruned_counts_match_datatrove(
            idx in proptest::collection::vec(0usize..5, 0..80),
            sizes in proptest::collection::vec((1usize..12, proptest::bool::ANY), 1..12),
        ) {
            const VOCAB: [&str; 5] = ["a", "bb", "c", "dddd", "é"];
            let words: Vec<&str> = idx.iter().map(|&i| VOCAB[i]).collect();
            let g = NGrams::new(&words);
            let mut counter = Counter::new(&g);
            for (n, top) in sizes {
                if top {
                    proptest::prop_assert_eq!(counter.top(n), naive_top(&words, n), "top n={}", n);
                } else {
                    proptest::prop_assert_eq!(counter.duplicated(n), naive_dup(&words, n), "dup n={}", n);
                }
            }
        }
    }
}
