//! Text cleaning and heuristic quality filters, as pure functions of a `&str` and a config.
//!
//! This crate knows nothing about documents, batches, config files or I/O beyond reading the
//! model or list a filter is built from: the `tokenmill` pipeline's stages wrap each filter, and
//! its runner applies them to a batch in parallel.
//!
//! * checks — [`gopher_quality`], [`gopher_repetition`], [`c4`] (document-level part),
//!   [`fineweb`], [`language`], [`url_filter`], [`fasttext_classifier`], [`block_words`] —
//!   return a [`Verdict`];
//! * [`decontam`] finds benchmark text (n-gram overlap) and drops the document or cuts it;
//! * transforms — [`normalize`], [`c4::C4LineCleaner`], [`pii`], [`zh_quality`] — return a
//!   [`Transformed`] text with counters, and may drop the document.
//!
//! Word-based rules go through [`words`], which reproduces datatrove 0.10.1's English word
//! tokenizer (spaCy's rules) for space-delimited scripts, segments Chinese like Python jieba's
//! default mode and counts characters for Japanese. Building a filter can fail ([`Error`]); checking a document never does.
//!
//! ```
//! use tokenmill_filters::Verdict;
//! use tokenmill_filters::gopher_quality::{GopherQuality, GopherQualityConfig};
//! let f = GopherQuality::new(GopherQualityConfig::default()).expect("defaults are valid");
//! assert_eq!(f.check("too short"), Verdict::Drop("gopher_short_doc"));
//! ```

#![warn(missing_docs)]

pub mod block_words;
pub mod c4;
mod chars;
pub mod decontam;
mod en_tokenizer;
pub mod error;
pub mod fasttext;
pub mod fasttext_classifier;
pub mod fineweb;
pub mod fineweb2;
pub mod gopher_quality;
pub mod gopher_repetition;
pub mod language;
pub mod normalize;
pub mod pii;
pub mod url_filter;
pub mod words;
pub mod zh_convert;
pub mod zh_quality;
#[cfg(test)]
mod zh_rules_tests;
mod zh_words;

use std::borrow::Cow;

pub use error::{Error, Result};

/// A filter's decision about one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on.
    Keep,
    /// Drop it; the label names the rule (stable snake_case, a metric key).
    Drop(&'static str),
}

impl Verdict {
    /// True for [`Verdict::Keep`].
    pub fn is_keep(&self) -> bool {
        matches!(self, Verdict::Keep)
    }
}

/// The output of a text transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformed<'a, C> {
    /// The transformed text (borrowed when nothing changed).
    pub text: Cow<'a, str>,
    /// `Some(rule)` when the whole document should be dropped.
    pub dropped: Option<&'static str>,
    /// What the transform did, for the stage's counters.
    pub counts: C,
}

/// fastText's `lid.176.ftz` (938 KB, CC BY-SA 3.0), shipped in `models/` for users and tests.
#[cfg(test)]
pub(crate) const LID176_FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../models/lid.176.ftz");
