//! `fineweb_quality`: FineWeb's custom heuristics (Penedo et al. 2024, section 3.3), as datatrove
//! 0.10.1's `FineWebQualityFilter` applies them.
//!
//! On the non-blank lines (split on `\n`), in order:
//! 1. `line_punct_ratio`: share of lines ending in terminal punctuation below `line_punct_thr`
//!    (unless it is 0 and `line_punct_exclude_zero`);
//! 2. `short_line_ratio`: share of lines of at most `short_line_length` code points above
//!    `short_line_thr`;
//! 3. `char_dup_ratio`: characters in duplicated lines over the text's characters (newlines
//!    excluded) above `char_duplicates_ratio`;
//! 4. `list_ratio`: newlines per word above `new_line_ratio`.
//!
//! Per script: terminal punctuation is datatrove's multi-script list (`。！？` included), so
//! rule 1 works for CJK as is; rule 4 counts one word per Han/Kana character in Chinese and
//! Japanese documents (see [`crate::words`]); for rule 2 a Han/Kana character counts as
//! `cjk_char_weight` characters (default 3: a Chinese word of ~1.5 characters carries what an
//! English word of ~5 letters and a space does), so a 30-character English line and a
//! 10-character Chinese line are equally "short".

use serde::Deserialize;

use crate::Verdict;
use crate::error::{Result, check_ratio};
use crate::gopher_repetition::find_duplicates;
use crate::words::{Script, WordMode, Words, char_len, is_cjk, py_strip};

/// Config of [`FineWebQuality`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FineWebQualityConfig {
    /// Minimum share of lines ending in terminal punctuation (ratio of lines).
    pub line_punct_thr: f64,
    /// Do not apply rule 1 to documents where no line ends in punctuation.
    pub line_punct_exclude_zero: bool,
    /// Maximum share of short lines (ratio of lines).
    pub short_line_thr: f64,
    /// A line this long or shorter is short (code points).
    pub short_line_length: usize,
    /// Maximum characters in duplicate lines (ratio of non-newline characters).
    pub char_duplicates_ratio: f64,
    /// Maximum newlines per word (ratio).
    pub new_line_ratio: f64,
    /// In Chinese/Japanese documents, each Han/Kana character counts as this many characters
    /// when measuring a line against `short_line_length` (CJK text is denser than alphabetic
    /// text; 1.0 measures plain code points as datatrove does).
    pub cjk_char_weight: f64,
    /// How words are found.
    pub words: WordMode,
}

impl Default for FineWebQualityConfig {
    fn default() -> Self {
        Self {
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            short_line_thr: 0.67,
            short_line_length: 30,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
            cjk_char_weight: 3.0,
            words: WordMode::Auto,
        }
    }
}

/// The FineWeb quality filter.
#[derive(Debug, Clone)]
pub struct FineWebQuality {
    cfg: FineWebQualityConfig,
}

impl FineWebQuality {
    /// Builds the filter.
    ///
    /// # Errors
    /// A ratio outside `[0, 1]` (except `new_line_ratio`, which only has to be non-negative).
    pub fn new(cfg: FineWebQualityConfig) -> Result<Self> {
        const F: &str = "fineweb_quality";
        check_ratio(F, "line_punct_thr", Some(cfg.line_punct_thr))?;
        check_ratio(F, "short_line_thr", Some(cfg.short_line_thr))?;
        check_ratio(F, "char_duplicates_ratio", Some(cfg.char_duplicates_ratio))?;
        if cfg.cjk_char_weight.is_nan() || cfg.cjk_char_weight <= 0.0 {
            return Err(crate::error::invalid(F, "cjk_char_weight", "must be > 0"));
        }
        if cfg.new_line_ratio.is_nan() || cfg.new_line_ratio < 0.0 {
            return Err(crate::error::invalid(F, "new_line_ratio", "must be >= 0"));
        }
        Ok(Self { cfg })
    }

    /// Keeps or drops one document.
    pub fn check(&self, text: &str) -> Verdict {
        self.check_with(text, self.cfg.words.script(text), || {
            Words::new(text, self.cfg.words).tokens.len()
        })
    }

    /// How this filter splits words.
    pub fn word_mode(&self) -> WordMode {
        self.cfg.words
    }

