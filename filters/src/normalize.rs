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

use crate::Transformed;
use crate::error::Result;

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
        Self {
            form: Form::Nfc,
            remove_control: true,
            normalize_whitespace: true,
            max_blank_lines: 2,
        }
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
    pub fn apply<'a>(&self, text: &'a str) -> Transformed<'a, NormalizeCounts> {
        let mut counts = NormalizeCounts::default();
        let normalized: Cow<'_, str> = match self.cfg.form {
            Form::Nfc => ComposingNormalizerBorrowed::new_nfc().normalize(text),
            Form::Nfkc => ComposingNormalizerBorrowed::new_nfkc().normalize(text),
            Form::None => Cow::Borrowed(text),
        };
        counts.unicode_changed = matches!(normalized, Cow::Owned(_));
        if self.is_clean(&normalized) {
            return Transformed { text: normalized, dropped: None, counts };
        }
        let out = self.clean(&normalized, &mut counts);
        let dropped = out.is_empty().then_some("empty");
        Transformed { text: Cow::Owned(out), dropped, counts }
    }

    /// Steps 2-4 in one pass. Bytes that cannot start a character these steps change are
    /// copied in spans: ASCII other than controls, DEL and spaces, a single space before such a
    /// byte, and UTF-8 other than the lead bytes C2 (U+0080-U+00BF: C1 controls, NEL, NBSP),
    /// E1 (U+1680), E2 (U+2000-U+2FFF: spaces, ZWSP, WJ, LS, PS), E3 (U+3000) and EF (BOM).
    /// Spaces and line breaks are held back and written (collapsed) before the next character
    /// that stays, so trailing ones are never written.
    fn clean(&self, src: &str, counts: &mut NormalizeCounts) -> String {
        let ws = self.cfg.normalize_whitespace;
        let b = src.as_bytes();
        let mut out = String::with_capacity(src.len());
        // Held back: line breaks and a space since the last character written.
        let (mut breaks, mut space) = (0usize, false);
        let mut controlled_len = src.len();
        let mut span = 0;
        let mut i = 0;
        while i < b.len() {
            if span < i {
                // Inside a span the plain bytes need nothing (the common case, one table load).
                while i < b.len() && PLAIN[b[i] as usize] {
                    i += 1;
                }
                if i == b.len() {
                    break;
                }
            }
            let x = b[i];
            let (len, kind) = if is_plain(b, i, ws) {
                (1, Kind::Keep)
            } else {
                let (len, kind) = self.classify(src, i, counts);
                // What steps 2-3 alone would have removed (the rest of the saving is step 4's).
                match kind {
                    Kind::Break => controlled_len -= len - 1,
                    Kind::Remove => controlled_len -= len,
                    _ => {}
                }
                (len, kind)
            };
            match kind {
                Kind::Keep if span == i && ws => {
                    // A span starts: write what was held back before it. At the start of the
                    // text, leading whitespace (a tab, a space) is dropped instead.
                    if out.is_empty() {
                        if matches!(x, b' ' | b'\t') {
                            span = i + 1;
                        }
                    } else {
                        self.release(&mut out, breaks, space, x);
                    }
                    (breaks, space) = (0, false);
                }
                Kind::Keep => {}
                Kind::Break | Kind::Remove | Kind::Space => {
                    out.push_str(&src[span..i]);
                    span = i + len;
                    match kind {
                        Kind::Break if !ws => out.push('\n'),
                        Kind::Break => (breaks, space) = (breaks + 1, false),
                        Kind::Space => space = true,
                        _ => {}
                    }
                }
            }
            i += len;
        }
        out.push_str(&src[span..]);
        if ws {
            // Trailing tabs (kept inside lines) end the text too.
            let end = out.trim_end_matches(char::is_whitespace).len();
            out.truncate(end);
            counts.whitespace_bytes = controlled_len - out.len();
        }
        out
    }

    /// The byte length and kind of the character at `i`, which [`is_plain`] did not pass;
    /// counts the line endings rewritten and the characters removed. `\r\n` is one break.
    #[inline]
    fn classify(&self, src: &str, i: usize, counts: &mut NormalizeCounts) -> (usize, Kind) {
        let c = src[i..].chars().next().unwrap_or(' ');
        let kind = match c {
            '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                counts.line_endings += 1;
                Kind::Break
            }
            '\n' => Kind::Break,
            c if self.cfg.remove_control
                && (c.is_control() || matches!(c, '\u{200b}' | '\u{2060}' | '\u{feff}')) =>
            {
                counts.control_removed += 1;
                Kind::Remove
            }
            c if self.cfg.normalize_whitespace && is_space(c) => Kind::Space,
            _ => Kind::Keep,
        };
        let len =
            if c == '\r' && src.as_bytes().get(i + 1) == Some(&b'\n') { 2 } else { c.len_utf8() };
        (len, kind)
    }

    /// Writes what was held back before a span of kept text that starts with byte `x`: the
    /// line breaks (at most `max_blank_lines` blank lines), then one space unless `x` is one.
    #[inline]
    fn release(&self, out: &mut String, breaks: usize, space: bool, x: u8) {
        if breaks > 0 {
            out.extend(std::iter::repeat_n('\n', 1 + (breaks - 1).min(self.cfg.max_blank_lines)));
        }
        // A held-back space and this one are one space.
        if space && x != b' ' {
            out.push(' ');
        }
    }

    /// Whether steps 2-4 would leave `text` as it is (the usual document): one pass over the
    /// bytes that decodes only the lead bytes of the characters those steps change, so that
    /// a clean document is neither decoded nor copied. It may say no to a text the steps would
    /// not change (with `remove_control` or `normalize_whitespace` off), never the reverse.
    fn is_clean(&self, text: &str) -> bool {
        let b = text.as_bytes();
        // The text is trimmed of whitespace (tabs and newlines included); an empty one is dropped.
        match (text.chars().next(), text.chars().next_back()) {
            (Some(first), Some(last)) if !first.is_whitespace() && !last.is_whitespace() => {}
            _ => return false,
        }
        let mut newlines = 0;
        let mut i = 0;
        while i < b.len() {
            if PLAIN[b[i] as usize] {
                newlines = 0;
                while i < b.len() && PLAIN[b[i] as usize] {
                    i += 1;
                }
                continue;
            }
            let x = b[i];
            match x {
                // k newlines in a row are k - 1 blank lines.
                b'\n' => {
                    newlines += 1;
                    if newlines > self.cfg.max_blank_lines + 1 {
                        return false;
                    }
                }
                // A space run, or a space that ends a line (or the text), goes.
                b' ' => {
                    newlines = 0;
                    if matches!(b.get(i + 1), None | Some(b' ' | b'\n')) {
                        return false;
                    }
                }
                b'\t' | 0x21..=0x7e => newlines = 0,
                // Other ASCII controls, DEL.
                0..=0x7f => return false,
                // Lead bytes of C1 controls, NEL and NBSP (C2), U+1680 (E1), the spaces,
                // separators and invisibles of U+2000-U+2FFF (E2), U+3000 (E3) and the BOM (EF).
                0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF => {
                    newlines = 0;
                    let c = text[i..].chars().next().unwrap_or(' ');
                    if c.is_control()
                        || c.is_whitespace()
                        || matches!(c, '\u{200b}' | '\u{2060}' | '\u{feff}')
                    {
                        return false;
                    }
                    i += c.len_utf8();
                    continue;
                }
                _ => newlines = 0,
            }
            i += 1;
        }
        true
    }
}

