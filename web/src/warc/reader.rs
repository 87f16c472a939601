//! The record iterator.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use super::open::{CorruptMember, MemberPosition};
use super::{Record, RecordKind, WarcOptions, http};
use crate::{Error, Result, SkipReason};

/// Longest header line accepted; a longer one makes the header block malformed.
const MAX_LINE: usize = 64 << 10;
/// Most header lines in one block, so a stream of garbage cannot grow a header map forever.
const MAX_HEADER_LINES: usize = 1024;

/// Reads WARC records one at a time from a decompressed stream.
///
/// Iterate it (`Item = Result<Record>`) or call [`WarcReader::next_record`]. After an error
/// for which [`Error::is_recoverable`] is false, the iterator ends.
///
/// ```
/// use tokenmill_web::warc::{WarcOptions, WarcReader};
/// let warc = b"WARC/1.0\r\nWARC-Type: resource\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n";
/// let mut reader = WarcReader::new(&warc[..], WarcOptions::all());
/// let record = reader.next().unwrap().unwrap();
/// assert_eq!(record.payload, b"hello");
/// assert!(reader.next().is_none());
/// ```
pub struct WarcReader<R> {
    inner: R,
    options: WarcOptions,
    /// Bytes consumed from `inner` so far (the decompressed offset).
    pos: u64,
    /// Header blocks seen so far, to name records in errors.
    record_no: u64,
    done: bool,
    /// After a malformed header or a corrupt member: skip lines up to the next `WARC/` line.
    resync: bool,
    /// Set by [`super::open_warc`] for gzip input, to report compressed member offsets.
    members: Option<Arc<MemberPosition>>,
    line: Vec<u8>,
}

impl<R> std::fmt::Debug for WarcReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarcReader")
            .field("options", &self.options)
            .field("pos", &self.pos)
            .field("record_no", &self.record_no)
            .finish()
    }
}

/// What one step of the reader produced.
enum Step {
    Record(Record),
    Skip,
    Eof,
}

/// The fields of a WARC header block this reader keeps.
#[derive(Default)]
struct Header {
    kind: Option<String>,
    target_uri: Option<String>,
    date: Option<String>,
    record_id: Option<String>,
    content_type: Option<String>,
    content_length: Option<String>,
}

impl<R: BufRead> WarcReader<R> {
    /// Creates a reader over a decompressed WARC stream.
    pub fn new(inner: R, options: WarcOptions) -> Self {
        WarcReader {
            inner,
            options,
            pos: 0,
            record_no: 0,
            done: false,
            resync: false,
            members: None,
            line: Vec::new(),
        }
    }

    pub(crate) fn with_members(mut self, members: Arc<MemberPosition>) -> Self {
        self.members = Some(members);
        self
    }

    /// The options this reader was built with.
    pub fn options(&self) -> &WarcOptions {
        &self.options
    }

    /// Returns the next wanted record, a recoverable error about one record, a fatal error, or
    /// `None` at the end of the stream (or after a fatal error).
    pub fn next_record(&mut self) -> Option<Result<Record>> {
        while !self.done {
            match self.step() {
                Ok(Step::Record(record)) => return Some(Ok(record)),
                Ok(Step::Skip) => {}
                Ok(Step::Eof) => self.done = true,
                Err(err) => {
                    if !err.is_recoverable() {
                        self.done = true;
                    }
                    return Some(Err(err));
                }
            }
        }
        None
    }

    fn step(&mut self) -> Result<Step> {
        let start = loop {
            let line_start = self.pos;
            let complete = match self.read_line()? {
                None => return Ok(Step::Eof),
                Some(complete) => complete,
            };
            if complete && is_blank(&self.line) {
                continue;
            }
            if complete && self.line.starts_with(b"WARC/") {
                self.resync = false;
                break line_start;
            }
            if !self.resync {
                self.resync = true;
                self.record_no += 1;
                let reason = "expected a `WARC/` version line".to_string();
                let record = self.record_no - 1;
                return Err(Error::MalformedHeader { offset: line_start, record, reason });
            }
        };
        let offset = self.record_offset(start);
        let record = self.record_no;
        self.record_no += 1;
        let header = self.read_header(start, record)?;
        let Some(length) = header.content_length.as_deref().and_then(|v| v.trim().parse().ok())
        else {
            self.resync = true;
            let reason = "missing or invalid Content-Length".to_string();
            return Err(Error::MalformedHeader { offset, record, reason });
        };
        let kind = RecordKind::from_name(header.kind.as_deref().unwrap_or(""));
        if !self.options.wants(&kind) {
            self.skip(length, offset, record)?;
            return Ok(Step::Skip);
        }
        if length > self.options.max_record_bytes {
            self.skip(length, offset, record)?;
            return Err(Error::Skipped { offset, record, reason: SkipReason::TooLarge { length } });
        }
        let payload = self.read_block(length, offset, record)?;
        if kind == RecordKind::Response
            && self.options.html_only
            && let Some(reason) = http::html_skip_reason(&payload)
        {
            return Err(Error::Skipped { offset, record, reason });
        }
        Ok(Step::Record(Record {
            kind,
            target_uri: header.target_uri.map(strip_angle_brackets),
            date: header.date,
            record_id: header.record_id,
            content_type: header.content_type,
            offset,
            payload,
        }))
    }

