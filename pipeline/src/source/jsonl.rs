//! JSON Lines: decompress by extension (`.gz`, `.zst`), cut into chunks of whole lines, parse.
//!
//! Each line must be a JSON object. The text field must be a string; the id field may be a
//! string or a number; every other field (or those listed in `metadata_fields`) is kept as
//! metadata. Blank lines are skipped. A line over `max_doc_bytes` is skipped without being held
//! in memory, so one giant record cannot exhaust memory.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{Chunk, ChunkBody, ChunkLimits, InputError, InputErrorKind, LineRef};
use crate::config::FileSourceSpec;
use crate::document::Document;

/// Compression of a file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (`.gz`), including multi-member files.
    Gzip,
    /// Zstandard (`.zst`, `.zstd`).
    Zstd,
}

impl Compression {
    /// Guesses the compression from a file name.
    pub fn from_name(name: &str) -> Self {
        if name.ends_with(".zst") || name.ends_with(".zstd") {
            Compression::Zstd
        } else if name.ends_with(".gz") {
            Compression::Gzip
        } else {
            Compression::None
        }
    }
}

/// Counts bytes read from the underlying (compressed) stream.
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a decompressing reader over raw bytes.
///
/// # Errors
/// The decompressor cannot start (e.g. a zstd context cannot be allocated).
pub fn decompress<'a>(
    raw: Box<dyn Read + Send + 'a>,
    compression: Compression,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match compression {
        Compression::None => raw,
        Compression::Gzip => {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, raw)))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw)?),
    })
}

/// Positions a byte-range unit's reader, which starts at the byte before the range: a newline
/// there means the range starts a line; otherwise the line under way belongs to the range
/// before and is skipped. Returns the file offset of the first line of the range.
fn enter_span(reader: &mut impl BufRead, start: u64, end: u64) -> io::Result<u64> {
    let mut skipped = Vec::new();
    Ok(match read_line(reader, &mut skipped, 0)? {
        Line::Complete(n) | Line::TooLong(n) => start - 1 + n,
        Line::Eof => end,
    })
}

/// What a failed read means: the store failing mid-object (after its retries) is not the
/// object's fault and it is read again by the next run; anything else is a damaged stream.
pub(super) fn read_failure(e: &io::Error, compression: Compression) -> (InputErrorKind, String) {
    if crate::storage::is_transport_error(e) {
        return (InputErrorKind::Unreadable, format!("reading failed: {e}"));
    }
    let what = match compression {
        Compression::None => "read failed",
        _ => "compressed stream is truncated or corrupt",
    };
    (InputErrorKind::Truncated, format!("{what}: {e}; records before this line were kept"))
}

/// Reads JSON lines into chunks. With `span` (an uncompressed file's byte range, `raw`
/// starting one byte before it), only the lines that start in the range are read; their
/// errors name the byte offset in the file (line numbers are unknown past the first range).
pub(super) fn read(
    source: usize,
    raw: Box<dyn Read + Send>,
    file: Arc<str>,
    size: u64,
    span: Option<(u64, u64)>,
    limits: ChunkLimits,
    emit: &mut dyn FnMut(Chunk) -> bool,
) {
    let counter = Arc::new(AtomicU64::new(0));
    let counted = Box::new(Counting { inner: raw, count: counter.clone() });
    let cap = span.map_or(u64::MAX, |(start, end)| end.saturating_sub(start));
    let mut cut = Cutter::new(source, file.clone(), limits, counter, cap);
    let compression = Compression::from_name(&file);
    let (start, end) = span.unwrap_or((0, u64::MAX));
    let (mut reader, mut offset) = match open(counted, compression, start, end) {
        Ok(opened) => opened,
        Err((at, msg)) => {
            cut.error(InputErrorKind::Unreadable, None, at, msg);
            cut.flush(emit);
            return;
        }
    };
    let (mut line_no, mut records) = (0u64, 0u64);
    // Line numbers are counted from the start of the file only.
    let numbered = start == 0;
    let number = |n: u64| numbered.then_some(n);
    loop {
        if offset >= end {
            break;
        }
        line_no += 1;
        let start = cut.data.len();
        match read_line(&mut reader, &mut cut.data, limits.max_record) {
            Ok(Line::Eof) => break,
            Ok(Line::TooLong(len)) => {
                let msg = format!(
                    "record of {len} bytes exceeds run.max_doc_bytes = {}",
                    limits.max_record
                );
                cut.error(InputErrorKind::TooLarge, number(line_no), Some(offset), msg);
                offset += len;
            }
            Ok(Line::Complete(len)) => {
                let end = trim_end(&cut.data, start);
                if end > start {
                    cut.lines.push(LineRef {
                        start: start as u32,
                        end: end as u32,
                        line: number(line_no).unwrap_or(0),
                        offset,
                    });
                    records += 1;
                } else {
                    cut.data.truncate(start);
                }
                offset += len;
            }
            Err(e) => {
                cut.data.truncate(start);
                let (kind, msg) = read_failure(&e, compression);
                cut.error(kind, number(line_no), Some(offset), msg);
                break;
            }
        }
        if (cut.lines.len() >= limits.docs || cut.data.len() >= limits.bytes) && !cut.flush(emit) {
            return;
        }
    }
    if records == 0 && cut.errors.is_empty() && span.is_none() {
        cut.error(InputErrorKind::EmptyFile, None, None, format!("no records ({size} bytes)"));
    }
    cut.finish(span, emit);
}