/// Whether byte `i` starts a character that [`Normalize::clean`] copies as it is without
/// decoding it: printable ASCII and tabs, a space followed by another plain byte (any space
/// when whitespace is not normalized), `\n` when whitespace is not normalized, and the UTF-8
/// lead bytes of characters it never changes.
#[inline]
fn is_plain(b: &[u8], i: usize, ws: bool) -> bool {
    let x = b[i];
    match x {
        0x21..=0x7e | b'\t' => true,
        b' ' => !ws || b.get(i + 1).is_some_and(|&y| y != b' ' && starts_plain(y)),
        b'\n' => !ws,
        _ => starts_plain(x),
    }
}

/// Whether a character starting with byte `x` is one [`Normalize::clean`] copies as it is,
/// whatever the setting (space and newline aside): printable ASCII, tab, and UTF-8 other than
/// the lead bytes of the characters it may change.
const fn starts_plain(x: u8) -> bool {
    matches!(x, 0x21..=0x7e | b'\t')
        || (x >= 0x80 && !matches!(x, 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF))
}

/// [`starts_plain`] for every byte.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut x = 0;
    while x < 256 {
        t[x] = starts_plain(x as u8);
        x += 1;
    }
    t
};

/// What [`Normalize::clean`] does with one character.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Keep,
    Break,
    Remove,
    Space,
}

