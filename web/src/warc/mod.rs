//! Streaming WARC 1.0/1.1 reader.
//!
//! [`WarcReader`] reads records one at a time from any [`std::io::BufRead`] holding a
//! decompressed WARC stream; [`open_warc`] and [`open_warc_reader`] pick the decompressor from
//! the file name (`.warc`, `.warc.gz`, `.warc.zst`, `.wet`, `.wet.gz`, ...) or, failing that,
//! from the magic bytes.
//!
//! Memory is bounded by [`WarcOptions::max_record_bytes`]: a larger record is skipped by reading
//! through it in small pieces, never buffering it.
//!
//! Error handling ([`crate::Error::is_recoverable`] tells the classes apart):
//! - a malformed header block yields [`crate::Error::MalformedHeader`], then the reader skips to
//!   the next line starting with `WARC/`;
//! - a record cut short by the end of the stream yields [`crate::Error::Truncated`], then `None`;
//! - in a `.warc.gz` file, a corrupt gzip member yields [`crate::Error::CorruptGzip`] naming its
//!   compressed offset; the reader then scans forward for the next gzip member header
//!   (`1f 8b 08`) and goes on from there, so later records are still read (Common Crawl writes
//!   one member per record, so usually only the damaged record is lost);
//! - an I/O error yields [`crate::Error::Io`] and the iterator ends.

mod http;
mod open;
mod reader;

pub use http::{HttpResponse, parse_http_response};
pub use open::{Compression, open_warc, open_warc_reader};
pub use reader::WarcReader;

/// The `WARC-Type` of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `response`: usually an HTTP response.
    Response,
    /// `resource`: a resource without the protocol envelope.
    Resource,
    /// `conversion`: e.g. the plain text of a WET file.
    Conversion,
    /// `request`: the HTTP request.
    Request,
    /// `metadata`.
    Metadata,
    /// `warcinfo`: describes the file.
    Warcinfo,
    /// `revisit`: a deduplicated capture.
    Revisit,
    /// Any other type, as written.
    Other(String),
}

impl RecordKind {
    /// Parses a `WARC-Type` value (case-insensitively).
    pub fn from_name(name: &str) -> RecordKind {
        let lower = name.trim().to_ascii_lowercase();
        match lower.as_str() {
            "response" => RecordKind::Response,
            "resource" => RecordKind::Resource,
            "conversion" => RecordKind::Conversion,
            "request" => RecordKind::Request,
            "metadata" => RecordKind::Metadata,
            "warcinfo" => RecordKind::Warcinfo,
            "revisit" => RecordKind::Revisit,
            _ => RecordKind::Other(lower),
        }
    }
}

/// One WARC record with its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `WARC-Type`.
    pub kind: RecordKind,
    /// `WARC-Target-URI`.
    pub target_uri: Option<String>,
    /// `WARC-Date`, as written.
    pub date: Option<String>,
    /// `WARC-Record-ID`, as written (with its angle brackets).
    pub record_id: Option<String>,
    /// The WARC `Content-Type` of the block (e.g. `application/http; msgtype=response`).
    pub content_type: Option<String>,
    /// Where the record starts: the compressed offset of its gzip member when the stream is a
    /// member-per-record `.warc.gz` read through [`open_warc`], else the byte offset in the
    /// decompressed stream.
    pub offset: u64,
    /// The record block (for `response` records, the whole HTTP response).
    pub payload: Vec<u8>,
}

impl Record {
    /// Parses the block as an HTTP response, decoding chunked transfer coding and gzip/deflate
    /// content coding, with the decoded body limited to [`DEFAULT_MAX_BODY_BYTES`].
    ///
    /// # Errors
    /// [`crate::Error::Http`] when the block is not an HTTP response or its body cannot be
    /// decoded.
    pub fn http(&self) -> crate::Result<HttpResponse<'_>> {
        parse_http_response(&self.payload, DEFAULT_MAX_BODY_BYTES)
    }
}

/// Largest decoded HTTP body [`Record::http`] produces (guards against compression bombs).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// What [`WarcReader`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarcOptions {
    /// Record kinds to yield; others are skipped silently. Empty means every kind.
    pub kinds: Vec<RecordKind>,
    /// Largest record block (bytes) to read; a larger one is skipped without buffering it and
    /// reported as [`crate::Error::Skipped`].
    pub max_record_bytes: u64,
    /// Yield only `response` records whose HTTP content type is HTML (`text/html`,
    /// `application/xhtml+xml`; when the type is absent, a body starting with `<`); others are
    /// reported as [`crate::Error::Skipped`] with [`crate::SkipReason::NotHtml`].
    pub html_only: bool,
}

impl Default for WarcOptions {
    fn default() -> Self {
        WarcOptions {
            kinds: vec![RecordKind::Response],
            max_record_bytes: 16 << 20,
            html_only: true,
        }
    }
}

impl WarcOptions {
    /// Options for Common Crawl WET files: `conversion` records (plain text).
    pub fn wet() -> Self {
        WarcOptions { kinds: vec![RecordKind::Conversion], ..WarcOptions::default() }
    }

    /// Options yielding every record, whatever its kind or content type.
    pub fn all() -> Self {
        WarcOptions { kinds: Vec::new(), html_only: false, ..WarcOptions::default() }
    }

    pub(crate) fn wants(&self, kind: &RecordKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(kind)
    }
}
