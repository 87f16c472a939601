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
//! Per script: terminal punctuation is datatrove's multi-script list (`。！？` included, `…`
//! not), so rule 1 works for CJK as is; rule 4 counts one word per Han/Kana character in Chinese and
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

/// datatrove's `TERMINAL_PUNCTUATION`, sorted: the sentence-final marks of many scripts
/// (`.`, `!`, `?`, `。`, `！`, `？`, `।`, `؟`, ...; not `…`).
const TERMINAL_PUNCTUATION: [char; 159] = [
    '!',
    '.',
    '?',
    '\u{589}',
    '\u{61D}',
    '\u{61E}',
    '\u{61F}',
    '\u{6D4}',
    '\u{700}',
    '\u{701}',
    '\u{702}',
    '\u{7F9}',
    '\u{837}',
    '\u{839}',
    '\u{83D}',
    '\u{83E}',
    '\u{964}',
    '\u{965}',
    '\u{104A}',
    '\u{104B}',
    '\u{1362}',
    '\u{1367}',
    '\u{1368}',
    '\u{166E}',
    '\u{1735}',
    '\u{1736}',
    '\u{17D4}',
    '\u{17D5}',
    '\u{17D6}',
    '\u{17D9}',
    '\u{17DA}',
    '\u{1803}',
    '\u{1809}',
    '\u{1944}',
    '\u{1945}',
    '\u{1AA8}',
    '\u{1AA9}',
    '\u{1AAA}',
    '\u{1AAB}',
    '\u{1B5A}',
    '\u{1B5B}',
    '\u{1B5E}',
    '\u{1B5F}',
    '\u{1B7D}',
    '\u{1B7E}',
    '\u{1C3B}',
    '\u{1C3C}',
    '\u{1C7E}',
    '\u{1C7F}',
    '\u{203C}',
    '\u{203D}',
    '\u{2047}',
    '\u{2048}',
    '\u{2049}',
    '\u{2E2E}',
    '\u{2E3C}',
    '\u{2E53}',
    '\u{2E54}',
    '\u{3002}',
    '\u{A4FF}',
    '\u{A60E}',
    '\u{A60F}',
    '\u{A6F3}',
    '\u{A6F7}',
    '\u{A876}',
    '\u{A877}',
    '\u{A8CE}',
    '\u{A8CF}',
    '\u{A92F}',
    '\u{A9C8}',
    '\u{A9C9}',
    '\u{AA5D}',
    '\u{AA5E}',
    '\u{AA5F}',
    '\u{AAF0}',
    '\u{AAF1}',
    '\u{ABEB}',
    '\u{FE52}',
    '\u{FE56}',
    '\u{FE57}',
    '\u{FF01}',
    '\u{FF0E}',
    '\u{FF1F}',
    '\u{FF61}',
    '\u{10A56}',
    '\u{10A57}',
    '\u{10F55}',
    '\u{10F56}',
    '\u{10F57}',
    '\u{10F58}',
    '\u{10F59}',
    '\u{10F86}',
    '\u{10F87}',
    '\u{10F88}',
    '\u{10F89}',
    '\u{11047}',
    '\u{11048}',
    '\u{110BE}',
    '\u{110BF}',
    '\u{110C0}',
    '\u{110C1}',
    '\u{11141}',
    '\u{11142}',
    '\u{11143}',
    '\u{111C5}',
    '\u{111C6}',
    '\u{111CD}',
    '\u{111DE}',
    '\u{111DF}',
    '\u{11238}',
    '\u{11239}',
    '\u{1123B}',
    '\u{1123C}',
    '\u{112A9}',
    '\u{1144B}',
    '\u{1144C}',
    '\u{115C2}',
    '\u{115C3}',
    '\u{115C9}',
    '\u{115CA}',
    '\u{115CB}',
    '\u{115CC}',
    '\u{115CD}',
    '\u{115CE}',
    '\u{115CF}',
    '\u{115D0}',
    '\u{115D1}',
    '\u{115D2}',
    '\u{115D3}',
    '\u{115D4}',
    '\u{115D5}',
    '\u{115D6}',
    '\u{115D7}',
    '\u{11641}',
    '\u{11642}',
    '\u{1173C}',
    '\u{1173D}',
    '\u{1173E}',
    '\u{11944}',
    '\u{11946}',
    '\u{11A42}',
    '\u{11A43}',
    '\u{11A9B}',
    '\u{11A9C}',
    '\u{11C41}',
    '\u{11C42}',
    '\u{11EF7}',
    '\u{11EF8}',
    '\u{11F43}',
    '\u{11F44}',
    '\u{16A6E}',
    '\u{16A6F}',
    '\u{16AF5}',
    '\u{16B37}',
    '\u{16B38}',
    '\u{16B44}',
    '\u{16E98}',
    '\u{1BC9F}',
    '\u{1DA88}',
];

/// Whether `c` is in datatrove's `TERMINAL_PUNCTUATION`.
pub fn is_terminal_punct(c: char) -> bool {
    TERMINAL_PUNCTUATION.binary_search(&c).is_ok()
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
    fn terminal_punctuation_is_datatrove_s() {
        assert!(TERMINAL_PUNCTUATION.windows(2).all(|w| w[0] < w[1]), "sorted");
        for c in ['.', '?', '!', '。', '！', '？', '।', '؟', '\u{1DA88}'] {
            assert!(is_terminal_punct(c), "{c}");
        }
        // A line trailing off in an ellipsis does not end a sentence for datatrove.
        for c in ['…', ',', '，', ':', 'a'] {
            assert!(!is_terminal_punct(c), "{c}");
        }
    }

    #[test]
    fn chinese_prose_passes() {
        let zh = "我们今天在公园里散步，天气非常好，阳光明媚，微风轻拂，大家心情都很愉快。\n\
                  孩子们在草地上玩耍，老人们坐在长椅上聊天，年轻人在湖边跑步锻炼身体。";
        assert_eq!(f().check(zh), Verdict::Keep);
    }
}
