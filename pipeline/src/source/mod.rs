//! Sources: turning input files into [`Chunk`]s of raw records, and records into documents.
//!
//! Reading is split in two so that one reader thread keeps many cores busy: the reader
//! decompresses and cuts the stream into chunks of whole lines (cheap, sequential), and workers
//! parse the JSON of a chunk in parallel ([`parse_chunk`]). Parquet is decoded by the reader
//! (the decoder is columnar and fast) into ready documents.
//!
//! Problems with the input are data, not failures: each becomes an [`InputError`] naming the
//! file and line (or byte offset), carried with the chunk so it is counted in input order.

pub mod benchmark;
pub mod jsonl;
pub mod parquet;
pub mod web;

use std::sync::Arc;

use crate::config::FileSourceSpec;
use crate::document::Document;
use crate::storage::{self, InputFile};

/// A stable label for each kind of bad input, used as a counter key in `stats.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputErrorKind {
    /// A line that is not a JSON object.
    MalformedJson,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// The text field is absent or null.
    MissingText,
    /// The text field is not a string.
    TextNotString,
    /// A record over `run.max_doc_bytes`.
    TooLarge,
    /// The compressed stream ends early or is corrupt.
    Truncated,
    /// The file has no records.
    EmptyFile,
    /// The path or object does not exist.
    NotFound,
    /// The file or object cannot be read (permissions, network, server error).
    Unreadable,
    /// A Parquet file that cannot be decoded or lacks the text column.
    BadParquet,
    /// The `where` expression failed on this batch.
    WhereFailed,
    /// A WARC record whose header or HTTP message cannot be parsed.
    MalformedRecord,
    /// A WARC response whose payload is not HTML (an image, a PDF, ...).
    NotHtml,
}

impl InputErrorKind {
    /// The snake_case label.
    pub fn label(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::MissingText => "missing_text",
            Self::TextNotString => "text_not_string",
            Self::TooLarge => "too_large",
            Self::Truncated => "truncated",
            Self::EmptyFile => "empty_file",
            Self::NotFound => "not_found",
            Self::Unreadable => "unreadable",
            Self::BadParquet => "bad_parquet",
            Self::WhereFailed => "where_failed",
            Self::MalformedRecord => "malformed_record",
            Self::NotHtml => "not_html",
        }
    }
}

/// One bad input record or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// What went wrong.
    pub kind: InputErrorKind,
    /// File or URL.
    pub file: Arc<str>,
    /// 1-based line (JSONL) or row (Parquet), when known.
    pub line: Option<u64>,
    /// Byte offset of the record in the (decompressed) stream, when known.
    pub offset: Option<u64>,
    /// Details.
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " (byte {offset})")?;
        }
        write!(f, ": {}: {}", self.kind.label(), self.message)
    }
}

/// A batch of raw records from one file.
#[derive(Debug)]
pub struct Chunk {
    /// Index of the source in the pipeline.
    pub source: usize,
    /// The file it came from.
    pub file: Arc<str>,
    /// The records.
    pub body: ChunkBody,
    /// Problems found while reading (not parsing) this part of the file.
    pub errors: Vec<InputError>,
    /// Compressed bytes consumed from storage since the previous chunk (for progress).
    pub raw_bytes: u64,
}

/// Records of a chunk.
#[derive(Debug)]
pub enum ChunkBody {
    /// Whole JSON lines, back to back; `lines[i]` is (start, end, line number, stream offset).
    JsonLines {
        /// The bytes of the lines, without newlines.
        data: Vec<u8>,
        /// Per line: range in `data`, 1-based line number, byte offset in the stream.
        lines: Vec<LineRef>,
    },
    /// Decoded documents (Parquet).
    Docs(Vec<Document>),
}

/// Where a line sits in a chunk and in its file.
#[derive(Debug, Clone, Copy)]
pub struct LineRef {
    /// Start in the chunk's data.
    pub start: u32,
    /// End (exclusive) in the chunk's data.
    pub end: u32,
    /// 1-based line number in the file; 0 when unknown (a byte range past the file's start).
    pub line: u64,
    /// Byte offset of the line in the (decompressed) file.
    pub offset: u64,
}

/// Limits for cutting chunks.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    /// Most records per chunk.
    pub docs: usize,
    /// Most bytes per chunk.
    pub bytes: usize,
    /// Records larger than this are skipped as [`InputErrorKind::TooLarge`].
    pub max_record: usize,
}

/// What a source's files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines.
    Jsonl,
    /// Apache Parquet.
    Parquet,
    /// Web crawl records or pages.
    Web(web::WebFormat),
}

