//! Opening compressed WARC files, and the resynchronising gzip member reader.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{WarcOptions, WarcReader};
use crate::{Error, Result};

/// Read buffer size for files and decompressors.
const BUF_SIZE: usize = 256 << 10;
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How a WARC file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain `.warc` / `.wet`.
    None,
    /// `.gz`: concatenated gzip members (usually one per record).
    Gzip,
    /// `.zst`: one or more zstd frames.
    Zstd,
}

impl Compression {
    /// The compression a file name implies, or `None` when the extension says nothing.
    pub fn from_name(name: &str) -> Option<Compression> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") {
            Some(Compression::Gzip)
        } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
            Some(Compression::Zstd)
        } else if lower.ends_with(".warc") || lower.ends_with(".wet") || lower.ends_with(".wat") {
            Some(Compression::None)
        } else {
            None
        }
    }

    fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC[..2]) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Opens a WARC/WET file, choosing the decompressor by extension (else by magic bytes).
///
/// # Errors
/// [`Error::Open`] when the file cannot be opened, [`Error::Io`] when its first bytes cannot
/// be read.
pub fn open_warc(
    path: impl AsRef<Path>,
    options: WarcOptions,
) -> Result<WarcReader<Box<dyn BufRead + Send>>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| Error::Open { path: path.into(), source })?;
    open_warc_reader(file, &path.to_string_lossy(), options)
}

/// Wraps a raw (possibly compressed) WARC stream; `name` is the file name, used only to pick
/// the decompressor (the magic bytes decide when the extension is unknown).
///
/// For gzip input, records report the compressed offset of their member and a corrupt member
/// is skipped: see the [module docs](super).
///
/// # Errors
/// [`Error::Io`] when the first bytes cannot be read.
pub fn open_warc_reader<R: Read + Send + 'static>(
    reader: R,
    name: &str,
    options: WarcOptions,
) -> Result<WarcReader<Box<dyn BufRead + Send>>> {
    let mut buffered = BufReader::with_capacity(BUF_SIZE, reader);
    let compression = match Compression::from_name(name) {
        Some(c) => c,
        None => {
            Compression::sniff(buffered.fill_buf().map_err(|e| Error::Io { offset: 0, source: e })?)
        }
    };
    Ok(match compression {
        Compression::None => WarcReader::new(Box::new(buffered), options),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| Error::Io { offset: 0, source: e })?;
            WarcReader::new(Box::new(BufReader::with_capacity(BUF_SIZE, decoder)), options)
        }
        Compression::Gzip => {
            let members = GzMembers::new(buffered);
            let position = Arc::clone(&members.position);
            let boxed: Box<dyn BufRead + Send> = Box::new(members);
            WarcReader::new(boxed, options).with_members(position)
        }
    })
}

/// Where the current gzip member starts, shared with the [`WarcReader`] to report offsets.
#[derive(Debug, Default)]
pub(crate) struct MemberPosition {
    decompressed: AtomicU64,
    compressed: AtomicU64,
}

impl MemberPosition {
    /// The compressed offset of the member starting at decompressed offset `start`, if one does.
    pub(crate) fn compressed_offset_at(&self, start: u64) -> Option<u64> {
        (self.decompressed.load(Ordering::Relaxed) == start)
            .then(|| self.compressed.load(Ordering::Relaxed))
    }
}

/// The payload of the `io::Error` a [`GzMembers`] returns for a corrupt member.
#[derive(Debug)]
pub(crate) struct CorruptMember {
    pub(crate) compressed_offset: u64,
    pub(crate) message: String,
}

impl std::fmt::Display for CorruptMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "corrupt gzip member at {}: {}", self.compressed_offset, self.message)
    }
}

impl std::error::Error for CorruptMember {}

/// A byte source that counts what it hands out and can take bytes back.
struct Source<R> {
    inner: R,
    /// Bytes given back by the header scan, served before `inner`.
    pending: Vec<u8>,
    pending_pos: usize,
    /// Bytes consumed from `inner`.
    consumed: u64,
}

impl<R: BufRead> Source<R> {
    fn position(&self) -> u64 {
        self.consumed - (self.pending.len() - self.pending_pos) as u64
    }

    fn push_back(&mut self, bytes: &[u8]) {
        let mut pending = bytes.to_vec();
        pending.extend_from_slice(&self.pending[self.pending_pos..]);
        self.pending = pending;
        self.pending_pos = 0;
    }