/// A horizontal space (Unicode Zs, NBSP and U+3000 included), not a tab.
fn is_space(c: char) -> bool {
    c != '\t' && c != '\n' && c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(cfg: NormalizeConfig, s: &str) -> String {
        Normalize::new(cfg).expect("valid").apply(s).text.into_owned()
    }

    /// Steps 2-4 as three plain passes (control characters, line endings; trimming; lines),
    /// the oracle of the one-pass [`Normalize::clean`].
    fn reference(cfg: &NormalizeConfig, src: &str) -> (String, usize, usize, usize) {
        let (mut controls, mut endings) = (0, 0);
        let mut text = String::new();
        let mut it = src.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\r' => {
                    it.next_if_eq(&'\n');
                    endings += 1;
                    text.push('\n');
                }
                '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                    endings += 1;
                    text.push('\n');
                }
                c if cfg.remove_control
                    && (c.is_control() && c != '\n' && c != '\t'
                        || matches!(c, '\u{200b}' | '\u{2060}' | '\u{feff}')) =>
                {
                    controls += 1;
                }
                c => text.push(c),
            }
        }
        if !cfg.normalize_whitespace {
            return (text, controls, endings, 0);
        }
        let mut out = String::new();
        let mut blank_run = 0;
        for line in text.trim_matches(char::is_whitespace).split('\n') {
            let line = line.trim_end_matches(is_space);
            if line.trim_start_matches(is_space).is_empty() {
                blank_run += 1;
                if blank_run <= cfg.max_blank_lines {
                    out.push('\n');
                }
                continue;
            }
            blank_run = 0;
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
        let saved = text.len() - out.len();
        (out, controls, endings, saved)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// The one-pass cleanup gives what the three passes give, counters included.
        #[test]
        fn one_pass_is_the_three_passes(
            pieces in proptest::collection::vec(
                "(ab|é|中|。|x1|—)|[ \t\n]|\n\n\n|\r|\r\n|\u{0}|\u{b}|\u{7f}|\u{85}|\u{a0}|\u{9f}|\u{1680}|\u{2009}|\u{200b}|\u{2028}|\u{2060}|\u{3000}|\u{feff}|\u{1c}",
                0..16,
            ),
            remove_control: bool,
            normalize_whitespace: bool,
            max_blank_lines in 0usize..4,
        ) {
            let cfg = NormalizeConfig { form: Form::None, remove_control, normalize_whitespace, max_blank_lines };
            let text: String = pieces.concat();
            let (want, controls, endings, saved) = reference(&cfg, &text);
            let got = Normalize::new(cfg).expect("valid").apply(&text);
            proptest::prop_assert_eq!(got.text.as_ref(), want.as_str());
            proptest::prop_assert_eq!(got.dropped, want.is_empty().then_some("empty"));
            proptest::prop_assert_eq!(got.counts.control_removed, controls);
            proptest::prop_assert_eq!(got.counts.line_endings, endings);
            proptest::prop_assert_eq!(got.counts.whitespace_bytes, saved);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// A text `is_clean` lets through is one the cleanup steps leave as it is: texts of
        /// words, spaces (ASCII and Unicode), tabs, newline runs, controls and invisibles.
        #[test]
        fn clean_texts_are_left_as_they_are(
            words in proptest::collection::vec(
                "(ab|é|中|。|x1)|[ \t\n]|\n\n\n|\r|\u{0}|\u{7f}|\u{85}|\u{a0}|\u{9f}|\u{1680}|\u{2009}|\u{200b}|\u{2028}|\u{2060}|\u{3000}|\u{feff}|\u{e000}|ǅ",
                0..12,
            ),
            blank in 0usize..4,
        ) {
            let n = Normalize::new(NormalizeConfig { max_blank_lines: blank, ..Default::default() }).expect("valid");
            let text: String = words.concat();
            if n.is_clean(&text) {
                // What the full cleanup makes of it, bypassing the check.
                let mut dirty = String::from("\u{0}");
                dirty.push_str(&text);
                let cleaned = n.apply(&dirty);
                proptest::prop_assert_eq!(cleaned.text.as_ref(), text.as_str());
                proptest::prop_assert_eq!(cleaned.counts.whitespace_bytes, 0);
            }
        }
    }

    #[test]
    fn clean_text_is_not_copied() {
        let n = Normalize::new(NormalizeConfig::default()).expect("valid");
        let t = n.apply("A clean line.\n\nAnother one,\twith a tab.");
        assert!(matches!(t.text, Cow::Borrowed(_)));
        assert_eq!(t.counts, NormalizeCounts::default());
        for dirty in [
            "a  b",
            "a \nb",
            " a",
            "a\n",
            "a\n\n\n\nb",
            "a\u{a0}b",
            "a\u{200b}b",
            "a\rb",
            "a\u{85}b",
        ] {
            assert!(!n.is_clean(dirty), "{dirty:?}");
        }
    }

    #[test]
    fn nfc_and_nfkc() {
        let decomposed = "Cafe\u{301}";
        assert_eq!(norm(NormalizeConfig::default(), decomposed), "Café");
        assert_eq!(norm(NormalizeConfig::default(), "ｆｕｌｌ ﬁ"), "ｆｕｌｌ ﬁ");
        assert_eq!(
            norm(NormalizeConfig { form: Form::Nfkc, ..Default::default() }, "ｆｕｌｌ ﬁ"),
            "full fi"
        );
    }

    #[test]
    fn control_and_whitespace() {
        let t = Normalize::new(NormalizeConfig::default())
            .expect("valid")
            .apply("  a\u{0}b\u{feff}  \u{a0} c \r\nd\r\re\n\n\n\n\nf\tg  ");
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
