//! The unit of data that flows through the DAG.
//!
//! A [`Document`] is one record of a source (a JSONL line, a Parquet row): its text, an id and
//! whatever metadata the source maps in. Stages see documents a [`Batch`] at a time; batches
//! carry a sequence number so the writers can restore input order whatever the thread count.

use std::sync::Arc;

use serde_json::{Map, Value};

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
}

impl Document {
    /// A document with no metadata.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self { id: id.into(), text: text.into(), metadata: Map::new(), rejected: None }
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
