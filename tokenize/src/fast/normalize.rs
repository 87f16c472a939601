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
                if !text.is_ascii() && is_nfc_quick(text.chars()) != IsNormalized::Yes {
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
        "Prepend" => steps.push(NormSpec::Prepend(text("prepend").ok_or("a Prepend normalizer has no string")?.to_owned())),
        "Replace" => {
            let pattern = normalizer.get("pattern").and_then(|p| p.get("String")).and_then(Value::as_str);
            let (Some(from), Some(to)) = (pattern, text("content")) else {
                return Err("a Replace normalizer with a regex pattern is not on the fast path".into());
            };
            steps.push(NormSpec::Replace(from.to_owned(), to.to_owned()));
        }
        "Sequence" => {
            for member in normalizer.get("normalizers").and_then(Value::as_array).map_or(&[][..], Vec::as_slice) {
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
    fn parses_sequences_and_refuses_the_rest_with_a_reason() {
        let json: Value = serde_json::json!({"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]});
        assert_eq!(parse(Some(&json)), Ok(vec![NormSpec::Prepend("▁".into()), NormSpec::Replace(" ".into(), "▁".into())]));
        assert_eq!(parse(None), Ok(vec![]));
        let nfkc = serde_json::json!({"type": "NFKC"});
        assert_eq!(parse(Some(&nfkc)), Err("the normalizer NFKC is not on the fast path".into()));
        let regex = serde_json::json!({"type": "Replace", "pattern": {"Regex": " +"}, "content": " "});
        assert!(parse(Some(&regex)).expect_err("refused").contains("regex"));
    }
}
