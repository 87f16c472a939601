//! Writing and reading model files whole: durably (a `.tmp` sibling, fsync, rename), with the
//! path in every error.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to `path` durably: a `.tmp` sibling, fsync, rename.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written or renamed.
pub(crate) fn save(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads `path` and parses it with `parse`, naming the file in a format error.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; `parse`'s errors, with the path prefixed.
pub(crate) fn load<T>(path: &Path, parse: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    parse(&bytes).map_err(|e| match e {
        Error::Format { context, reason } => Error::Format { context: format!("{}: {context}", path.display()), reason },
        other => other,
    })
}
