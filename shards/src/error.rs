//! The crate's error type.

use std::io;
use std::path::{Path, PathBuf};

use crate::dtype::DType;

/// Result alias used throughout this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while writing, reading or verifying shards.
///
/// Each variant carries enough context (path, shard, document, byte offset) to find the
/// problem without a debugger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("create", "write", "rename", ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A shard name or prefix cannot be used as a file name.
    #[error("invalid shard name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A token id is larger than the shard's dtype can store.
    #[error(
        "shard {shard}: document {document}: token {token} does not fit dtype {dtype} \
         (max {max}); choose a wider dtype (e.g. int32) for this vocabulary"
    )]
    TokenOverflow {
        /// Shard being written.
        shard: String,
        /// Index of the document within the shard.
        document: u64,
        /// The offending token id.
        token: u32,
        /// The shard's dtype.
        dtype: DType,
        /// The largest token id the dtype can store.
        max: u64,
    },
    /// A document has more tokens than a sequence length (`i32`) can describe.
    #[error(
        "shard {shard}: document {document} has {len} tokens, more than the {max} a \
         sequence can hold; split the document"
    )]
    DocumentTooLong {
        /// Shard being written.
        shard: String,
        /// Index of the document within the shard.
        document: u64,
        /// Number of tokens in the document.
        len: usize,
        /// The largest sequence length.
        max: u64,
    },
    /// A `.bin` or `.idx` file does not follow the format.
    #[error("{}: at byte {offset}: {message}", path.display())]
    Format {
        /// The malformed file.
        path: PathBuf,
        /// Byte offset of the problem within the file.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// `manifest.json` is not valid JSON or does not match the manifest schema.
    #[error("{}: invalid manifest: {source}", path.display())]
    ManifestJson {
        /// Path of the manifest.
        path: PathBuf,
        /// The parse error (with line and column).
        source: serde_json::Error,
    },
    /// `manifest.json` parses but describes something this version cannot read.
    #[error("{}: {message}", path.display())]
    UnsupportedManifest {
        /// Path of the manifest.
        path: PathBuf,
        /// What is unsupported.
        message: String,
    },
    /// Datasets that cannot be combined (different dtype or tokenizer), or a shard that
    /// disagrees with its manifest.
    #[error("{}: {message}", path.display())]
    Incompatible {
        /// The dataset directory or shard at fault.
        path: PathBuf,
        /// What differs, and from what.
        message: String,
    },
    /// An argument that cannot be used as given (e.g. a memory budget too small).
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong and what to do.
        message: String,
    },
    /// A sequence index past the end of a dataset.
    #[error("{}: sequence {index} out of range (the shard has {len} sequences)", path.display())]
    IndexOutOfRange {
        /// Path prefix of the shard.
        path: PathBuf,
        /// Requested index.
        index: usize,
        /// Number of sequences.
        len: usize,
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
}

/// Checks that `name` can be used as a single file name component.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name == "." || name == ".." {
        "refers to a directory"
    } else if name.contains(['/', '\\', '\0']) {
        "contains a path separator or NUL"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName { name: name.to_string(), reason })
}
