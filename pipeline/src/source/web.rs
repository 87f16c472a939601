//! Web sources: `type = "warc"` (HTTP responses of a crawl, HTML decoded to UTF-8), `type =
//! "wet"` (Common Crawl's extracted text) and `type = "html"` (one page per file).
//!
//! A WARC document's text is the page's HTML (an `html_extract` stage turns it into its main
//! text); its metadata holds `url`, `date` (the WARC date of the capture), `content_type` (the
//! HTTP one), `warc_record_id`, and `encoding` with `encoding_source` (`bom`, `http`, `meta` or
//! `detected`). A WET document's text is the record's text. Damaged records (a malformed
//! header, a corrupt gzip member, a truncated file), payloads that are not HTML and records over
//! `run.max_doc_bytes` are bad input: counted, logged with the record's byte offset, skipped.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use tokenmill_web::encoding::{Decoded, EncodingSource, decode_html, decode_html_with_url};
use tokenmill_web::warc::{Record, RecordKind, WarcOptions, open_warc_reader, parse_http_response};
use tokenmill_web::{Error as WebError, SkipReason};

use super::jsonl::{Compression, Counting, decompress};
use super::{Chunk, ChunkBody, ChunkLimits, InputError, InputErrorKind};
use crate::config::FileSourceSpec;
use crate::document::Document;

/// Which web format a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebFormat {
    /// WARC `response` (and optionally `resource`) records holding HTML.
    Warc,
    /// WET `conversion` records holding text.
    Wet,
    /// One HTML page per file.
    Html,
}

/// Collects documents and errors into chunks of at most `limits.docs` documents or
/// `limits.bytes` bytes of text.
struct Chunker<'e> {
    source: usize,
    name: Arc<str>,
    limits: ChunkLimits,
    consumed: Arc<AtomicU64>,
    reported: u64,
    docs: Vec<Document>,
    bytes: usize,
    errors: Vec<InputError>,
    emit: &'e mut dyn FnMut(Chunk) -> bool,
}

impl Chunker<'_> {
    fn error(&mut self, kind: InputErrorKind, offset: Option<u64>, message: String) {
        self.errors.push(InputError { kind, file: self.name.clone(), line: None, offset, message });
    }

    /// Adds a document; returns `false` when the consumer wants no more.
    fn push(&mut self, doc: Document) -> bool {
        self.bytes += doc.text.len();
        self.docs.push(doc);
        if self.docs.len() >= self.limits.docs || self.bytes >= self.limits.bytes {
            self.flush()
        } else {
            true
        }
    }

    fn flush(&mut self) -> bool {
        let consumed = self.consumed.load(Ordering::Relaxed);
        let chunk = Chunk {
            source: self.source,
            file: self.name.clone(),
            body: ChunkBody::Docs(std::mem::take(&mut self.docs)),
            errors: std::mem::take(&mut self.errors),
            raw_bytes: consumed - self.reported,
        };
        self.reported = consumed;
        self.bytes = 0;
        (self.emit)(chunk)
    }
}

/// Reads one web input file into chunks of documents (see the module docs).
pub(super) fn read(
    source: usize,
    spec: &FileSourceSpec,
    format: WebFormat,
    raw: Box<dyn Read + Send>,
    name: Arc<str>,
    limits: ChunkLimits,
    emit: &mut dyn FnMut(Chunk) -> bool,
) {
    let consumed = Arc::new(AtomicU64::new(0));
    let raw: Box<dyn Read + Send> = Box::new(Counting { inner: raw, count: consumed.clone() });
    let mut out = Chunker {
        source,
        name,
        limits,
        consumed,
        reported: 0,
        docs: Vec::new(),
        bytes: 0,
        errors: Vec::new(),
        emit,
    };
    let going = match format {
        WebFormat::Html => read_page(raw, &mut out),
        WebFormat::Warc | WebFormat::Wet => read_records(spec, format, raw, &mut out),
    };
    if going {
        // Always, so that every byte read is reported (records after the last full chunk).
        out.flush();
    }
}