/// A file's decompressed, buffered reader.
type LineReader = BufReader<Box<dyn Read + Send>>;

/// The decompressed reader of a file, at the first line that starts at or after `start`
/// (and before `end`), and that line's byte offset; or where and why it cannot be read.
fn open(
    raw: Box<dyn Read + Send>,
    compression: Compression,
    start: u64,
    end: u64,
) -> Result<(LineReader, u64), (Option<u64>, String)> {
    let reader = decompress(raw, compression)
        .map_err(|e| (None, format!("cannot start decompression: {e}")))?;
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    if start == 0 {
        return Ok((reader, 0));
    }
    match enter_span(&mut reader, start, end) {
        Ok(offset) => Ok((reader, offset)),
        Err(e) => Err((Some(start), format!("cannot read from byte {start}: {e}"))),
    }
}

/// Accumulates lines and errors into chunks.
struct Cutter {
    source: usize,
    file: Arc<str>,
    limits: ChunkLimits,
    counter: Arc<AtomicU64>,
    reported: u64,
    /// Most raw bytes to report (a byte range's own size).
    cap: u64,
    data: Vec<u8>,
    lines: Vec<LineRef>,
    errors: Vec<InputError>,
}

impl Cutter {
    fn error(
        &mut self,
        kind: InputErrorKind,
        line: Option<u64>,
        offset: Option<u64>,
        message: String,
    ) {
        self.errors.push(InputError { kind, file: self.file.clone(), line, offset, message });
    }

