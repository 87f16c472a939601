//! `zh_quality`: line and page rules for Chinese web text.
//!
//! **Lines.** Site chrome (app-download prompts, login and share links, copyright and ICP filing
//! lines, image credits, bylines, AI-generated-content disclaimers) is removed line by line: a
//! line of at most `max_chrome_line_chars` characters that contains a pattern of the shipped list
//! (`filters/data/zh_chrome_lines.txt`, see [`CHROME_PATTERNS`]) or of the user's is dropped. A
//! pattern starting with `^` must start the line (after leading spaces), one written `^...$` must
//! be the whole line (登入 alone is a login link, 登入时间 in a manual is not); ASCII case is
//! ignored.
//! Chrome repeated across documents but not on the list is `line_dedup`'s job.
//!
//! **Page.** On what is left (non-space characters only), in this order:
//! * `zh_empty`: nothing left after chrome removal;
//! * `zh_low_han_share`: Han characters are less than `min_han_share` of the characters;
//! * `zh_no_terminal_punct`: fewer than `min_terminal_punct_lines` of the lines end with
//!   terminal punctuation ([`is_terminal_punct`]: `。！？…」』”’）》：；` and their full-width
//!   and ASCII forms);
//! * `zh_char_repetition`: more than `max_char_repetition` of the characters lie in character
//!   `char_ngram`-grams seen earlier in the document (Gopher's duplicate n-gram rule, counted in
//!   characters instead of words), or the most frequent character is more than `max_top_char`
//!   of them;
//! * `zh_low_entropy`: the Shannon entropy of the character distribution is below
//!   `min_char_entropy` bits, on pages of at least [`ENTROPY_MIN_CHARS`] characters (the entropy
//!   of `n` characters is at most `log2 n` bits, so shorter pages are not judged by it).
//!
//! Every threshold is optional (`None` disables the rule).

use std::borrow::Cow;
use std::path::PathBuf;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, check_ratio, invalid};
use crate::{Transformed, Verdict};

/// The shipped chrome-line patterns (one per line, `^` anchors at the line start, `#` comments).
pub const CHROME_PATTERNS: &str = include_str!("../data/zh_chrome_lines.txt");

/// Pages with fewer non-space characters are not judged by their entropy.
pub const ENTROPY_MIN_CHARS: usize = 100;

/// Config of [`ZhQuality`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZhQualityConfig {
    /// Remove lines matching the shipped chrome patterns.
    pub builtin_chrome_patterns: bool,
    /// Extra chrome patterns (`^` anchors at the line start, `^...$` is a whole line).
    pub chrome_patterns: Vec<String>,
    /// Files of extra chrome patterns, one per line (`#` comments).
    pub chrome_patterns_files: Vec<PathBuf>,
    /// Longer lines are never removed as chrome (characters; default 40).
    pub max_chrome_line_chars: usize,
    /// Minimum share of Han characters (ratio of non-space characters; default 0.3).
    pub min_han_share: Option<f64>,
    /// Minimum share of lines ending in terminal punctuation (ratio of lines; default 0.05).
    pub min_terminal_punct_lines: Option<f64>,
    /// Length of the character n-grams of the repetition rule (characters; default 10).
    pub char_ngram: usize,
    /// Maximum share of characters in repeated character n-grams (ratio; default 0.6).
    pub max_char_repetition: Option<f64>,
    /// Maximum share of the most frequent character (ratio of non-space characters; default 0.2).
    pub max_top_char: Option<f64>,
    /// Minimum Shannon entropy of the characters (bits; default 5.0).
    pub min_char_entropy: Option<f64>,
}

impl Default for ZhQualityConfig {
    fn default() -> Self {
        Self {
            builtin_chrome_patterns: true,
            chrome_patterns: Vec::new(),
            chrome_patterns_files: Vec::new(),
            max_chrome_line_chars: 40,
            min_han_share: Some(0.3),
            min_terminal_punct_lines: Some(0.05),
            char_ngram: 10,
            max_char_repetition: Some(0.6),
            max_top_char: Some(0.2),
            min_char_entropy: Some(5.0),
        }
    }
}

/// What [`ZhQuality::apply`] did to one document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZhCounts {
    /// Lines in the input.
    pub lines: usize,
    /// Lines removed as site chrome.
    pub chrome_lines: usize,
}

/// The Chinese line and page rules.
#[derive(Debug, Clone)]
pub struct ZhQuality {
    contains: Option<AhoCorasick>,
    prefix: Option<AhoCorasick>,
    /// Whole-line patterns (`^...$`).
    exact: Vec<String>,
    cfg: ZhQualityConfig,
}

