//! Writing and reading model files whole: durably (a `.tmp` sibling, fsync, rename), with the
//! path in every error; and where tokenmill keeps its caches.

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
    let bytes = std::fs::read(path)
        .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    parse(&bytes).map_err(|e| match e {
        Error::Format { context, reason } => {
            Error::Format { context: format!("{}: {context}", path.display()), reason }
        }
        other => other,
    })
}

/// Where tokenmill caches `what` (tokenizers, the CUDA emulator's library):
/// `$TOKENMILL_CACHE_DIR/what`, else `$XDG_CACHE_HOME/tokenmill/what`, else
/// `~/.cache/tokenmill/what`; `None` with `TOKENMILL_CACHE_DIR=off` or no home.
pub fn cache_dir(what: &str) -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let base = match var("TOKENMILL_CACHE_DIR") {
        Some(v) if v == "off" => return None,
        Some(v) => PathBuf::from(v),
        // The XDG spec says to ignore a relative XDG_CACHE_HOME.
        None => var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))?
            .join("tokenmill"),
    };
    Some(base.join(what))
}
