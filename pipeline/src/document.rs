//! The unit of data that flows through the DAG.
//!
//! A [`Document`] is one record of a source (a JSONL line, a Parquet row): its text, an id and
//! whatever metadata the source maps in. Stages see documents a batch (a [`Payload`]) at a time;
//! the runner numbers batches so that the writers restore input order whatever the thread count.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

use tokenmill_filters::words::{Script, WordMode, WordSpans, Words};

/// One document: text plus identity and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The source's id field, or `"{file}:{line}"` when the source has none.
    pub id: String,
    /// The text that stages clean, filter and tokenize.
    pub text: String,
    /// Fields mapped from the source besides text and id; stages may add to it (scores, language).
    pub metadata: Map<String, Value>,
    /// Set when a stage dropped the document and routed it to a `rejected` port.
    pub rejected: Option<Rejection>,
    /// What stages computed from the text and the next stage may reuse (never written out).
    pub derived: Derived,
}

impl Document {
    /// A document with no metadata.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
            metadata: Map::new(),
            rejected: None,
            derived: Derived::default(),
        }
    }

    /// The words of the text under `mode`. Split once and kept: the word-based filters of a
    /// chain (Gopher repetition and quality, FineWeb) share one split while the text is
    /// unchanged; a stage that rewrites the text makes the next one split again.
    pub fn words(&self, mode: WordMode) -> Words<'_> {
        let mut slot = self.derived.words.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = slot.as_ref()
            && w.matches(&self.text, mode)
            && let Some(words) = w.words(&self.text)
        {
            return words;
        }
        let Some((spans, words)) = WordSpans::split(&self.text, mode) else {
            return Words::new(&self.text, mode);
        };
        *slot = Some(spans);
        words
    }

    /// How many words [`Document::words`] gives, without building the list.
    pub fn word_count(&self, mode: WordMode) -> usize {
        {
            let slot = self.derived.words.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(w) = slot.as_ref()
                && w.matches(&self.text, mode)
            {
                return w.len();
            }
        }
        self.words(mode).tokens.len()
    }

    /// The script word-based rules assume for the text under `mode`: the one its words were
    /// split for when they are kept, else detected (without splitting words).
    pub fn script(&self, mode: WordMode) -> Script {
        let slot = self.derived.words.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_ref() {
            Some(w) if w.matches(&self.text, mode) => w.script(),
            _ => mode.script(&self.text),
        }
    }
}

/// Data derived from a document's text by one stage for the next ones: the word split. Each
/// entry carries a fingerprint of the text it came from and is ignored once the text changes.
/// Clones start empty; it takes no part in equality.
#[derive(Default)]
pub struct Derived {
    words: Mutex<Option<WordSpans>>,
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

/// Why a document was dropped: the stage (as named in the config) and the rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Name of the node that dropped the document.
    pub node: Arc<str>,
    /// Stable snake_case label of the rule, e.g. `too_short`.
    pub rule: &'static str,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.node, self.rule)
    }
}

/// A tokenized document, ready for a token sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDoc {
    /// Token ids, including BOS/EOS when the tokenize stage adds them.
    pub tokens: Vec<u32>,
    /// Size of the text the tokens came from, in bytes (for statistics).
    pub text_bytes: u64,
}

/// What travels on an edge of the DAG.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Documents with text.
    Docs(Vec<Document>),
    /// Tokenized documents.
    Tokens(Vec<TokenDoc>),
}

impl Payload {
    /// Number of documents in the payload.
    pub fn len(&self) -> usize {
        match self {
            Payload::Docs(d) => d.len(),
            Payload::Tokens(t) => t.len(),
        }
    }

    /// Whether the payload holds no documents.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Total text bytes of a set of documents.
pub fn text_bytes(docs: &[Document]) -> u64 {
    docs.iter().map(|d| d.text.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(doc: &Document) -> Option<(usize, u64)> {
        doc.derived
            .words
            .lock()
            .ok()?
            .as_ref()
            .and_then(|w| w.words(&doc.text))
            .map(|w| (w.tokens.len(), doc.text.len() as u64))
    }

    #[test]
    fn words_are_split_once_and_follow_the_text() {
        let mut doc = Document::new("a", "Hello, world. It's fine.");
        assert_eq!(spans(&doc), None);
        let first = doc.words(WordMode::Auto).tokens;
        assert_eq!(first, Words::new(&doc.text, WordMode::Auto).tokens);
        assert!(spans(&doc).is_some(), "kept for the next stage");
        // Another mode is split again, not served from the other mode's words.
        assert_eq!(
            doc.words(WordMode::English).tokens,
            Words::new(&doc.text, WordMode::English).tokens
        );
        // A rewritten text is split again, also one of the same length.
        doc.words(WordMode::Auto);
        doc.text = "Hello. World. Its, fine!".into();
        assert_eq!(doc.text.len(), "Hello, world. It's fine.".len());
        assert_eq!(
            doc.words(WordMode::Auto).tokens,
            ["Hello", ".", "World", ".", "Its", ",", "fine", "!"]
        );
        doc.text = "Howdy".into();
        assert_eq!(doc.words(WordMode::Auto).tokens, ["Howdy"]);
        // Clones start without derived data and compare equal.
        let c = doc.clone();
        assert_eq!(spans(&c), None);
        assert_eq!(c, doc);
    }

    #[test]
    fn script_and_word_count_follow_the_text() {
        let mut doc = Document::new("a", "这是一个中文句子，包含 Rust 这个词。");
        // Before any split: detected, and counted by splitting.
        assert_eq!(doc.script(WordMode::Auto), Script::Cjk);
        assert_eq!(
            doc.word_count(WordMode::Auto),
            Words::new(&doc.text, WordMode::Auto).tokens.len()
        );
        assert!(spans(&doc).is_some());
        // From the kept words, per mode.
        assert_eq!(doc.script(WordMode::Auto), Script::Cjk);
        assert_eq!(doc.script(WordMode::English), Script::Spaced);
        assert_eq!(
            doc.word_count(WordMode::English),
            Words::new(&doc.text, WordMode::English).tokens.len()
        );
        // A rewritten text is not judged by the old words.
        doc.words(WordMode::Auto);
        doc.text = "Plain English words, seven of them.".into();
        assert_eq!(doc.script(WordMode::Auto), Script::Spaced);
        assert_eq!(doc.word_count(WordMode::Auto), 8);
    }
}
