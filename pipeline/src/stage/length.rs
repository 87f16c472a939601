//! `type = "length"`: keep documents whose length in characters lies within bounds.

use super::{Filter, Verdict};
use serde::{Deserialize, Serialize};

use crate::document::Document;

/// `type = "length"`: bounds on text length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// Fewest characters (Unicode scalar values) a kept document has.
    #[serde(default)]
    pub min_chars: Option<usize>,
    /// Most characters a kept document has.
    #[serde(default)]
    pub max_chars: Option<usize>,
}

/// Bounds on text length in Unicode scalar values.
#[derive(Debug, Clone)]
pub struct Length {
    min: Option<usize>,
    max: Option<usize>,
}

impl Length {
    /// Builds the filter from its config.
    pub fn new(spec: &LengthSpec) -> Self {
        Self { min: spec.min_chars, max: spec.max_chars }
    }
}

impl Filter for Length {
    fn check(&self, doc: &Document) -> Verdict {
        // Byte length bounds the character count from both sides; count only when it matters.
        let bytes = doc.text.len();
        if let Some(min) = self.min
            && (bytes < min || (bytes / 4 < min && doc.text.chars().count() < min))
        {
            return Verdict::Drop("too_short");
        }
        if let Some(max) = self.max
            && bytes > max
            && doc.text.chars().count() > max
        {
            return Verdict::Drop("too_long");
        }
        Verdict::Keep
    }
}

impl super::BuildOperator for LengthSpec {
    fn operator(&self) -> anyhow::Result<Option<super::Operator>> {
        Ok(Some(super::Operator::Filter(Box::new(Length::new(self)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_count_characters_not_bytes() {
        let f = Length::new(&LengthSpec {
            name: "l".into(),
            inputs: vec![],
            min_chars: Some(3),
            max_chars: Some(4),
        });
        assert_eq!(f.check(&Document::new("a", "ab")), Verdict::Drop("too_short"));
        assert_eq!(f.check(&Document::new("a", "日本語")), Verdict::Keep);
        assert_eq!(f.check(&Document::new("a", "日本語です")), Verdict::Drop("too_long"));
        assert_eq!(f.check(&Document::new("a", "abcd")), Verdict::Keep);
    }
}