    /// A cutter for `file`, whose read bytes `counter` counts (at most `cap` reported).
    fn new(
        source: usize,
        file: Arc<str>,
        limits: ChunkLimits,
        counter: Arc<AtomicU64>,
        cap: u64,
    ) -> Self {
        Self {
            source,
            file,
            limits,
            counter,
            reported: 0,
            cap,
            data: Vec::new(),
            lines: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Emits what is left. A range reads a little around itself (the line it starts in, the
    /// line it ends in); it counts its own bytes, so that the ranges of a file add up to the
    /// file.
    fn finish(mut self, span: Option<(u64, u64)>, emit: &mut dyn FnMut(Chunk) -> bool) {
        if let Some((start, end)) = span {
            let own = end.saturating_sub(start);
            self.counter.store(own.max(self.reported), Ordering::Relaxed);
            if self.lines.is_empty() && self.errors.is_empty() && own > self.reported {
                let rest = own - self.reported;
                self.reported = own;
                emit(Chunk {
                    source: self.source,
                    file: self.file.clone(),
                    body: ChunkBody::Docs(vec![]),
                    errors: vec![],
                    raw_bytes: rest,
                });
                return;
            }
        }
        self.flush(emit);
    }

    /// Emits what is buffered; returns `false` when the consumer wants no more.
    fn flush(&mut self, emit: &mut dyn FnMut(Chunk) -> bool) -> bool {
        if self.lines.is_empty() && self.errors.is_empty() {
            return true;
        }
        let total = self.counter.load(Ordering::Relaxed).min(self.cap);
        let data =
            std::mem::replace(&mut self.data, Vec::with_capacity(self.limits.bytes.min(16 << 20)));
        let chunk = Chunk {
            source: self.source,
            file: self.file.clone(),
            body: ChunkBody::JsonLines { data, lines: std::mem::take(&mut self.lines) },
            errors: std::mem::take(&mut self.errors),
            raw_bytes: total - self.reported,
        };
        self.reported = total;
        emit(chunk)
    }
}

fn trim_end(data: &[u8], start: usize) -> usize {
    let mut end = data.len();
    while end > start && matches!(data[end - 1], b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    end
}

enum Line {
    Eof,
    /// A line (without its newline) was appended; the value is the bytes consumed.
    Complete(u64),
    /// The line was longer than the cap and was skipped; the value is its length.
    TooLong(u64),
}

/// Appends the next line to `out` without the newline, holding at most `cap` bytes of it.
fn read_line(r: &mut impl BufRead, out: &mut Vec<u8>, cap: usize) -> io::Result<Line> {
    let start = out.len();
    let (mut consumed, mut overflow) = (0u64, false);
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(match (consumed, overflow) {
                (0, _) => Line::Eof,
                (n, true) => Line::TooLong(n),
                (n, false) => Line::Complete(n),
            });
        }
        let (part, newline) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if !overflow {
            if out.len() - start + part.len() > cap {
                overflow = true;
                out.truncate(start);
            } else {
                out.extend_from_slice(part);
            }
        }
        let n = part.len() + usize::from(newline);
        consumed += n as u64;
        r.consume(n);
        if newline {
            return Ok(if overflow { Line::TooLong(consumed) } else { Line::Complete(consumed) });
        }
    }
}

/// Parses the lines of a chunk into documents; bad lines become errors.
pub(super) fn parse_lines(
    spec: &FileSourceSpec,
    file: &Arc<str>,
    data: &[u8],
    lines: &[LineRef],
    errors: &mut Vec<InputError>,
) -> Vec<Document> {
    let mut docs = Vec::with_capacity(lines.len());
    for l in lines {
        let bytes = &data[l.start as usize..l.end as usize];
        let line = (l.line > 0).then_some(l.line);
        let error = |kind, message: String| InputError {
            kind,
            file: file.clone(),
            line,
            offset: Some(l.offset),
            message,
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = l.offset + e.valid_up_to() as u64;
                errors.push(error(
                    InputErrorKind::InvalidUtf8,
                    format!("invalid UTF-8 at byte {at} of the file"),
                ));
                continue;
            }
        };
        match parse_record(spec, text) {
            Ok(Record { text: Ok(t), id, metadata }) => {
                // Without an id field: FILE:LINE, or FILE@BYTE past the first unit of a file cut
                // into byte ranges (where line numbers are unknown).
                let id = id.unwrap_or_else(|| {
                    if l.line > 0 {
                        format!("{file}:{}", l.line)
                    } else {
                        format!("{file}@{}", l.offset)
                    }
                });
                docs.push(Document {
                    id,
                    text: t,
                    metadata,
                    rejected: None,
                    derived: Default::default(),
                });
            }
            Ok(Record { text: Err(kind), .. }) => {
                let msg = match kind {
                    InputErrorKind::MissingText => format!("no `{}` field", spec.text_field),
                    _ => format!("field `{}` is not a string", spec.text_field),
                };
                errors.push(error(kind, msg));
            }
            Err(e) => errors.push(error(InputErrorKind::MalformedJson, e.to_string())),
        }
    }
    docs
}

struct Record {
    text: Result<String, InputErrorKind>,
    id: Option<String>,
    metadata: Map<String, Value>,
}

fn parse_record(spec: &FileSourceSpec, line: &str) -> serde_json::Result<Record> {
    let mut de = serde_json::Deserializer::from_str(line);
    let record = RecordSeed { spec }.deserialize(&mut de)?;
    de.end()?;
    Ok(record)
}

struct RecordSeed<'a> {
    spec: &'a FileSourceSpec,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Record;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Record, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let spec = self.spec;
        let mut record =
            Record { text: Err(InputErrorKind::MissingText), id: None, metadata: Map::new() };
        while let Some(key) = map.next_key::<String>()? {
            if key == spec.text_field {
                record.text = match map.next_value::<Value>()? {
                    Value::String(s) => Ok(s),
                    Value::Null => Err(InputErrorKind::MissingText),
                    _ => Err(InputErrorKind::TextNotString),
                };
            } else if spec.id_field.as_deref() == Some(key.as_str()) {
                record.id = match map.next_value::<Value>()? {
                    Value::String(s) => Some(s),
                    Value::Null => None,
                    other => Some(other.to_string()),
                };
            } else if spec.metadata_fields.as_ref().is_none_or(|m| m.contains(&key)) {
                let v = map.next_value::<Value>()?;
                record.metadata.insert(key, v);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests;
