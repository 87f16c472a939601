//! `decontaminate`: finds benchmark text in a document by n-gram overlap (GPT-3's method) and
//! drops the document or cuts the matching spans out of it.
//!
//! * **Tokens.** Text is compared as a sequence of tokens that ignores case, punctuation and
//!   whitespace: a word is a maximal run of alphanumeric characters (lowercased), and each Han
//!   ideograph or Japanese kana is a token of its own (Chinese and Japanese do not separate
//!   words with spaces). So re-wrapped lines, changed indentation or spacing, changed case and
//!   changed punctuation do not hide a copy; `has_close_elements` is the three tokens `has`,
//!   `close`, `elements`.
//! * **Index.** Every benchmark entry (its fields joined by newlines) contributes its distinct
//!   n-grams of [`DecontamConfig::ngram`] tokens (13 by default, as GPT-3), hashed (xxh3 per
//!   token, a polynomial over the n-gram) into one table mapping n-gram -> the benchmarks that
//!   hold it. Entries shorter than `ngram` tokens are not indexed (counted in
//!   [`BenchmarkStats::short_entries`]); memory is that of the benchmarks' n-grams, never of the
//!   corpus.
//! * **Frequent n-grams.** Two rules are fixed before the first document: n-grams found in
//!   more than [`DecontamConfig::max_entry_frequency`] benchmark entries (templates, licence
//!   headers, common imports shared by many items) are ignored, and so are the n-grams of the
//!   [`DecontaminatorBuilder::ignore_text`] texts (boilerplate the user knows to be common in
//!   training data). GPT-3's own rule ignores n-grams found in too many *training* documents;
//!   that count needs the whole corpus, so the caller makes it: [`Decontaminator::ngram_hashes`]
//!   gives each document's distinct index n-grams (count each once per document),
//!   [`Decontaminator::indexed`] the whole index in a fixed order (for per-n-gram counters
//!   that several processes sum), and [`Decontaminator::without`] the matcher with the frequent
//!   ones removed.
//! * **Decision.** Every window of `ngram` tokens of the document is looked up; matching windows
//!   are merged into spans. In [`DecontamMode::Drop`] a document with any span is dropped
//!   (`contaminated`). In [`DecontamMode::Cut`] each span is removed with
//!   [`DecontamConfig::margin_chars`] characters on either side (GPT-3: 200); what is left is
//!   split into fragments, fragments shorter than [`DecontamConfig::min_remaining_chars`] are
//!   removed too, and the document is dropped when nothing is left (`contaminated_too_short`)
//!   or when more than [`DecontamConfig::max_splits`] spans were cut
//!   (`contaminated_too_many_splits`). Kept fragments are joined by a newline.
//!
//! ```
//! use tokenmill_filters::decontam::{DecontamConfig, DecontamMode, Decontaminator};
//! let mut b = Decontaminator::builder(DecontamConfig { ngram: 5, ..DecontamConfig::default() });
//! let bench = b.add_benchmark("quiz")?;
//! b.add_entry(bench, "What is the capital city of France? Paris");
//! let d = b.build()?;
//! let out = d.apply("Trivia: WHAT is the capital\ncity of France?  Paris, of course.");
//! assert_eq!(out.dropped, Some("contaminated"));
//! assert_eq!(out.benchmarks, 1); // bit 0: the benchmark `quiz`
//! assert!(d.apply("The capital of France is Paris.").dropped.is_none());
//! # Ok::<(), tokenmill_filters::Error>(())
//! ```

use std::borrow::Cow;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::chars::is_cjk;
use crate::error::{Result, invalid};

mod cut;

/// The most benchmarks one [`Decontaminator`] holds (they are a bit set per n-gram).
pub const MAX_BENCHMARKS: usize = 64;

/// What to do with a document that contains benchmark text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecontamMode {
    /// Drop the whole document.
    #[default]
    Drop,
    /// Cut the matching spans out with a margin; drop what is left when too short or split too
    /// often.
    Cut,
}

/// Config of [`Decontaminator`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecontamConfig {
    /// Tokens per n-gram (words, or single CJK characters).
    pub ngram: usize,
    /// Drop documents, or cut spans.
    pub mode: DecontamMode,
    /// `cut`: characters removed on either side of a matching span.
    pub margin_chars: usize,
    /// `cut`: fragments left with fewer characters are removed as well; a document with no
    /// fragment left is dropped.
    pub min_remaining_chars: usize,
    /// `cut`: documents with more matching spans than this are dropped.
    pub max_splits: usize,
    /// N-grams found in more benchmark entries than this (all benchmarks together) are ignored.
    pub max_entry_frequency: usize,
}

impl Default for DecontamConfig {
    fn default() -> Self {
        Self {
            ngram: 13,
            mode: DecontamMode::Drop,
            margin_chars: 200,
            min_remaining_chars: 200,
            max_splits: 10,
            max_entry_frequency: 10,
        }
    }
}