impl Format {
    /// The format of a source.
    pub fn of(spec: &crate::config::SourceSpec) -> Self {
        use crate::config::SourceSpec;
        match spec {
            SourceSpec::Jsonl(_) => Format::Jsonl,
            SourceSpec::Parquet(_) => Format::Parquet,
            SourceSpec::Warc(_) => Format::Web(web::WebFormat::Warc),
            SourceSpec::Wet(_) => Format::Web(web::WebFormat::Wet),
            SourceSpec::Html(_) => Format::Web(web::WebFormat::Html),
        }
    }

    /// The format a file name suggests (`.parquet`, `.warc*`, `.wet*`, `.html`/`.htm`, else
    /// JSON Lines), for commands that read files without a pipeline file.
    pub fn from_name(url: &str) -> Self {
        let name = url.rsplit('/').next().unwrap_or(url);
        if name.ends_with(".parquet") {
            Format::Parquet
        } else if name.contains(".warc") {
            Format::Web(web::WebFormat::Warc)
        } else if name.contains(".wet") {
            Format::Web(web::WebFormat::Wet)
        } else if name.contains(".html") || name.contains(".htm") {
            Format::Web(web::WebFormat::Html)
        } else {
            Format::Jsonl
        }
    }
}

/// Reads one input file of a source, handing each chunk to `emit`; stops early when `emit`
/// returns `false`. Never fails: problems become [`InputError`]s in the emitted chunks.
pub fn read_file(
    source: usize,
    spec: &FileSourceSpec,
    format: Format,
    file: &InputFile,
    limits: ChunkLimits,
    emit: &mut dyn FnMut(Chunk) -> bool,
) {
    let name: Arc<str> = file.url.as_str().into();
    let raw = match storage::open_span(file, limits.max_record as u64) {
        Ok(r) => r,
        Err(e) => {
            let kind = match e {
                storage::StorageError::NotFound { .. } => InputErrorKind::NotFound,
                _ => InputErrorKind::Unreadable,
            };
            let error = InputError {
                kind,
                file: name.clone(),
                line: None,
                offset: None,
                message: e.to_string(),
            };
            emit(Chunk {
                source,
                file: name,
                body: ChunkBody::Docs(vec![]),
                errors: vec![error],
                raw_bytes: file.size,
            });
            return;
        }
    };
    match format {
        Format::Parquet => parquet::read(source, spec, file, name, limits, emit),
        Format::Jsonl => {
            let span = match file.span {
                Some(storage::Span::Bytes { start, end }) => Some((start, end)),
                _ => None,
            };
            jsonl::read(source, raw, name, file.size, span, limits, emit);
        }
        Format::Web(web) => web::read(source, spec, web, raw, name, limits, emit),
    }
}

/// Turns a chunk into documents, plus the errors of records that could not be parsed.
pub fn parse_chunk(spec: &FileSourceSpec, chunk: Chunk) -> (Vec<Document>, Vec<InputError>) {
    let mut errors = chunk.errors;
    let docs = match chunk.body {
        ChunkBody::Docs(d) => d,
        ChunkBody::JsonLines { data, lines } => {
            jsonl::parse_lines(spec, &chunk.file, &data, &lines, &mut errors)
        }
    };
    (docs, errors)
}

/// Reads every document of `spec.paths` in order, single-threaded, calling `f` until it returns
/// `false`; bad records are logged and counted, not fatal. For commands that sample a corpus
/// (training a tokenizer or a classifier), not for pipeline runs.
///
/// # Errors
/// A path cannot be listed.
pub fn for_each_document(
    spec: &FileSourceSpec,
    mut f: impl FnMut(Document) -> bool,
) -> Result<u64, storage::StorageError> {
    let limits = ChunkLimits { docs: 1024, bytes: 8 << 20, max_record: 64 << 20 };
    let mut errors = 0u64;
    for pattern in &spec.paths {
        for file in storage::list_inputs(pattern, &spec.storage)? {
            let mut going = true;
            read_file(0, spec, Format::from_name(&file.url), &file, limits, &mut |chunk| {
                let (docs, errs) = parse_chunk(spec, chunk);
                for e in &errs {
                    tracing::warn!("bad input: {e}");
                }
                errors += errs.len() as u64;
                for d in docs {
                    if !f(d) {
                        going = false;
                        return false;
                    }
                }
                true
            });
            if !going {
                return Ok(errors);
            }
        }
    }
    Ok(errors)
}
