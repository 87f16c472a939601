//! The crate's error type.

use std::io;
use std::path::{Path, PathBuf};

/// Result alias used throughout this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while hashing, sorting, clustering or reading dedup artifacts.
///
/// Each variant names the file (and where useful the byte offset or document id) involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("create", "read", "rename", ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A dedup artifact (signatures, edges, runs, index) does not follow its format: wrong
    /// magic, version or record size, truncated, or its checksum does not match.
    #[error("{}: at byte {offset}: {message}; delete the file and rerun the phase that wrote it", path.display())]
    Format {
        /// The malformed file.
        path: PathBuf,
        /// Byte offset of the problem within the file.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid dedup configuration: {0}")]
    Config(String),
    /// Documents were added to a split, or looked up in a [`RemoveCursor`](crate::phases::RemoveCursor),
    /// out of order.
    #[error(
        "{}: document id {id} came after id {previous}; ids must increase within a split and must not decrease between removal-cursor lookups",
        path.display()
    )]
    IdOrder {
        /// The signature file being written, or the removal list being read.
        path: PathBuf,
        /// The offending id.
        id: u64,
        /// The id added before it.
        previous: u64,
    },
    /// Artifacts of one run were written with different configurations (or a phase's input
    /// is missing).
    #[error("{}: {message}", path.display())]
    Mismatch {
        /// The file that does not match.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
}

impl Error {
    /// Builds a closure that wraps an [`io::Error`] with an action and a path, for `map_err`.
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> Error + 'a {
        move |source| Error::Io { action, path: path.to_path_buf(), source }
    }

    /// A [`Error::Format`] error.
    pub(crate) fn format(path: &Path, offset: u64, message: impl Into<String>) -> Error {
        Error::Format { path: path.to_path_buf(), offset, message: message.into() }
    }
}