/// What the index holds for one benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenchmarkStats {
    /// Its name.
    pub name: String,
    /// Entries added.
    pub entries: u64,
    /// Entries with fewer than `ngram` tokens (not indexed).
    pub short_entries: u64,
    /// Distinct n-grams in the index that belong to it (after the frequency rules).
    pub ngrams: u64,
    /// Its n-grams removed by [`Decontaminator::without`] (found in too many training
    /// documents); not counted in `ngrams`.
    pub frequent_ngrams: u64,
}

/// Collects benchmark entries, then builds a [`Decontaminator`].
#[derive(Debug)]
pub struct DecontaminatorBuilder {
    config: DecontamConfig,
    /// n-gram -> (benchmarks, entries holding it).
    table: FxHashMap<u64, (u64, u32)>,
    ignored: FxHashSet<u64>,
    benchmarks: Vec<BenchmarkStats>,
    scratch: Tokens,
    /// One entry's distinct n-gram hashes (kept to reuse its allocation).
    distinct: Vec<u64>,
}

impl DecontaminatorBuilder {
    /// Adds a benchmark; its entries are added with the returned id.
    ///
    /// # Errors
    /// More than [`MAX_BENCHMARKS`] benchmarks.
    pub fn add_benchmark(&mut self, name: &str) -> Result<usize> {
        if self.benchmarks.len() == MAX_BENCHMARKS {
            return Err(invalid(
                "decontaminate",
                "benchmarks",
                format!("holds more than {MAX_BENCHMARKS}; use two stages"),
            ));
        }
        self.benchmarks.push(BenchmarkStats { name: name.to_string(), ..Default::default() });
        Ok(self.benchmarks.len() - 1)
    }

    /// Adds one entry (e.g. a question with its answer, joined by newlines) to benchmark `id`.
    ///
    /// # Panics
    /// `id` was not returned by [`DecontaminatorBuilder::add_benchmark`].
    pub fn add_entry(&mut self, id: usize, text: &str) {
        let n = self.config.ngram;
        let bit = 1u64 << id;
        let stats = &mut self.benchmarks[id];
        stats.entries += 1;
        self.scratch.split(text);
        if self.scratch.len() < n {
            stats.short_entries += 1;
            return;
        }
        let mut distinct = std::mem::take(&mut self.distinct);
        distinct.clear();
        distinct.extend(self.scratch.ngrams(n).map(|(_, h)| h));
        distinct.sort_unstable();
        distinct.dedup();
        self.table.reserve(distinct.len());
        for &h in &distinct {
            let slot = self.table.entry(h).or_insert((0, 0));
            slot.0 |= bit;
            slot.1 = slot.1.saturating_add(1);
        }
        self.distinct = distinct;
    }

    /// Never matches the n-grams of `text` (boilerplate known to be common in training data).
    pub fn ignore_text(&mut self, text: &str) {
        self.scratch.split(text);
        let n = self.config.ngram;
        let hashes: Vec<u64> = self.scratch.ngrams(n).map(|(_, h)| h).collect();
        self.ignored.extend(hashes);
    }

    /// Applies the frequency rules and builds the matcher.
    ///
    /// # Errors
    /// None so far; kept fallible for rules that need checking against the benchmarks.
    pub fn build(self) -> Result<Decontaminator> {
        let max = self.config.max_entry_frequency;
        // Sized once: collecting a filter would grow (and rehash) the table step by step.
        let mut index: FxHashMap<u64, u64> =
            FxHashMap::with_capacity_and_hasher(self.table.len(), Default::default());
        index.extend(
            self.table
                .into_iter()
                .filter(|(h, (_, entries))| *entries as usize <= max && !self.ignored.contains(h))
                .map(|(h, (mask, _))| (h, mask)),
        );
        Ok(Decontaminator::over(self.config, index, self.benchmarks))
    }
}

/// Finds benchmark n-grams in documents; built by [`DecontaminatorBuilder`], shared by threads.
#[derive(Debug, Clone)]
pub struct Decontaminator {
    config: DecontamConfig,
    index: FxHashMap<u64, u64>,
    /// A bit per n-gram hash (its low bits): a cache-friendly first test before the table.
    filter: Vec<u64>,
    benchmarks: Vec<BenchmarkStats>,
}

/// A run of the document made of matching n-grams (byte offsets, first token's start to last
/// token's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// The benchmarks whose n-grams it holds, bit `i` for benchmark `i`.
    pub benchmarks: u64,
}

