//! What kind of failure stopped a run or a command: set where the failure arises, carried to
//! the exit code (`cli::Exit`) and into `stats.json` (`"kind"`), never read back from a
//! message's wording.

use serde::{Deserialize, Serialize};

/// The kinds of failure, each a stable snake_case label (in `stats.json` and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A malformed input record or file under `on_error = "fail"` (exit 3).
    BadInput,
    /// The pipeline file, the arguments or a setting they name is unusable (exit 2).
    Config,
    /// Reading, writing or listing storage failed (exit 1).
    Io,
    /// A stage failed on a batch, e.g. a model that cannot score (exit 1).
    Stage,
    /// A sink could not write or commit its output (exit 1).
    Sink,
    /// Anything else (exit 1).
    #[default]
    Other,
}

impl FailureKind {
    /// The stable label.
    pub fn label(self) -> &'static str {
        match self {
            Self::BadInput => "bad_input",
            Self::Config => "config",
            Self::Io => "io",
            Self::Stage => "stage",
            Self::Sink => "sink",
            Self::Other => "other",
        }
    }
}

/// A failure with its kind; an `anyhow` chain that holds one keeps the kind for the exit code
/// (see [`kind_of`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// What kind of failure it is.
    pub kind: FailureKind,
    /// What failed, where, and what to do.
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

/// The kind of the first [`Failure`] in an error's chain, if any.
pub fn kind_of(e: &anyhow::Error) -> Option<FailureKind> {
    e.chain().find_map(|c| c.downcast_ref::<Failure>()).map(|f| f.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_survives_context() {
        let e =
            anyhow::Error::from(Failure::new(FailureKind::BadInput, "x.jsonl line 3: not JSON"))
                .context("reading inputs");
        assert_eq!(kind_of(&e), Some(FailureKind::BadInput));
        assert_eq!(kind_of(&anyhow::anyhow!("plain")), None);
        assert_eq!(
            serde_json::to_string(&FailureKind::BadInput).ok().as_deref(),
            Some("\"bad_input\"")
        );
        assert_eq!(FailureKind::BadInput.label(), "bad_input");
    }
}
