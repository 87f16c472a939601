//! Stages: what happens to documents between sources and sinks.
//!
//! The stage vocabulary is small on purpose. A [`Filter`] looks at one document and keeps it or
//! drops it with a rule label; a [`Transform`] may also rewrite the document (its text, its
//! metadata) and count what it did; a tokenizer turns documents into token ids. Stages are
//! synchronous and see one batch at a time; the runner owns parallelism (documents of a batch
//! are checked in parallel on its rayon pool) and order (output order is input order).
//!
//! Each stage type is one module here: its spec (the `[[stage]]` table it parses from) and its
//! operator, built through [`BuildOperator`]; [`registry`](StageSpec) lists every type once.

pub mod decontaminate;
pub mod dedup_spec;
pub mod fasttext_classifier;
pub mod html_extract;
mod length;
mod model_spec;
mod perplexity;
mod quality;
mod registry;
mod text;
pub mod text_spec;
mod tokenize;
pub mod transformer_classifier;
pub mod zh;

pub use length::{Length, LengthSpec};
pub use model_spec::{PerplexitySpec, QualityModelSpec};
pub use perplexity::PerplexityFilter;
pub use quality::QualityModel;
pub(crate) use registry::for_each_stage;
pub use registry::{StageKind, StageSpec};
pub use text::{ByLanguage, C4Quality, LANGUAGE_FIELD, UrlField};
pub use tokenize::{TokenizeSpec, TokenizeStage};

use std::fmt::Debug;

use serde::{Deserialize, Serialize};

use crate::document::Document;

pub use tokenmill_filters::Verdict;

/// A stateless per-document check.
///
/// Contract: `check` is a pure function of the document and the filter's config (so any thread
/// count gives the same result); it never fails: a document it cannot judge is data, dropped
/// with a rule that says so.
pub trait Filter: Send + Sync + Debug {
    /// Decides about one document.
    fn check(&self, doc: &Document) -> Verdict;
}

/// What a [`Transform`] did to one document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `Some(rule)` drops the document (it goes to the `rejected` port, as a filter's drops).
    pub dropped: Option<&'static str>,
    /// Counters to add to the node's `transformed` statistics (e.g. `emails` replaced); only
    /// non-zero ones need to be listed.
    pub counts: Vec<(&'static str, u64)>,
}

impl Outcome {
    /// Keeps the document, counting nothing.
    pub fn keep() -> Self {
        Self::default()
    }

    /// Drops the document with `rule`.
    pub fn drop(rule: &'static str) -> Self {
        Self { dropped: Some(rule), counts: Vec::new() }
    }

    /// Adds a counter when it is not zero.
    pub fn count(&mut self, name: &'static str, n: usize) {
        if n > 0 {
            self.counts.push((name, n as u64));
        }
    }
}

/// A per-document rewrite: text cleanup, redaction, metadata annotation.
///
/// Contract: like [`Filter::check`], `apply` is a pure function of the document and the
/// transform's config, never fails, and sees each document once, in any order (the runner
/// applies it to a batch in parallel and keeps input order). A dropped document keeps whatever
/// the transform wrote into it (so a `rejected` sink shows, e.g., its language).
pub trait Transform: Send + Sync + Debug {
    /// Rewrites one document in place and says whether to keep it.
    fn apply(&self, doc: &mut Document) -> Outcome;
}

/// How a stage's spec builds its operator; each spec type implements it next to its stage, and
/// `build::stage_operator` dispatches over every type listed in `config::for_each_stage!`.
pub trait BuildOperator {
    /// Builds the operator: loads models and lists, validates thresholds. `None` for a barrier
    /// (the runner runs it over all of its input, not per batch).
    ///
    /// # Errors
    /// An option is out of range, or a file the spec names cannot be read or parsed.
    fn operator(&self) -> anyhow::Result<Option<Operator>>;
}

/// `type = "where"`: a SQL filter over metadata fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhereSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// The expression, e.g. `language = 'en' AND quality_score > 0.5`.
    pub sql: String,
}

impl BuildOperator for WhereSpec {
    fn operator(&self) -> anyhow::Result<Option<Operator>> {
        Ok(Some(Operator::Sql(
            crate::sql::SqlFilter::new(&self.sql).map_err(|e| anyhow::anyhow!(e))?,
        )))
    }
}

/// The dedup barriers are run by the runner over all of their input (`runner::barrier`).
macro_rules! barrier {
    ($($spec:ty),*) => {
        $(impl BuildOperator for $spec {
            fn operator(&self) -> anyhow::Result<Option<Operator>> {
                Ok(None)
            }
        })*
    };
}
barrier!(dedup_spec::ExactDedupSpec, dedup_spec::MinhashDedupSpec, dedup_spec::LineDedupSpec);

/// A built stage, ready to run.
#[derive(Debug)]
pub enum Operator {
    /// Keeps or drops documents; drops go to the `rejected` port.
    Filter(Box<dyn Filter>),
    /// Rewrites documents in place, may drop them; drops go to the `rejected` port.
    Transform(Box<dyn Transform>),
    /// Documents to token ids.
    Tokenize(TokenizeStage),
    /// Scores documents into their metadata, then keeps or drops them by score.
    Quality(Box<QualityModel>),
    /// Keeps documents for which a SQL expression holds (evaluated a batch at a time).
    Sql(crate::sql::SqlFilter),
    /// Scores a whole batch at once (grouping its documents), then keeps or drops them.
    Scorer(Box<dyn BatchScorer>),
}

/// A stage that judges a batch as a whole: model scoring that groups documents into forward
/// passes.
///
/// Contract: each document's verdict and metadata depend on that document and the config only
/// (not on the rest of the batch), so any batching gives the same output; output order is
/// input order. An error means the batch could not be judged (a device failure), not a bad
/// document: those are dropped with a rule.
pub trait BatchScorer: Send + Sync + Debug {
    /// Writes scores into the documents' metadata and returns, per document, `None` to keep it
    /// or the rule that drops it.
    ///
    /// # Errors
    /// The batch could not be scored.
    fn run(&self, docs: &mut [Document]) -> anyhow::Result<Vec<Option<&'static str>>>;
}
