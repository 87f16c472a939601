//! The crate's error type.
//!
//! Errors are split into two classes, see [`Error::is_recoverable`]: a recoverable error concerns
//! one record (it is counted, the record is skipped and reading goes on); any other error means
//! the stream cannot be read further.

use std::path::PathBuf;

/// Why a well-formed record was not yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The record block is larger than [`crate::warc::WarcOptions::max_record_bytes`].
    TooLarge {
        /// The record's Content-Length.
        length: u64,
    },
    /// A `response` record whose HTTP content type is not HTML.
    NotHtml {
        /// The HTTP Content-Type as written (empty when absent).
        content_type: String,
    },
    /// A `response` record whose block is not a parsable HTTP response.
    BadHttp {
        /// What was wrong.
        reason: String,
    },
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the underlying stream failed; the stream cannot be read further.
    #[error("I/O error at byte {offset}: {source}")]
    Io {
        /// Byte offset in the (decompressed) stream where the read failed.
        offset: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A WARC header block could not be parsed; the reader skips to the next `WARC/` line.
    #[error("malformed WARC header in record {record} at byte {offset}: {reason}")]
    MalformedHeader {
        /// Byte offset of the header block.
        offset: u64,
        /// Number of the record in the stream (0-based, counting every header block seen).
        record: u64,
        /// What was wrong.
        reason: String,
    },
    /// The stream ended inside a record; nothing follows this error.
    #[error(
        "truncated record {record} at byte {offset}: expected {expected} block bytes, got {got}"
    )]
    Truncated {
        /// Byte offset of the record.
        offset: u64,
        /// Number of the record in the stream.
        record: u64,
        /// The declared Content-Length.
        expected: u64,
        /// The bytes that were present.
        got: u64,
    },
    /// A gzip member could not be decompressed; the reader resumes at the next member header.
    #[error("corrupt gzip member at compressed byte {compressed_offset}: {message}")]
    CorruptGzip {
        /// Offset of the corrupt member in the compressed file.
        compressed_offset: u64,
        /// The decompressor's message.
        message: String,
    },
    /// A well-formed record was skipped (too large, not HTML, ...); count it and go on.
    #[error("record {record} at byte {offset} skipped: {reason:?}")]
    Skipped {
        /// Byte offset of the record.
        offset: u64,
        /// Number of the record in the stream.
        record: u64,
        /// Why it was skipped.
        reason: SkipReason,
    },
    /// An HTTP message inside a record could not be parsed.
    #[error("bad HTTP message: {reason}")]
    Http {
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// Whether reading can go on after this error (the error concerns one record only).
    ///
    /// [`Error::Io`], [`Error::Open`] and [`Error::Truncated`] end the stream; every other
    /// error is recoverable.
    pub fn is_recoverable(&self) -> bool {
        !matches!(self, Error::Io { .. } | Error::Open { .. } | Error::Truncated { .. })
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
