//! `block_words`: drops documents that use several words of block lists (obscenities,
//! pornography, gambling spam), matched as whole words, never as substrings.
//!
//! A listed term is a hit only where it is made of whole words of the text:
//! * a term with Han characters must start and end on jieba word boundaries, so `处女` is not
//!   found in 工信处女干事 (工信处 / 女干事), nor `奶` in 牛奶, nor `成人` in 成人教育;
//! * any other term (`porn`, `2 girls 1 cup`) must not touch a letter or digit on either side
//!   (ASCII case is ignored).
//!
//! Candidates are found with one Aho-Corasick pass over the text; only the run of Han, ASCII
//! letters and digits around a candidate (the unit jieba segments on its own, so its words are
//! those of the whole text) is segmented. Text without candidates costs one scan.
//!
//! Lists: the shipped ones ([`BuiltinList`], from `data/blocklists/` with their licences),
//! inline `words` and `words_files` (one term per line, `#` comments). A document is dropped
//! (`blocked_words`) when at least `min_distinct` distinct terms occur, or when it has at least
//! two hits and `max_hits_per_1000_chars` or more hits per 1,000 characters.

use std::path::PathBuf;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};

use crate::Verdict;
use crate::error::{Error, Result, invalid};
use crate::url_filter::parse_list;
use crate::zh_words::jieba_lcut;

/// A block list shipped with tokenmill (`data/blocklists/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinList {
    /// LDNOOBW's Chinese list (`ldnoobw-zh.txt`, CC-BY-4.0, from the npm `naughty-words` 1.2.0).
    LdnoobwZh,
    /// LDNOOBW's English list (`ldnoobw-en.txt`, CC-BY-4.0, from the npm `naughty-words` 1.2.0).
    LdnoobwEn,
    /// Chinese pornography and gambling-spam vocabulary curated for tokenmill (`zh-spam.txt`).
    ZhSpam,
}

impl BuiltinList {
    /// The list's text (one term per line, `#` comments).
    pub fn text(self) -> &'static str {
        match self {
            BuiltinList::LdnoobwZh => include_str!("../../data/blocklists/ldnoobw-zh.txt"),
            BuiltinList::LdnoobwEn => include_str!("../../data/blocklists/ldnoobw-en.txt"),
            BuiltinList::ZhSpam => include_str!("../../data/blocklists/zh-spam.txt"),
        }
    }
}

/// Config of [`BlockWords`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockWordsConfig {
    /// Shipped lists to use (default: `ldnoobw_zh`, `ldnoobw_en`, `zh_spam`).
    pub lists: Vec<BuiltinList>,
    /// Extra terms.
    pub words: Vec<String>,
    /// Files of extra terms, one per line (`#` comments).
    pub words_files: Vec<PathBuf>,
    /// Distinct listed terms from which a document is dropped (terms; default 3; 0 disables).
    pub min_distinct: usize,
    /// Hits per 1,000 characters from which a document is dropped, given at least two hits
    /// (hits; default 5.0; 0 disables).
    pub max_hits_per_1000_chars: f64,
}

impl Default for BlockWordsConfig {
    fn default() -> Self {
        Self {
            lists: vec![BuiltinList::LdnoobwZh, BuiltinList::LdnoobwEn, BuiltinList::ZhSpam],
            words: Vec::new(),
            words_files: Vec::new(),
            min_distinct: 3,
            max_hits_per_1000_chars: 5.0,
        }
    }
}

/// What [`BlockWords::scan`] found in a text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits {
    /// Every whole-word occurrence of a listed term.
    pub total: usize,
    /// The distinct terms found, in the order first seen.
    pub terms: Vec<String>,
}

/// The block-word filter.
#[derive(Debug, Clone)]
pub struct BlockWords {
    matcher: Option<AhoCorasick>,
    terms: Vec<String>,
    han: Vec<bool>,
    min_distinct: usize,
    max_per_1000: f64,
}

