//! Normalizers the fast path reproduces: NFC (Qwen2/3), and the SentencePiece-style `Prepend`
//! and `Replace` of a literal string (Llama 2, Mistral v1, Gemma), alone or in a `Sequence`.
//!
//! They run on the text between raw-matched added tokens, piece by piece, as the reference's
//! `AddedVocabulary` applies the normalizer.

use std::borrow::Cow;

use serde_json::Value;
use unicode_normalization_alignments::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// One normalizer step, as written in a `tokenizer.json` and stored in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NormSpec {
    /// Unicode NFC, with the reference's own crate (so the same Unicode version).
    Nfc,
    /// `Prepend`: this string before a non-empty text.
    Prepend(String),
    /// `Replace` of a literal string: every occurrence of the first by the second.
    Replace(String, String),
}

impl NormSpec {
    /// The cache file's tag for this kind of step.
    pub(crate) fn tag(&self) -> u8 {
        match self {
            Self::Nfc => 0,
            Self::Prepend(_) => 1,
            Self::Replace(..) => 2,
        }
    }

    /// A short name for logs and reports.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Nfc => "NFC".into(),
            Self::Prepend(s) => format!("prepend {s:?}"),
            Self::Replace(from, to) => format!("replace {from:?} by {to:?}"),
        }
    }
}

/// `text` through `steps`, in order; borrowed when nothing changes it.
pub(crate) fn apply<'t>(steps: &[NormSpec], text: &'t str) -> Cow<'t, str> {
    let mut text = Cow::Borrowed(text);
    for step in steps {
        match step {
            NormSpec::Nfc => {
                if !plainly_nfc(&text) && is_nfc_quick(text.chars()) != IsNormalized::Yes {
                    text = Cow::Owned(text.nfc().map(|(ch, _)| ch).collect());
                }
            }
            NormSpec::Prepend(prefix) => {
                if !text.is_empty() {
                    text = Cow::Owned(format!("{prefix}{text}"));
                }
            }
            NormSpec::Replace(from, to) => {
                if !from.is_empty() && text.contains(from.as_str()) {
                    text = Cow::Owned(text.replace(from.as_str(), to));
                }
            }
        }
    }
    text
}

/// Whether every char of `text` is one that NFC leaves alone whatever surrounds it (quick check
/// `Yes`, combining class 0): ASCII, CJK ideographs (U+3400 to U+9FFF), CJK symbols and
/// punctuation before the combining tone marks (U+3000 to U+3029), and the full- and
/// half-width forms (U+FF00 to U+FFEF). Such a text is its own NFC; a test checks every one of
/// these chars against the normalization tables. Chinese text is mostly these chars, so the
/// general check (a table search per char) runs only where it can find something.
fn plainly_nfc(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let lead = b[i];
        if lead < 0x80 {
            i += 1;
            continue;
        }
        if !(0xE3..=0xEF).contains(&lead) || i + 3 > b.len() {
            return false;
        }
        let cp = (u32::from(lead & 0x0F) << 12)
            | (u32::from(b[i + 1] & 0x3F) << 6)
            | u32::from(b[i + 2] & 0x3F);
        if !is_plain(cp) {
            return false;
        }
        i += 3;
    }
    true
}

/// The code points [`plainly_nfc`] lets through beyond ASCII (three-byte chars).
#[inline]
fn is_plain(cp: u32) -> bool {
    matches!(cp, 0x3000..=0x3029 | 0x3400..=0x9FFF | 0xFF00..=0xFFEF)
}

/// The steps of a `tokenizer.json` normalizer, or why the fast path cannot run it.
pub(crate) fn parse(normalizer: Option<&Value>) -> Result<Vec<NormSpec>, String> {
    let mut steps = Vec::new();
    if let Some(normalizer) = normalizer {
        push(normalizer, &mut steps)?;
    }
    Ok(steps)
}

fn push(normalizer: &Value, steps: &mut Vec<NormSpec>) -> Result<(), String> {
    let text = |key: &str| normalizer.get(key).and_then(Value::as_str);
    match normalizer.get("type").and_then(Value::as_str).unwrap_or("?") {
        "NFC" => steps.push(NormSpec::Nfc),
        "Prepend" => steps.push(NormSpec::Prepend(
            text("prepend").ok_or("a Prepend normalizer has no string")?.to_owned(),
        )),
        "Replace" => {
            let pattern =
                normalizer.get("pattern").and_then(|p| p.get("String")).and_then(Value::as_str);
            let (Some(from), Some(to)) = (pattern, text("content")) else {
                return Err(
                    "a Replace normalizer with a regex pattern is not on the fast path".into()
                );
            };
            steps.push(NormSpec::Replace(from.to_owned(), to.to_owned()));
        }
        "Sequence" => {
            for member in normalizer
                .get("normalizers")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
            {
                push(member, steps)?;
            }
        }
        other => return Err(format!("the normalizer {other} is not on the fast path")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_apply_in_order_and_leave_empty_text_alone() {
        let llama2 = [NormSpec::Prepend("▁".into()), NormSpec::Replace(" ".into(), "▁".into())];
        assert_eq!(apply(&llama2, "Hello  world"), "▁Hello▁▁world");
        assert_eq!(apply(&llama2, ""), "");
        assert!(matches!(apply(&[NormSpec::Nfc], "plain ascii"), Cow::Borrowed(_)));
        assert_eq!(apply(&[NormSpec::Nfc], "e\u{301}\u{212b}"), "é\u{c5}");
    }

    #[test]
    fn the_plain_chars_are_left_alone_by_nfc_in_any_context() {
        use unicode_normalization_alignments::char::canonical_combining_class;
        for cp in (0x3000..=0x3029).chain(0x3400..=0x9FFF).chain(0xFF00..=0xFFEF) {
            assert!(is_plain(cp));
            let Some(ch) = char::from_u32(cp) else { continue };
            assert_eq!(is_nfc_quick(std::iter::once(ch)), IsNormalized::Yes, "{cp:#x}");
            assert_eq!(canonical_combining_class(ch), 0, "{cp:#x}");
        }
        assert!(!is_plain(0x302A), "a combining tone mark");
        assert!(plainly_nfc("中文，测试。ＡＢＣ abc"));
        assert!(!plainly_nfc("e\u{301}"));
        assert!(!plainly_nfc("\u{212b}"));
        assert!(!plainly_nfc("か\u{3099}"), "kana with a combining voicing mark");
        assert!(!plainly_nfc("한"), "Hangul takes the general check");
        assert!(!plainly_nfc("🦀"));
    }

    #[test]
    fn parses_sequences_and_refuses_the_rest_with_a_reason() {
        let json: Value = serde_json::json!({"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]});
        assert_eq!(
            parse(Some(&json)),
            Ok(vec![NormSpec::Prepend("▁".into()), NormSpec::Replace(" ".into(), "▁".into())])
        );
        assert_eq!(parse(None), Ok(vec![]));
        let nfkc = serde_json::json!({"type": "NFKC"});
        assert_eq!(parse(Some(&nfkc)), Err("the normalizer NFKC is not on the fast path".into()));
        let regex =
            serde_json::json!({"type": "Replace", "pattern": {"Regex": " +"}, "content": " "});
        assert!(parse(Some(&regex)).expect_err("refused").contains("regex"));
    }
}