/// What [`Decontaminator::apply`] did to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned<'a> {
    /// The text (borrowed when unchanged).
    pub text: Cow<'a, str>,
    /// `Some(rule)` when the document is to be dropped.
    pub dropped: Option<&'static str>,
    /// The benchmarks found, bit `i` for benchmark `i` (0 for a clean document).
    pub benchmarks: u64,
    /// Matching spans found.
    pub spans: usize,
    /// Characters removed: all of them for a dropped document.
    pub chars_removed: usize,
}

impl Decontaminator {
    /// The matcher over `index`; adds each n-gram to its benchmarks' `ngrams`.
    fn over(
        config: DecontamConfig,
        index: FxHashMap<u64, u64>,
        mut benchmarks: Vec<BenchmarkStats>,
    ) -> Self {
        // About 16 bits per n-gram: most windows of a clean document stop at one bit.
        let bits = (index.len() * 16).next_power_of_two().max(64);
        let mut filter = vec![0u64; bits / 64];
        for (h, mask) in &index {
            let bit = (h & (bits as u64 - 1)) as usize;
            filter[bit / 64] |= 1 << (bit % 64);
            let mut m = *mask;
            while m != 0 {
                benchmarks[m.trailing_zeros() as usize].ngrams += 1;
                m &= m - 1;
            }
        }
        Decontaminator { config, index, filter, benchmarks }
    }

    /// A builder with `config`; check it with [`Decontaminator::validate`] first where it comes
    /// from a user.
    pub fn builder(config: DecontamConfig) -> DecontaminatorBuilder {
        DecontaminatorBuilder {
            config,
            table: FxHashMap::default(),
            ignored: FxHashSet::default(),
            benchmarks: Vec::new(),
            scratch: Tokens::default(),
            distinct: Vec::new(),
        }
    }

    /// Checks a config's ranges.
    ///
    /// # Errors
    /// `ngram` is 0.
    pub fn validate(config: &DecontamConfig) -> Result<()> {
        if config.ngram == 0 {
            return Err(invalid("decontaminate", "ngram", "must be at least 1 (GPT-3 used 13)"));
        }
        Ok(())
    }

    /// The config it was built with.
    pub fn config(&self) -> &DecontamConfig {
        &self.config
    }

    /// What the index holds per benchmark, in the order they were added.
    pub fn benchmarks(&self) -> &[BenchmarkStats] {
        &self.benchmarks
    }

    /// Every n-gram of the index (a 64-bit hash each), sorted: the same list in every process
    /// that builds the index from the same benchmarks, so a position in it names an n-gram.
    pub fn indexed(&self) -> Vec<u64> {
        let mut all: Vec<u64> = self.index.keys().copied().collect();
        all.sort_unstable();
        all
    }

    /// The benchmarks holding index n-gram `hash` (bit `i` for benchmark `i`), if indexed.
    pub fn benchmarks_of(&self, hash: u64) -> Option<u64> {
        self.index.get(&hash).copied()
    }

    /// The distinct index n-grams found in `text`, sorted: what a count of the training
    /// documents holding each n-gram adds for this document.
    pub fn ngram_hashes(&self, text: &str) -> Vec<u64> {
        let mut found = Vec::new();
        self.scan(text, |_, h, _| found.push(h));
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The matcher without the index n-grams for which `frequent` holds (GPT-3: found in more
    /// than 10 training documents); each benchmark's
    /// [`frequent_ngrams`](BenchmarkStats::frequent_ngrams) says how many of its n-grams went.
    pub fn without(&self, frequent: impl Fn(u64) -> bool) -> Decontaminator {
        let mut benchmarks = self.benchmarks.clone();
        for b in &mut benchmarks {
            b.ngrams = 0;
        }
        let mut index = FxHashMap::default();
        for (&h, &mask) in &self.index {
            if frequent(h) {
                for (i, b) in benchmarks.iter_mut().enumerate() {
                    b.frequent_ngrams += (mask >> i) & 1;
                }
            } else {
                index.insert(h, mask);
            }
        }
        Decontaminator::over(self.config.clone(), index, benchmarks)
    }

    /// Calls `f` with each window of `text` that is an index n-gram: its first token's index,
    /// its hash and its benchmarks; returns the tokens.
    fn scan(&self, text: &str, mut f: impl FnMut(usize, u64, u64)) -> Tokens {
        let mut tokens = Tokens::default();
        if self.index.is_empty() {
            return tokens;
        }
        tokens.split(text);
        let bits = self.filter.len() as u64 * 64 - 1;
        for (i, h) in tokens.ngrams(self.config.ngram) {
            let bit = (h & bits) as usize;
            if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
                continue;
            }
            if let Some(&mask) = self.index.get(&h) {
                f(i, h, mask);
            }
        }
        tokens
    }

    /// The spans of `text` made of benchmark n-grams, in order, merged where they overlap or
    /// touch.
    pub fn find(&self, text: &str) -> Vec<Span> {
        let n = self.config.ngram;
        let mut found: Vec<(usize, u64)> = Vec::new();
        let tokens = self.scan(text, |i, _, mask| found.push((i, mask)));
        let mut spans: Vec<Span> = Vec::new();
        for (i, mask) in found {
            let (start, end) = (tokens.spans[i].0, tokens.spans[i + n - 1].1);
            match spans.last_mut() {
                Some(last) if start <= last.end => {
                    last.end = last.end.max(end);
                    last.benchmarks |= mask;
                }
                _ => spans.push(Span { start, end, benchmarks: mask }),
            }
        }
        spans
    }

    /// Decides about one document: unchanged, cut, or dropped.
    pub fn apply<'a>(&self, text: &'a str) -> Cleaned<'a> {
        let spans = self.find(text);
        let benchmarks = spans.iter().fold(0, |m, s| m | s.benchmarks);
        let all = || text.chars().count();
        let dropped = |rule| Cleaned {
            text: Cow::Borrowed(text),
            dropped: Some(rule),
            benchmarks,
            spans: spans.len(),
            chars_removed: all(),
        };
        if spans.is_empty() {
            return Cleaned {
                text: Cow::Borrowed(text),
                dropped: None,
                benchmarks,
                spans: 0,
                chars_removed: 0,
            };
        }
        if self.config.mode == DecontamMode::Drop {
            return dropped("contaminated");
        }
        if spans.len() > self.config.max_splits {
            return dropped("contaminated_too_many_splits");
        }
        let kept =
            cut::cut(text, &spans, self.config.margin_chars, self.config.min_remaining_chars);
        if kept.is_empty() {
            return dropped("contaminated_too_short");
        }
        let chars_removed = all().saturating_sub(kept.chars().count());
        Cleaned {
            text: Cow::Owned(kept),
            dropped: None,
            benchmarks,
            spans: spans.len(),
            chars_removed,
        }
    }
}