impl ZhQuality {
    /// Builds the rules, reading the pattern files.
    ///
    /// # Errors
    /// A ratio lies outside 0..=1, `char_ngram` is 0, or a pattern file cannot be read.
    pub fn new(cfg: ZhQualityConfig) -> Result<Self> {
        for (field, v) in [
            ("min_han_share", cfg.min_han_share),
            ("min_terminal_punct_lines", cfg.min_terminal_punct_lines),
            ("max_char_repetition", cfg.max_char_repetition),
            ("max_top_char", cfg.max_top_char),
        ] {
            check_ratio("zh_quality", field, v)?;
        }
        if cfg.char_ngram == 0 {
            return Err(invalid("zh_quality", "char_ngram", "must be at least 1"));
        }
        let mut patterns: Vec<String> = Vec::new();
        if cfg.builtin_chrome_patterns {
            patterns.extend(parse_patterns(CHROME_PATTERNS));
        }
        patterns.extend(cfg.chrome_patterns.iter().map(|p| p.trim().to_string()));
        for path in &cfg.chrome_patterns_files {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                what: "chrome pattern list",
                path: path.clone(),
                source,
            })?;
            patterns.extend(parse_patterns(&text));
        }
        let (prefix, contains): (Vec<_>, Vec<_>) = patterns
            .into_iter()
            .filter(|p| p != "^" && !p.is_empty())
            .partition(|p| p.starts_with('^'));
        let (exact, prefix): (Vec<_>, Vec<_>) =
            prefix.iter().map(|p| &p[1..]).partition(|p| p.len() > 1 && p.ends_with('$'));
        let exact = exact.iter().map(|p| p[..p.len() - 1].to_string()).collect();
        Ok(Self { contains: automaton(&contains)?, prefix: automaton(&prefix)?, exact, cfg })
    }

    /// Removes chrome lines, then applies the page rules to what is left.
    pub fn apply<'a>(&self, text: &'a str) -> Transformed<'a, ZhCounts> {
        let mut counts = ZhCounts::default();
        let mut kept: Vec<&str> = Vec::new();
        for line in text.lines() {
            counts.lines += 1;
            if self.is_chrome(line) {
                counts.chrome_lines += 1;
            } else {
                kept.push(line);
            }
        }
        let text = if counts.chrome_lines == 0 {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(kept.join("\n"))
        };
        let dropped = match self.check(&text) {
            Verdict::Keep => None,
            Verdict::Drop(rule) => Some(rule),
        };
        Transformed { text, dropped, counts }
    }

    /// Whether `line` is site chrome.
    pub fn is_chrome(&self, line: &str) -> bool {
        let line = line.trim();
        if line.is_empty() || line.chars().nth(self.cfg.max_chrome_line_chars).is_some() {
            return false;
        }
        if self.exact.iter().any(|p| p.eq_ignore_ascii_case(line)) {
            return true;
        }
        if let Some(ac) = &self.prefix
            && ac.find(Input::new(line).anchored(Anchored::Yes)).is_some()
        {
            return true;
        }
        self.contains.as_ref().is_some_and(|ac| ac.is_match(line))
    }

    /// The page rules alone (no line is removed).
    pub fn check(&self, text: &str) -> Verdict {
        let c = &self.cfg;
        stats::with_page(text, c.min_char_entropy.is_some(), |stats, chars, grams| {
            if stats.chars == 0 {
                return Verdict::Drop("zh_empty");
            }
            let share = |n: usize| n as f64 / stats.chars as f64;
            if c.min_han_share.is_some_and(|m| share(stats.han) < m) {
                return Verdict::Drop("zh_low_han_share");
            }
            if let Some(m) = c.min_terminal_punct_lines
                && (stats.terminal_lines as f64) < m * stats.lines as f64
            {
                return Verdict::Drop("zh_no_terminal_punct");
            }
            if c.max_top_char.is_some_and(|m| share(stats.top_char) > m)
                || c.max_char_repetition
                    .is_some_and(|m| stats::repetition_exceeds(chars, c.char_ngram, m, grams))
            {
                return Verdict::Drop("zh_char_repetition");
            }
            if stats.chars >= ENTROPY_MIN_CHARS
                && c.min_char_entropy.is_some_and(|m| stats.entropy < m)
            {
                return Verdict::Drop("zh_low_entropy");
            }
            Verdict::Keep
        })
    }
}

/// Pattern entries: trimmed, comments and blank lines skipped (case kept: matching ignores
/// ASCII case only).
fn parse_patterns(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
}

fn automaton<S: AsRef<[u8]>>(patterns: &[S]) -> Result<Option<AhoCorasick>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostFirst)
        .start_kind(StartKind::Both)
        .build(patterns)
        .map(Some)
        .map_err(|e| invalid("zh_quality", "chrome_patterns", e.to_string()))
}

/// Terminal punctuation of Chinese (and mixed) text: sentence ends, closing quotes and
/// brackets, the colon and semicolon, in CJK, full-width and ASCII forms.
pub fn is_terminal_punct(c: char) -> bool {
    matches!(
        c,
        '。' | '！'
            | '？'
            | '…'
            | '」'
            | '』'
            | '”'
            | '’'
            | '）'
            | '》'
            | '：'
            | '；'
            | '．'
            | '｡'
            | '｣'
            | '.'
            | '!'
            | '?'
            | ':'
            | ';'
            | '"'
            | '\''
            | ')'
    )
}

/// Han ideographs (CJK unified, extension A and beyond, compatibility).
fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

#[cfg(test)]
mod chrome_tests;
mod stats;
#[cfg(test)]
mod tests;
