//! Stages: what happens to documents between sources and sinks.
//!
//! The stage vocabulary is small on purpose. A [`Filter`] looks at one document and keeps it or
//! drops it with a rule label; a tokenizer turns documents into token ids. Stages are
//! synchronous and see one batch at a time; the runner owns parallelism (documents of a batch
//! are checked in parallel on its rayon pool) and order (output order is input order).

mod length;
mod quality;
mod tokenize;

pub use length::Length;
pub use quality::QualityModel;
pub use tokenize::TokenizeStage;

use std::fmt::Debug;

use crate::document::Document;

/// A filter's decision about one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on.
    Keep,
    /// Drop it; the label names the rule (stable snake_case, a metric key).
    Drop(&'static str),
}

/// A stateless per-document check.
///
/// Contract: `check` is a pure function of the document and the filter's config (so any thread
/// count gives the same result); it never fails: a document it cannot judge is data, dropped
/// with a rule that says so.
pub trait Filter: Send + Sync + Debug {
    /// Decides about one document.
    fn check(&self, doc: &Document) -> Verdict;
}

/// A built stage, ready to run.
#[derive(Debug)]
pub enum Operator {
    /// Keeps or drops documents; drops go to the `rejected` port.
    Filter(Box<dyn Filter>),
    /// Documents to token ids.
    Tokenize(TokenizeStage),
    /// Scores documents into their metadata, then keeps or drops them by score.
    Quality(QualityModel),
}
