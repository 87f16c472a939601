//! `normalize`: Unicode normalization and whitespace/control-character cleanup.
//!
//! Steps, in order:
//! 1. Unicode normalization form: NFC (default), NFKC (folds compatibility characters such as
//!    full-width letters and ligatures), or none;
//! 2. line endings: `\r\n`, `\r`, `\v`, `\f`, U+0085, U+2028, U+2029 become `\n`;
//! 3. control characters (Unicode Cc other than `\n` and `\t`) and the invisible U+200B, U+2060,
//!    U+FEFF are removed (ZWJ/ZWNJ are kept: they change meaning in Persian, Indic scripts and
//!    emoji);
//! 4. whitespace: runs of spaces (any Unicode space separator, NBSP and U+3000 included; tabs
//!    are kept) become one ASCII space, spaces before a line end are removed, more than
//!    `max_blank_lines` consecutive blank lines are reduced, and the text is trimmed.
//!
//! A document that is empty afterwards is dropped with `empty`. The text is never lowercased:
//! the dedup stages normalize their own hashing copy.

use std::borrow::Cow;

use icu_normalizer::ComposingNormalizerBorrowed;
use serde::{Deserialize, Serialize};

use crate::filters::Transformed;
use crate::filters::error::Result;

/// The Unicode normalization form to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// Canonical composition.
    #[default]
    Nfc,
    /// Compatibility composition.
    Nfkc,
    /// Leave code points as they are.
    None,
}

/// Config of [`Normalize`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeConfig {
    /// Unicode normalization form.
    pub form: Form,
    /// Remove control characters (keeping `\n` and `\t`) and zero-width spaces/BOM.
    pub remove_control: bool,
    /// Collapse space runs, trim line ends and the document.
    pub normalize_whitespace: bool,
    /// Most consecutive blank lines kept (lines; with `normalize_whitespace`).
    pub max_blank_lines: usize,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        Self { form: Form::Nfc, remove_control: true, normalize_whitespace: true, max_blank_lines: 2 }
    }
}

/// What [`Normalize::apply`] changed in one document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NormalizeCounts {
    /// The normalization form changed the text.
    pub unicode_changed: bool,
    /// Control and invisible characters removed.
    pub control_removed: usize,
    /// Line endings rewritten to `\n`.
    pub line_endings: usize,
    /// Bytes saved by whitespace normalization.
    pub whitespace_bytes: usize,
}

/// The normalizer.
#[derive(Debug, Clone)]
pub struct Normalize {
    cfg: NormalizeConfig,
}

impl Normalize {
    /// Builds the normalizer.
    ///
    /// # Errors
    /// None at present; kept fallible like every filter constructor.
    pub fn new(cfg: NormalizeConfig) -> Result<Self> {
        Ok(Self { cfg })
    }

    /// Normalizes one document.
    pub fn apply(&self, text: &str) -> Transformed<NormalizeCounts> {
        let mut counts = NormalizeCounts::default();
        let normalized: Cow<'_, str> = match self.cfg.form {
            Form::Nfc => ComposingNormalizerBorrowed::new_nfc().normalize(text),
            Form::Nfkc => ComposingNormalizerBorrowed::new_nfkc().normalize(text),
            Form::None => Cow::Borrowed(text),
        };
        counts.unicode_changed = matches!(normalized, Cow::Owned(_));
        let src: &str = &normalized;
        let mut out = String::with_capacity(src.len());
        // Copy untouched spans whole. Only bytes that can start a character we change are
        // decoded: ASCII controls and DEL, and the UTF-8 lead bytes C2 (U+0080-U+00BF: C1
        // controls, NEL), E2 (U+2000-U+2FFF: ZWSP, WJ, LS, PS) and EF (U+F000-U+FFFF: BOM).
        let b = src.as_bytes();
        let mut span = 0;
        let mut i = 0;
        while i < b.len() {
            let x = b[i];
            if (0x20..0x7f).contains(&x) || x == b'\n' || x == b'\t' || (x >= 0x80 && !matches!(x, 0xC2 | 0xE2 | 0xEF)) {
                i += 1;
                continue;
            }
            let c = src[i..].chars().next().unwrap_or(' ');
            let mut len = c.len_utf8();
            let replacement = match c {
                '\r' => {
                    if b.get(i + 1) == Some(&b'\n') {
                        len += 1;
                    }
                    counts.line_endings += 1;
                    Some("\n")
                }
                '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                    counts.line_endings += 1;
                    Some("\n")
                }
                c if self.cfg.remove_control && (c.is_control() || matches!(c, '\u{200b}' | '\u{2060}' | '\u{feff}')) => {
                    counts.control_removed += 1;
                    Some("")
                }
                _ => None,
            };
            if let Some(rep) = replacement {
                out.push_str(&src[span..i]);
                out.push_str(rep);
                span = i + len;
            }
            i += len;
        }
        out.push_str(&src[span..]);
        if self.cfg.normalize_whitespace {
            let before = out.len();
            out = self.squeeze(&out);
            counts.whitespace_bytes = before - out.len();
        }
        let dropped = out.is_empty().then_some("empty");
        Transformed { text: out, dropped, counts }
    }

    /// Collapses space runs, trims line ends and the text, limits blank lines.
    fn squeeze(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut blank_run = 0;
        for line in text.trim_matches(|c: char| c.is_whitespace()).split('\n') {
            let line = line.trim_end_matches(is_space);
            if line.trim_start_matches(is_space).is_empty() {
                blank_run += 1;
                if blank_run > self.cfg.max_blank_lines {
                    continue;
                }
                out.push('\n');
                continue;
            }
            blank_run = 0;
            // Fast path: no run of spaces and no space other than ' ' (the usual line).
            if !line.contains("  ") && (line.is_ascii() || !line.chars().any(|c| c != ' ' && is_space(c))) {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let mut prev_space = false;
            for c in line.chars() {
                if is_space(c) {
                    if !prev_space {
                        out.push(' ');
                    }
                    prev_space = true;
                } else {
                    out.push(c);
                    prev_space = false;
                }
            }
            out.push('\n');
        }
        out.pop();
        out
    }
}

/// A horizontal space (Unicode Zs, NBSP and U+3000 included), not a tab.
fn is_space(c: char) -> bool {
    c != '\t' && c != '\n' && c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(cfg: NormalizeConfig, s: &str) -> String {
        Normalize::new(cfg).expect("valid").apply(s).text
    }

    #[test]
    fn nfc_and_nfkc() {
        let decomposed = "Cafe\u{301}";
        assert_eq!(norm(NormalizeConfig::default(), decomposed), "Café");
        assert_eq!(norm(NormalizeConfig::default(), "ｆｕｌｌ ﬁ"), "ｆｕｌｌ ﬁ");
        assert_eq!(norm(NormalizeConfig { form: Form::Nfkc, ..Default::default() }, "ｆｕｌｌ ﬁ"), "full fi");
    }

    #[test]
    fn control_and_whitespace() {
        let t = Normalize::new(NormalizeConfig::default()).expect("valid").apply("  a\u{0}b\u{feff}  \u{a0} c \r\nd\r\re\n\n\n\n\nf\tg  ");
        assert_eq!(t.text, "ab c\nd\n\ne\n\n\nf\tg");
        assert_eq!(t.counts.control_removed, 2);
        assert_eq!(t.counts.line_endings, 3);
        assert_eq!(t.dropped, None);
    }

    #[test]
    fn empty_is_dropped() {
        let n = Normalize::new(NormalizeConfig::default()).expect("valid");
        assert_eq!(n.apply(" \u{0} \n ").dropped, Some("empty"));
    }
}