    /// Skips to the next gzip member header; `false` at the end of the stream.
    fn scan_to_member(&mut self) -> io::Result<bool> {
        loop {
            let buf = self.fill_buf()?;
            if buf.is_empty() {
                return Ok(false);
            }
            let Some(i) = memchr::memchr(GZIP_MAGIC[0], buf) else {
                let n = buf.len();
                self.consume(n);
                continue;
            };
            if i + 3 <= buf.len() {
                let found = buf[i..i + 3] == GZIP_MAGIC;
                self.consume(if found { i } else { i + 1 });
                if found {
                    return Ok(true);
                }
                continue;
            }
            // The candidate straddles the buffer end: gather three bytes, then give them back.
            let mut tail = buf[i..].to_vec();
            let n = buf.len();
            self.consume(n);
            while tail.len() < 3 {
                let more = self.fill_buf()?;
                if more.is_empty() {
                    return Ok(false);
                }
                let take = (3 - tail.len()).min(more.len());
                tail.extend_from_slice(&more[..take]);
                self.consume(take);
            }
            if tail == GZIP_MAGIC {
                self.push_back(&tail);
                return Ok(true);
            }
            self.push_back(&tail[1..]);
        }
    }
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pending_pos < self.pending.len() {
            return Ok(&self.pending[self.pending_pos..]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if self.pending_pos < self.pending.len() {
            self.pending_pos += amount;
        } else {
            self.inner.consume(amount);
            self.consumed += amount as u64;
        }
    }
}

enum State<R> {
    /// Between members.
    Idle(Source<R>),
    /// Inside a member (boxed: the decoder's state is large and this enum moves often).
    Member(Box<flate2::bufread::GzDecoder<Source<R>>>),
    /// After a corrupt member: looking for the next member header.
    Resync(Source<R>),
    Done,
}

/// Decompresses concatenated gzip members one at a time, so that each member's compressed
/// offset is known and a corrupt member can be skipped.
pub(crate) struct GzMembers<R> {
    state: State<R>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Decompressed bytes produced so far.
    produced: u64,
    member_offset: u64,
    position: Arc<MemberPosition>,
}

impl<R: BufRead> GzMembers<R> {
    pub(crate) fn new(inner: R) -> Self {
        let source = Source { inner, pending: Vec::new(), pending_pos: 0, consumed: 0 };
        GzMembers {
            state: State::Idle(source),
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            produced: 0,
            member_offset: 0,
            position: Arc::default(),
        }
    }

    fn corrupt(&self, message: String) -> io::Error {
        let corrupt = CorruptMember { compressed_offset: self.member_offset, message };
        io::Error::new(io::ErrorKind::InvalidData, corrupt)
    }

    /// Advances the state machine until decompressed bytes are buffered or the stream ends.
    fn refill(&mut self) -> io::Result<()> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(()),
                State::Idle(mut source) => {
                    let offset = source.position();
                    let head = source.fill_buf()?;
                    if head.is_empty() {
                        return Ok(());
                    }
                    let is_member = head.starts_with(&GZIP_MAGIC[..head.len().min(3)]);
                    self.member_offset = offset;
                    if !is_member {
                        self.state = State::Resync(source);
                        return Err(self.corrupt("no gzip member header".into()));
                    }
                    self.position.decompressed.store(self.produced, Ordering::Relaxed);
                    self.position.compressed.store(self.member_offset, Ordering::Relaxed);
                    self.state = State::Member(Box::new(flate2::bufread::GzDecoder::new(source)));
                }
                State::Member(mut decoder) => match decoder.read(&mut self.buf) {
                    Ok(0) => self.state = State::Idle(decoder.into_inner()),
                    Ok(n) => {
                        (self.start, self.end) = (0, n);
                        self.produced += n as u64;
                        self.state = State::Member(decoder);
                        return Ok(());
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        self.state = State::Member(decoder);
                    }
                    Err(e) if is_corruption(&e) => {
                        self.state = State::Resync(decoder.into_inner());
                        return Err(self.corrupt(e.to_string()));
                    }
                    Err(e) => return Err(e),
                },
                State::Resync(mut source) => {
                    if source.scan_to_member()? {
                        self.state = State::Idle(source);
                    }
                }
            }
        }
    }
}

/// Whether a decoder error means bad data (skippable) rather than a failing device.
fn is_corruption(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for GzMembers<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.refill()?;
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.end);
    }
}