    /// Maps a decompressed offset to the compressed offset of its gzip member when the record
    /// starts exactly at a member start.
    fn record_offset(&self, start: u64) -> u64 {
        match &self.members {
            Some(members) => members.compressed_offset_at(start).unwrap_or(start),
            None => start,
        }
    }

    fn read_header(&mut self, offset: u64, record: u64) -> Result<Header> {
        let mut header = Header::default();
        let mut last: Option<usize> = None;
        let mut values: Vec<(String, String)> = Vec::new();
        for _ in 0..MAX_HEADER_LINES {
            let complete = match self.read_line()? {
                Some(complete) => complete,
                None => return Err(Error::Truncated { offset, record, expected: 0, got: 0 }),
            };
            if !complete {
                self.resync = true;
                let reason = "header line too long".to_string();
                return Err(Error::MalformedHeader { offset, record, reason });
            }
            if is_blank(&self.line) {
                for (name, value) in values {
                    header.set(&name, value);
                }
                return Ok(header);
            }
            let text = String::from_utf8_lossy(&self.line);
            let text = text.trim_end_matches(['\r', '\n']);
            if text.starts_with([' ', '\t']) {
                // A folded continuation line (WARC 1.0 allows it): extend the last value.
                if let Some(i) = last {
                    values[i].1.push(' ');
                    values[i].1.push_str(text.trim());
                }
                continue;
            }
            let Some((name, value)) = text.split_once(':') else {
                self.resync = true;
                let reason = format!("header line without a colon: {:.60}", text);
                return Err(Error::MalformedHeader { offset, record, reason });
            };
            values.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            last = Some(values.len() - 1);
        }
        self.resync = true;
        let reason = "too many header lines".to_string();
        Err(Error::MalformedHeader { offset, record, reason })
    }

    /// Reads one line into `self.line`, keeping at most [`MAX_LINE`] bytes of it.
    ///
    /// Returns `None` at the end of the stream, `Some(false)` when the line was too long (it is
    /// consumed through its newline but not kept whole), `Some(true)` otherwise.
    fn read_line(&mut self) -> Result<Option<bool>> {
        self.line.clear();
        let mut complete = true;
        let mut any = false;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if buf.is_empty() {
                return Ok(any.then_some(complete));
            }
            any = true;
            let (take, found) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            let room = MAX_LINE.saturating_sub(self.line.len());
            if take > room {
                complete = false;
            }
            self.line.extend_from_slice(&buf[..take.min(room)]);
            self.inner.consume(take);
            self.pos += take as u64;
            if found {
                return Ok(Some(complete));
            }
        }
    }

    /// Reads a record block of `length` bytes.
    fn read_block(&mut self, length: u64, offset: u64, record: u64) -> Result<Vec<u8>> {
        // Cap the up-front reservation: a lying Content-Length must not allocate by itself.
        let mut payload = Vec::with_capacity(length.min(1 << 20) as usize);
        let got = match (&mut self.inner).take(length).read_to_end(&mut payload) {
            Ok(got) => got as u64,
            Err(e) => {
                // The bytes read before the error were consumed: later offsets stay right.
                self.pos += payload.len() as u64;
                return Err(self.io_error(e));
            }
        };
        self.pos += got;
        if got < length {
            return Err(Error::Truncated { offset, record, expected: length, got });
        }
        Ok(payload)
    }

    /// Skips a record block of `length` bytes without buffering it.
    fn skip(&mut self, length: u64, offset: u64, record: u64) -> Result<()> {
        let got = match io::copy(&mut (&mut self.inner).take(length), &mut io::sink()) {
            Ok(got) => got,
            Err(e) => return Err(self.io_error(e)),
        };
        self.pos += got;
        if got < length {
            return Err(Error::Truncated { offset, record, expected: length, got });
        }
        Ok(())
    }

    /// Turns an I/O error into the crate error: a corrupt gzip member is recoverable (the
    /// decompressor resynchronises), anything else is fatal.
    fn io_error(&mut self, err: io::Error) -> Error {
        if let Some(corrupt) = err.get_ref().and_then(|e| e.downcast_ref::<CorruptMember>()) {
            self.resync = true;
            return Error::CorruptGzip {
                compressed_offset: corrupt.compressed_offset,
                message: corrupt.message.clone(),
            };
        }
        Error::Io { offset: self.pos, source: err }
    }
}

impl Header {
    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "warc-type" => &mut self.kind,
            "warc-target-uri" => &mut self.target_uri,
            "warc-date" => &mut self.date,
            "warc-record-id" => &mut self.record_id,
            "content-type" => &mut self.content_type,
            "content-length" => &mut self.content_length,
            _ => return,
        };
        *slot = Some(value);
    }
}

impl<R: BufRead> Iterator for WarcReader<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
}

/// WARC 1.0 writers sometimes wrap the target URI in `<...>`; 1.1 does not.
fn strip_angle_brackets(uri: String) -> String {
    match uri.strip_prefix('<').and_then(|u| u.strip_suffix('>')) {
        Some(inner) => inner.to_string(),
        None => uri,
    }
}