/// The WARC reader's options for a source: the record types it reads and the size limit.
fn options(spec: &FileSourceSpec, format: WebFormat, limits: ChunkLimits) -> WarcOptions {
    let kinds = match (&spec.records, format) {
        (Some(names), _) => names.iter().map(|n| RecordKind::from_name(n)).collect(),
        (None, WebFormat::Wet) => vec![RecordKind::Conversion],
        (None, _) => vec![RecordKind::Response],
    };
    WarcOptions {
        kinds,
        max_record_bytes: limits.max_record as u64,
        html_only: format == WebFormat::Warc,
    }
}

fn read_records(
    spec: &FileSourceSpec,
    format: WebFormat,
    raw: Box<dyn Read + Send>,
    out: &mut Chunker<'_>,
) -> bool {
    // open_warc_reader buffers the stream itself.
    let reader = match open_warc_reader(raw, &out.name, options(spec, format, out.limits)) {
        Ok(r) => r,
        Err(e) => {
            out.error(InputErrorKind::Unreadable, None, e.to_string());
            return true;
        }
    };
    for item in reader {
        let record = match item {
            Ok(r) => r,
            Err(e) => {
                let (kind, offset) = error_kind(&e);
                out.error(kind, offset, e.to_string());
                if e.is_recoverable() {
                    continue;
                }
                break;
            }
        };
        let doc = match record.kind {
            RecordKind::Conversion => text_document(&record),
            _ => html_document(&record, out.limits.max_record),
        };
        match doc {
            Ok(doc) => {
                if !out.push(doc) {
                    return false;
                }
            }
            Err((kind, message)) => out.error(kind, Some(record.offset), message),
        }
    }
    true
}

/// The input error kind of a reader error, and the record's offset when it has one.
fn error_kind(e: &WebError) -> (InputErrorKind, Option<u64>) {
    match e {
        // A store failing mid-object is read again by the next run; a damaged stream is not.
        WebError::Io { offset, source } if crate::storage::is_transport_error(source) => {
            (InputErrorKind::Unreadable, Some(*offset))
        }
        WebError::Io { offset, .. } => (InputErrorKind::Truncated, Some(*offset)),
        WebError::Open { .. } => (InputErrorKind::Unreadable, None),
        WebError::MalformedHeader { offset, .. } => {
            (InputErrorKind::MalformedRecord, Some(*offset))
        }
        WebError::Truncated { offset, .. } => (InputErrorKind::Truncated, Some(*offset)),
        WebError::CorruptGzip { compressed_offset, .. } => {
            (InputErrorKind::Truncated, Some(*compressed_offset))
        }
        WebError::Skipped { offset, reason: SkipReason::TooLarge { .. }, .. } => {
            (InputErrorKind::TooLarge, Some(*offset))
        }
        WebError::Skipped { offset, reason: SkipReason::NotHtml { .. }, .. } => {
            (InputErrorKind::NotHtml, Some(*offset))
        }
        WebError::Skipped { offset, .. } => (InputErrorKind::MalformedRecord, Some(*offset)),
        WebError::Http { .. } => (InputErrorKind::MalformedRecord, None),
    }
}

fn id_of(record: &Record) -> String {
    match &record.record_id {
        Some(id) => id.trim_start_matches('<').trim_end_matches('>').to_string(),
        // Unique within the file; the URL tells files apart.
        None => format!("{}@{}", record.target_uri.as_deref().unwrap_or("record"), record.offset),
    }
}

fn base_metadata(record: &Record) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(url) = &record.target_uri {
        m.insert("url".into(), Value::String(url.clone()));
    }
    if let Some(date) = &record.date {
        m.insert("date".into(), Value::String(date.clone()));
    }
    if let Some(id) = &record.record_id {
        m.insert("warc_record_id".into(), Value::String(id.clone()));
    }
    m
}