    /// [`Self::check`] with the document's script and a count of its words (called only when
    /// the rule that needs it is reached), shared between filters: they must be what
    /// `self.word_mode()` gives for `text` (its `script`, and `Words::new(..).tokens.len()`).
    pub fn check_with(
        &self,
        text: &str,
        script: Script,
        n_words: impl FnOnce() -> usize,
    ) -> Verdict {
        let c = &self.cfg;
        let lines: Vec<&str> = text.split('\n').filter(|l| !py_strip(l).is_empty()).collect();
        if lines.is_empty() {
            return Verdict::Drop("empty");
        }
        let n = lines.len() as f64;
        let punct =
            lines.iter().filter(|l| l.chars().next_back().is_some_and(is_terminal_punct)).count()
                as f64
                / n;
        if punct < c.line_punct_thr && !(punct == 0.0 && c.line_punct_exclude_zero) {
            return Verdict::Drop("line_punct_ratio");
        }
        let line_len = |l: &str| -> f64 {
            if script == Script::Cjk {
                l.chars().map(|ch| if is_cjk(ch) { c.cjk_char_weight } else { 1.0 }).sum()
            } else {
                char_len(l) as f64
            }
        };
        let short =
            lines.iter().filter(|l| line_len(l) <= c.short_line_length as f64).count() as f64 / n;
        if short > c.short_line_thr {
            return Verdict::Drop("short_line_ratio");
        }
        let newlines = memchr::memchr_iter(b'\n', text.as_bytes()).count();
        let body = char_len(text) - newlines;
        let dup = find_duplicates(&lines).1 as f64 / body.max(1) as f64;
        if dup > c.char_duplicates_ratio {
            return Verdict::Drop("char_dup_ratio");
        }
        let n_words = n_words();
        if newlines as f64 / n_words.max(1) as f64 > c.new_line_ratio {
            return Verdict::Drop("list_ratio");
        }
        Verdict::Keep
    }
}

/// datatrove's `TERMINAL_PUNCTUATION` (BMP part): sentence-final marks of many scripts.
pub fn is_terminal_punct(c: char) -> bool {
    matches!(
        c,
        '.' | '!'
            | '?'
            | '。'
            | '！'
            | '？'
            | '．'
            | '｡'
            | '﹒'
            | '﹗'
            | '…'
            | '‼'
            | '⁇'
            | '⁈'
            | '⁉'
            | '⸮'
            | '⸼'
            | '։'
            | '؞'
            | '؟'
            | '۔'
            | '܀'
            | '܁'
            | '܂'
            | '߹'
            | '࠷'
            | '࠹'
            | '࠽'
            | '࠾'
            | '।'
            | '॥'
            | '၊'
            | '။'
            | '።'
            | '፧'
            | '፨'
            | '᙮'
            | '᜵'
            | '᜶'
            | '᠃'
            | '᠉'
            | '᥄'
            | '᥅'
            | '᪨'
            | '᪩'
            | '᪪'
            | '᪫'
            | '᭚'
            | '᭛'
            | '᭞'
            | '᭟'
            | '᰻'
            | '᰼'
            | '᱾'
            | '᱿'
            | '꓿'
            | '꘎'
            | '꘏'
            | '꛳'
            | '꛷'
            | '꡶'
            | '꡷'
            | '꣎'
            | '꣏'
            | '꤯'
            | '꧈'
            | '꧉'
            | '꩝'
            | '꩞'
            | '꩟'
            | '꫰'
            | '꫱'
            | '꯫'
            | '។'
            | '៕'
            | '៖'
            | '៚'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> FineWebQuality {
        FineWebQuality::new(FineWebQualityConfig::default()).expect("defaults")
    }

    #[test]
    fn rules() {
        let prose = "Rust is a systems programming language that runs fast and prevents segfaults.\n\
                     It guarantees thread safety through its ownership model and borrow checker rules.";
        assert_eq!(f().check(prose), Verdict::Keep);
        assert_eq!(f().check("\n \n"), Verdict::Drop("empty"));
        assert_eq!(
            f().check("Home\nAbout us\nContact\nProducts"),
            Verdict::Drop("line_punct_ratio")
        );
        assert_eq!(
            f().check("Short.\nAlso short.\nTiny.\nA long enough line that ends with a period."),
            Verdict::Drop("short_line_ratio")
        );
        let dup = format!("{prose}\n{prose}");
        assert_eq!(f().check(&dup), Verdict::Drop("char_dup_ratio"));
        let list = "A list item that is long enough to pass the short line rule.\n".to_string()
            + "B:\nC!\nD.\nE.\n";
        assert_ne!(f().check(&list), Verdict::Keep);
    }

    #[test]
    fn chinese_prose_passes() {
        let zh = "我们今天在公园里散步，天气非常好，阳光明媚，微风轻拂，大家心情都很愉快。\n\
                  孩子们在草地上玩耍，老人们坐在长椅上聊天，年轻人在湖边跑步锻炼身体。";
        assert_eq!(f().check(zh), Verdict::Keep);
    }
}
