//! The crate's error type: only building a filter can fail; checking a document never does.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while building a filter from its config.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config value is out of its valid range.
    #[error("invalid config for `{filter}`: {field} {problem}")]
    InvalidConfig {
        /// The filter (stage type) name.
        filter: &'static str,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it and what would be valid.
        problem: String,
    },
    /// A file named by the config could not be read.
    #[error("cannot read {what} {path}: {source}; check that the file exists and is readable")]
    Io {
        /// What the file is for (e.g. "block list", "fastText model").
        what: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A fastText model file is malformed.
    #[error("bad fastText model {path} at byte {offset}: {problem}")]
    BadModel {
        /// The model path.
        path: PathBuf,
        /// Byte offset where parsing failed.
        offset: u64,
        /// What was expected.
        problem: String,
    },
}

/// Shorthand for [`Error::InvalidConfig`].
pub(crate) fn invalid(
    filter: &'static str,
    field: &'static str,
    problem: impl Into<String>,
) -> Error {
    Error::InvalidConfig { filter, field, problem: problem.into() }
}

/// Checks that a ratio lies in `[0, 1]`.
pub(crate) fn check_ratio(filter: &'static str, field: &'static str, v: Option<f64>) -> Result<()> {
    match v {
        Some(x) if !(0.0..=1.0).contains(&x) => {
            Err(invalid(filter, field, format!("is {x}, must be within 0..=1")))
        }
        _ => Ok(()),
    }
}
