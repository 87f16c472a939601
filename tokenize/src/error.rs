//! The crate's error type.
//!
//! Every variant carries enough context (a path, a token, a text length) for the message alone
//! to say what failed and what to do about it.

use std::io;
use std::path::PathBuf;

/// The error type the Hugging Face `tokenizers` crate returns (a boxed trait object).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong while loading, using, saving or training a tokenizer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tokenizer file could not be read.
    #[error("cannot read tokenizer file {}", path.display())]
    Read {
        /// The file that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// The bytes are not a valid Hugging Face `tokenizer.json`.
    #[error(
        "cannot parse tokenizer {origin}: {source} \
         (expected a Hugging Face tokenizer.json, as written by `tokenizer.save()`)"
    )]
    Parse {
        /// Where the bytes came from: a path, or `<bytes>` for [`Tokenizer::from_bytes`].
        ///
        /// [`Tokenizer::from_bytes`]: crate::Tokenizer::from_bytes
        origin: String,
        /// The error from the `tokenizers` crate.
        source: BoxError,
    },

    /// Encoding a text failed.
    #[error("cannot encode a text of {text_bytes} bytes: {source}")]
    Encode {
        /// Length of the offending text in bytes.
        text_bytes: usize,
        /// The error from the `tokenizers` crate.
        source: BoxError,
    },

    /// Decoding a sequence of ids failed.
    #[error("cannot decode {ids} token ids: {source}")]
    Decode {
        /// Number of ids in the sequence.
        ids: usize,
        /// The error from the `tokenizers` crate.
        source: BoxError,
    },

    /// An id given to `decode` is outside the tokenizer's vocabulary.
    #[error(
        "token id {id} is outside the vocabulary (size {vocab_size}); \
         were these ids produced by a different tokenizer?"
    )]
    UnknownId {
        /// The first offending id.
        id: u32,
        /// The tokenizer's vocabulary size.
        vocab_size: usize,
    },

    /// The tokenizer could not be serialized to JSON.
    #[error("cannot serialize the tokenizer to JSON: {source}")]
    Serialize {
        /// The error from the `tokenizers` crate.
        source: BoxError,
    },

    /// The tokenizer file could not be written.
    #[error("cannot write tokenizer file {}: {source}", path.display())]
    Write {
        /// The file that was being written (the final path, not the temporary one).
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// An end-of-sequence id was requested but the tokenizer has none.
    #[error(
        "the tokenizer has no end-of-sequence token (none of {candidates} is in its \
         vocabulary); set `eos_token` to one of its tokens, or disable eos"
    )]
    NoEosToken {
        /// The token strings that were looked for, comma separated.
        candidates: String,
    },

    /// A beginning-of-sequence id was requested but the tokenizer has none.
    #[error(
        "the tokenizer has no beginning-of-sequence token (none of {candidates} is in its \
         vocabulary); set `bos_token` to one of its tokens, or disable bos"
    )]
    NoBosToken {
        /// The token strings that were looked for, comma separated.
        candidates: String,
    },

    /// A special token given by name is not in the vocabulary.
    #[error(
        "{role} token {token:?} is not in the tokenizer vocabulary; \
         pick a token the tokenizer knows (e.g. one of its added special tokens)"
    )]
    UnknownToken {
        /// What the token was meant to be: `eos` or `bos`.
        role: &'static str,
        /// The token string that was not found.
        token: String,
    },

    /// The training configuration cannot produce a usable tokenizer.
    #[error("invalid BPE training config: {reason}")]
    InvalidConfig {
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// BPE training failed.
    #[error("BPE training failed: {source}")]
    Train {
        /// The error from the `tokenizers` crate.
        source: BoxError,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_context() {
        let err = Error::Read {
            path: PathBuf::from("/nope/tokenizer.json"),
            source: io::Error::new(io::ErrorKind::NotFound, "gone"),
        };
        assert!(err.to_string().contains("/nope/tokenizer.json"));

        let err = Error::NoEosToken { candidates: "</s>".into() };
        let msg = err.to_string();
        assert!(msg.contains("eos_token") && msg.contains("disable eos"), "{msg}");

        let err = Error::UnknownToken { role: "eos", token: "<nope>".into() };
        assert!(err.to_string().contains("<nope>"));
    }

    #[test]
    fn boxed_source_is_exposed() {
        use std::error::Error as _;
        let err = Error::Serialize { source: "boom".into() };
        assert_eq!(err.source().map(ToString::to_string).as_deref(), Some("boom"));
    }
}