/// A text's tokens: hashes and byte spans.
#[derive(Debug, Default)]
struct Tokens {
    hashes: Vec<u64>,
    spans: Vec<(usize, usize)>,
    lower: String,
}

/// Base of the polynomial over token hashes (odd, so multiplication is invertible mod 2^64).
const BASE: u64 = 0x9E37_79B9_7F4A_7C15;

impl Tokens {
    fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Splits `text` into tokens (see the module docs), replacing the previous ones.
    fn split(&mut self, text: &str) {
        self.hashes.clear();
        self.spans.clear();
        let bytes = text.as_bytes();
        let mut word: Option<usize> = None;
        let mut i = 0;
        while i < bytes.len() {
            // ASCII without decoding a character: most of most texts.
            let b = bytes[i];
            if b < 0x80 {
                if b.is_ascii_alphanumeric() {
                    word.get_or_insert(i);
                } else if let Some(start) = word.take() {
                    self.push_word(text, start, i);
                }
                i += 1;
                continue;
            }
            let Some(c) = text[i..].chars().next() else { break };
            let end = i + c.len_utf8();
            let cjk = is_cjk(c);
            if c.is_alphanumeric() && !cjk {
                word.get_or_insert(i);
            } else {
                if let Some(start) = word.take() {
                    self.push_word(text, start, i);
                }
                if cjk {
                    self.hashes.push(xxh3_64(&bytes[i..end]));
                    self.spans.push((i, end));
                }
            }
            i = end;
        }
        if let Some(start) = word {
            self.push_word(text, start, text.len());
        }
    }

    fn push_word(&mut self, text: &str, start: usize, end: usize) {
        let word = &text[start..end];
        let bytes = word.as_bytes();
        let hash = if bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            xxh3_64(bytes)
        } else if word.is_ascii() && bytes.len() <= 64 {
            let mut lower = [0u8; 64];
            for (l, b) in lower.iter_mut().zip(bytes) {
                *l = b.to_ascii_lowercase();
            }
            xxh3_64(&lower[..bytes.len()])
        } else {
            self.lower.clear();
            self.lower.extend(word.chars().flat_map(char::to_lowercase));
            xxh3_64(self.lower.as_bytes())
        };
        self.hashes.push(hash);
        self.spans.push((start, end));
    }

    /// Each window of `n` tokens: its first token's index and its hash.
    fn ngrams(&self, n: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        let top = (1..n).fold(1u64, |p, _| p.wrapping_mul(BASE));
        let mut rolling = 0u64;
        self.hashes.iter().enumerate().filter_map(move |(i, &h)| {
            if i >= n {
                rolling = rolling.wrapping_sub(self.hashes[i - n].wrapping_mul(top));
            }
            rolling = rolling.wrapping_mul(BASE).wrapping_add(h);
            (i + 1 >= n).then(|| (i + 1 - n, mix(rolling)))
        })
    }
}

/// SplitMix64's finalizer: spreads the polynomial's bits before the hash table sees them.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