impl BlockWords {
    /// Builds the filter from its lists.
    ///
    /// # Errors
    /// A list file cannot be read, or a threshold is negative.
    pub fn new(cfg: BlockWordsConfig) -> Result<Self> {
        if cfg.max_hits_per_1000_chars.is_nan() || cfg.max_hits_per_1000_chars < 0.0 {
            return Err(invalid("block_words", "max_hits_per_1000_chars", "must be >= 0"));
        }
        let mut terms: Vec<String> = cfg.lists.iter().flat_map(|l| parse_list(l.text())).collect();
        terms.extend(cfg.words.iter().map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()));
        for path in &cfg.words_files {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                what: "block-word list",
                path: path.clone(),
                source,
            })?;
            terms.extend(parse_list(&text));
        }
        terms.sort();
        terms.dedup();
        let matcher = if terms.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&terms)
                    .map_err(|e| invalid("block_words", "words", e.to_string()))?,
            )
        };
        let han = terms.iter().map(|t| t.chars().any(is_jieba_han)).collect();
        Ok(Self {
            matcher,
            terms,
            han,
            min_distinct: cfg.min_distinct,
            max_per_1000: cfg.max_hits_per_1000_chars,
        })
    }

    /// Number of distinct terms loaded.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when no term is loaded.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Keeps or drops `text` (`blocked_words`).
    pub fn check(&self, text: &str) -> Verdict {
        let hits = self.scan(text);
        let distinct = hits.terms.len();
        if self.min_distinct > 0 && distinct >= self.min_distinct {
            return Verdict::Drop("blocked_words");
        }
        if self.max_per_1000 > 0.0 && hits.total >= 2 {
            let chars = text.chars().count().max(1) as f64;
            if hits.total as f64 * 1000.0 / chars >= self.max_per_1000 {
                return Verdict::Drop("blocked_words");
            }
        }
        Verdict::Keep
    }

    /// The whole-word occurrences of listed terms in `text`.
    pub fn scan(&self, text: &str) -> Hits {
        let mut hits = Hits::default();
        let Some(matcher) = &self.matcher else { return hits };
        let mut seen = vec![false; self.terms.len()];
        let mut block = Block::default();
        for m in matcher.find_overlapping_iter(text) {
            let id = m.pattern().as_usize();
            let whole = if self.han[id] {
                block.on_word_boundaries(text, m.start(), m.end())
            } else {
                latin_boundaries(text, m.start(), m.end())
            };
            if whole {
                hits.total += 1;
                if !seen[id] {
                    seen[id] = true;
                    hits.terms.push(self.terms[id].clone());
                }
            }
        }
        hits
    }
}

/// The last segmented run of jieba characters and its word boundaries (byte offsets).
#[derive(Debug, Default)]
struct Block {
    start: usize,
    end: usize,
    bounds: Vec<usize>,
}

impl Block {
    /// Whether `start..end` of `text` begins and ends on jieba word boundaries.
    fn on_word_boundaries(&mut self, text: &str, start: usize, end: usize) -> bool {
        if !(self.start <= start && end <= self.end && self.end > self.start) {
            self.start = text[..start]
                .char_indices()
                .rev()
                .take_while(|(_, c)| is_jieba_han(*c))
                .last()
                .map_or(start, |(i, _)| i);
            self.end = text[end..].find(|c: char| !is_jieba_han(c)).map_or(text.len(), |i| end + i);
            self.bounds.clear();
            let mut at = self.start;
            self.bounds.push(at);
            for word in jieba_lcut(&text[self.start..self.end]) {
                at += word.len();
                self.bounds.push(at);
            }
        }
        self.bounds.binary_search(&start).is_ok() && self.bounds.binary_search(&end).is_ok()
    }
}

/// Characters jieba segments together (its `re_han_default`: Han, ASCII letters and digits,
/// `+#&._%-`); any other character ends a segmentation unit.
fn is_jieba_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FD5}') || c.is_ascii_alphanumeric() || "+#&._%-".contains(c)
}

/// Whether `start..end` of `text` touches no letter or digit on either side.
fn latin_boundaries(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

#[cfg(test)]
mod tests;