fn encoding_metadata(m: &mut Map<String, Value>, decoded: &Decoded) {
    let source = match decoded.source {
        EncodingSource::Bom => "bom",
        EncodingSource::Http => "http",
        EncodingSource::Meta => "meta",
        EncodingSource::Detected => "detected",
    };
    m.insert("encoding".into(), Value::String(decoded.encoding.into()));
    m.insert("encoding_source".into(), Value::String(source.into()));
}

/// A `response` (HTTP) or `resource` record's page, decoded to UTF-8.
fn html_document(record: &Record, max_body: usize) -> Result<Document, (InputErrorKind, String)> {
    let mut metadata = base_metadata(record);
    let decoded = if record.kind == RecordKind::Response {
        // Decoded (gzip, chunked) bodies are held to the same limit as records.
        let http = parse_http_response(&record.payload, max_body).map_err(|e| match e {
            WebError::Http { reason } if reason.starts_with("decoded body larger") => {
                (InputErrorKind::TooLarge, format!("record {}: {reason}", id_of(record)))
            }
            e => (InputErrorKind::MalformedRecord, format!("record {}: {e}", id_of(record))),
        })?;
        if let Some(ct) = &http.content_type {
            metadata.insert("content_type".into(), Value::String(ct.clone()));
        }
        decode_html_with_url(&http.body, http.charset.as_deref(), record.target_uri.as_deref())
    } else {
        if let Some(ct) = &record.content_type {
            metadata.insert("content_type".into(), Value::String(ct.clone()));
        }
        decode_html_with_url(&record.payload, None, record.target_uri.as_deref())
    };
    encoding_metadata(&mut metadata, &decoded);
    let mut doc = Document::new(id_of(record), decoded.text);
    doc.metadata = metadata;
    Ok(doc)
}

/// A `conversion` (WET) record's text.
fn text_document(record: &Record) -> Result<Document, (InputErrorKind, String)> {
    let text = std::str::from_utf8(&record.payload)
        .map_err(|e| (InputErrorKind::InvalidUtf8, format!("record {}: {e}", id_of(record))))?
        .trim_end()
        .to_string();
    let mut doc = Document::new(id_of(record), text);
    doc.metadata = base_metadata(record);
    Ok(doc)
}

/// One HTML page per file (plain, `.gz` or `.zst`); its id is the file name without extensions.
fn read_page(raw: Box<dyn Read + Send>, out: &mut Chunker<'_>) -> bool {
    let name = out.name.to_string();
    let mut body = Vec::new();
    let read = decompress(raw, Compression::from_name(&name)).and_then(|r| {
        r.take((out.limits.max_record as u64).saturating_add(1)).read_to_end(&mut body)
    });
    if let Err(e) = read {
        let (kind, message) = super::jsonl::read_failure(&e, Compression::from_name(&name));
        out.error(kind, None, message);
        return true;
    }
    if body.len() > out.limits.max_record {
        out.error(
            InputErrorKind::TooLarge,
            None,
            format!("page over run.max_doc_bytes ({} bytes)", out.limits.max_record),
        );
        return true;
    }
    let mut decoded = decode_html(&body, None);
    let mut metadata = Map::new();
    encoding_metadata(&mut metadata, &decoded);
    let mut doc = Document::new(page_id(&name), std::mem::take(&mut decoded.text));
    doc.metadata = metadata;
    out.push(doc)
}

/// `dir/page.html.gz` -> `page`.
fn page_id(url: &str) -> String {
    let file = url.rsplit('/').next().unwrap_or(url);
    file.split('.').next().filter(|s| !s.is_empty()).unwrap_or(file).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_ids_drop_directories_and_extensions() {
        assert_eq!(page_id("s3://b/pages/news-1.html.gz"), "news-1");
        assert_eq!(page_id("pages/index.htm"), "index");
        assert_eq!(page_id(".hidden.html"), ".hidden.html");
    }
}
