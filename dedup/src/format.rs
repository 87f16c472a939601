//! The on-disk format shared by every dedup artifact, byte by byte.
//!
//! Every file (signatures, sorted runs, edges, the removal list, cluster dumps, the
//! persistent index, line counts) is a header, fixed-size records and a footer. All integers
//! are little-endian.
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic, one per [`ArtifactKind`] (e.g. `b"TMDDSIG\0"`) |
//! | 8 | 4 | format version, `u32` = 1 |
//! | 12 | 4 | `L`, record length in bytes, `u32` (> 0) |
//! | 16 | 8 | parameter, `u64`, meaning fixed by the kind (e.g. a config fingerprint) |
//! | 24 | `L·N` | `N` records |
//! | 24 + `L·N` | 8 | `N`, the record count, `u64` |
//! | 32 + `L·N` | 8 | XXH3-64 of bytes `0 .. 32 + L·N` (everything before it) |
//!
//! A file is exactly `40 + L·N` bytes, so truncation is caught by the size check before the
//! checksum is even read. Sequential readers verify the checksum when they reach the end.
//! Writers write `{name}.tmp`, fsync and rename, so a file that exists is complete.
//!
//! Example: an edge file (`b"TMDDEDG\0"`, `L` = 16, parameter 0) holding the one edge
//! `(1, 2)` is the 56 bytes
//! `54 4d 44 44 45 44 47 00 | 01 00 00 00 | 10 00 00 00 | 00 × 8 | 01 00 × 7 | 02 00 × 7 |
//! 01 00 × 7 | checksum` (pinned in the tests).

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, Result};

/// The format version written and read by this crate.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the header in bytes.
pub const HEADER_LEN: u64 = 24;
/// Length of the footer (count + checksum) in bytes.
pub const FOOTER_LEN: u64 = 16;

/// What an artifact holds; each kind has its own magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// Phase 1 signatures of one split (see [`crate::phases`]).
    Signatures,
    /// A sorted run of an external sort.
    SortRun,
    /// Phase 2 duplicate edges of one band (or of exact hashes).
    Edges,
    /// Phase 3 sorted ids of documents to remove.
    Removed,
    /// Phase 3 optional cluster dump.
    Clusters,
    /// Persistent index: sorted exact hashes.
    IndexExact,
    /// Persistent index: sorted band keys.
    IndexBands,
    /// Line dedup: sorted line hashes with counts.
    LineCounts,
    /// Line dedup: sorted hashes of the boilerplate units.
    Boilerplate,
    /// Phase 1 `(band key, id)` records of one band, one key shard and one split.
    BandKeys,
    /// Phase 1 `(exact hash, id)` records of one key shard and one split.
    ExactKeys,
}

impl ArtifactKind {
    /// The 8-byte magic of this kind.
    pub fn magic(self) -> [u8; 8] {
        *match self {
            ArtifactKind::Signatures => b"TMDDSIG\0",
            ArtifactKind::SortRun => b"TMDDRUN\0",
            ArtifactKind::Edges => b"TMDDEDG\0",
            ArtifactKind::Removed => b"TMDDRMV\0",
            ArtifactKind::Clusters => b"TMDDCLU\0",
            ArtifactKind::IndexExact => b"TMDDIXE\0",
            ArtifactKind::IndexBands => b"TMDDIXB\0",
            ArtifactKind::LineCounts => b"TMDDLIN\0",
            ArtifactKind::Boilerplate => b"TMDDBLP\0",
            ArtifactKind::BandKeys => b"TMDDBKY\0",
            ArtifactKind::ExactKeys => b"TMDDXKY\0",
        }
    }
}

/// An ascending list of `u64`s for lookups: an artifact of 8-byte records memory-mapped (the
/// page cache holds it, not the heap, so its size costs no process memory), or a list in memory.
#[derive(Debug, Default)]
pub struct SortedIds(Ids);

#[derive(Debug)]
enum Ids {
    Owned(Vec<u64>),
    /// The records of a verified artifact, 8 bytes each from byte [`HEADER_LEN`].
    Mapped {
        map: memmap2::Mmap,
        len: usize,
    },
}

impl Default for Ids {
    fn default() -> Self {
        Ids::Owned(Vec::new())
    }
}

impl SortedIds {
    /// A list in memory (sorted and deduplicated here).
    pub fn owned(mut ids: Vec<u64>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        SortedIds(Ids::Owned(ids))
    }

    /// Verifies an artifact of 8-byte ascending records (one streaming pass: checksum, then
    /// order) and maps it; `check` sees the header's parameter first (e.g. a fingerprint).
    ///
    /// # Errors
    /// As [`ArtifactReader`], plus [`Error::IdOrder`] for records out of order.
    pub fn open(
        path: &Path,
        kind: ArtifactKind,
        check: impl FnOnce(u64) -> Result<()>,
    ) -> Result<Self> {
        let mut r = ArtifactReader::open(path, kind, Some(8))?;
        check(r.header().param)?;
        let mut rec = [0u8; 8];
        let (mut len, mut last, mut disorder) = (0usize, None, None);
        while r.next_record(&mut rec)? {
            let id = u64_at(&rec, 0);
            if let Some(previous) = last.filter(|&l| l >= id) {
                disorder.get_or_insert((id, previous));
            }
            last = Some(id);
            len += 1;
        }
        // Reported after the checksum (checked at the end): corruption names its byte first.
        if let Some((id, previous)) = disorder {
            return Err(Error::IdOrder { path: path.to_path_buf(), id, previous });
        }
        if len == 0 {
            return Ok(SortedIds::default());
        }
        let file = File::open(path).map_err(Error::io("open", path))?;
        let map = map_file(&file).map_err(Error::io("map", path))?;
        if map.len() < HEADER_LEN as usize + 8 * len {
            return Err(Error::format(
                path,
                map.len() as u64,
                "the file changed while being opened",
            ));
        }
        Ok(SortedIds(Ids::Mapped { map, len }))
    }

    /// The `i`-th id.
    pub fn get(&self, i: usize) -> u64 {
        match &self.0 {
            Ids::Owned(v) => v[i],
            Ids::Mapped { map, .. } => u64_at(&map[HEADER_LEN as usize + 8 * i..], 0),
        }
    }

    /// Whether `id` is in the list (binary search).
    pub fn contains(&self, id: u64) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        match &self.0 {
            Ids::Owned(v) => v.len(),
            Ids::Mapped { len, .. } => *len,
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Maps a finished artifact read-only.
#[allow(unsafe_code)]
pub(crate) fn map_file(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: artifacts are written as `.tmp` and renamed into place, never modified after;
    // the map is read-only, and a file shrunk behind our back is caught by the length check
    // (reads past the end of a truncated file would fault, as with any mmap).
    unsafe { memmap2::Mmap::map(file) }
}

/// The running XXH3-64 of a file (a newtype: `Xxh3` has no `Debug`).
struct Checksum(Xxh3);

impl Checksum {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn digest(&self) -> u64 {
        self.0.digest()
    }
}

impl std::fmt::Debug for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checksum({:016x})", self.0.digest())
    }
}

/// Writes one artifact durably: `{path}.tmp`, then fsync and rename on [`finish`](Self::finish).
#[derive(Debug)]
pub struct ArtifactWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    hasher: Checksum,
    record_len: usize,
    count: u64,
}

impl ArtifactWriter {
    /// Starts `path` (creating its parent directory).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory or file cannot be created or written.
    pub fn create(path: &Path, kind: ArtifactKind, record_len: usize, param: u64) -> Result<Self> {
        assert!(record_len > 0 && record_len <= u32::MAX as usize, "record length");
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
        let mut w = ArtifactWriter {
            path: path.to_path_buf(),
            tmp,
            out: BufWriter::with_capacity(1 << 16, file),
            hasher: Checksum(Xxh3::new()),
            record_len,
            count: 0,
        };
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(&kind.magic());
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&(record_len as u32).to_le_bytes());
        header.extend_from_slice(&param.to_le_bytes());
        w.put(&header)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes).map_err(Error::io("write", &self.tmp))
    }

    /// Appends one record.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a write failure.
    ///
    /// # Panics
    ///
    /// If `record` is not exactly the record length.
    pub fn write_record(&mut self, record: &[u8]) -> Result<()> {
        assert_eq!(record.len(), self.record_len, "record length");
        self.count += 1;
        self.put(record)
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the footer, syncs and renames into place; returns the record count.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a write, sync or rename failure.
    pub fn finish(self) -> Result<u64> {
        self.finish_inner(true)
    }

    /// [`finish`](Self::finish) without fsync, for scratch files (sorted runs) that need not
    /// survive a crash.
    ///
    /// # Errors
    ///
    /// As [`finish`](Self::finish).
    pub fn finish_scratch(self) -> Result<u64> {
        self.finish_inner(false)
    }

    fn finish_inner(mut self, durable: bool) -> Result<u64> {
        let count = self.count;
        self.put(&count.to_le_bytes())?;
        let sum = self.hasher.digest();
        self.out.write_all(&sum.to_le_bytes()).map_err(Error::io("write", &self.tmp))?;
        let file = self.out.into_inner().map_err(|e| Error::Io {
            action: "flush",
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        if durable {
            file.sync_all().map_err(Error::io("sync", &self.tmp))?;
        }
        fs::rename(&self.tmp, &self.path).map_err(Error::io("rename", &self.tmp))?;
        Ok(count)
    }
}

/// The validated header of an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Record length in bytes.
    pub record_len: usize,
    /// The kind-specific parameter.
    pub param: u64,
    /// Number of records.
    pub count: u64,
}

/// Reads and checks the header and footer of `file`: magic, version, record length, size.
fn read_header(
    file: &mut File,
    path: &Path,
    kind: ArtifactKind,
    record_len: Option<usize>,
) -> Result<Header> {
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    if len < HEADER_LEN + FOOTER_LEN {
        return Err(Error::format(
            path,
            len,
            format!("file is {len} bytes, shorter than header and footer (40); truncated?"),
        ));
    }
    let mut h = [0u8; HEADER_LEN as usize];
    file.read_exact(&mut h).map_err(Error::io("read", path))?;
    if h[..8] != kind.magic() {
        return Err(Error::format(
            path,
            0,
            format!("bad magic {:?}, expected {:?} ({kind:?})", &h[..8], kind.magic()),
        ));
    }
    let version = u32::from_le_bytes(h[8..12].try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(Error::format(
            path,
            8,
            format!("format version {version}, this build reads {FORMAT_VERSION}"),
        ));
    }
    let rl = u32::from_le_bytes(h[12..16].try_into().unwrap_or_default()) as usize;
    if rl == 0 || record_len.is_some_and(|want| want != rl) {
        return Err(Error::format(
            path,
            12,
            format!("record length {rl}, expected {record_len:?}"),
        ));
    }
    let param = u64::from_le_bytes(h[16..24].try_into().unwrap_or_default());
    file.seek(SeekFrom::Start(len - FOOTER_LEN)).map_err(Error::io("seek", path))?;
    let mut c = [0u8; 8];
    file.read_exact(&mut c).map_err(Error::io("read", path))?;
    let count = u64::from_le_bytes(c);
    let expect = (rl as u128) * u128::from(count) + u128::from(HEADER_LEN + FOOTER_LEN);
    if expect != u128::from(len) {
        return Err(Error::format(
            path,
            len - FOOTER_LEN,
            format!(
                "{count} records of {rl} bytes need {expect} bytes, file has {len}; truncated?"
            ),
        ));
    }
    file.seek(SeekFrom::Start(HEADER_LEN)).map_err(Error::io("seek", path))?;
    Ok(Header { record_len: rl, param, count })
}

/// Reads an artifact's records in order, verifying the checksum at the end.
#[derive(Debug)]
pub struct ArtifactReader {
    path: PathBuf,
    input: BufReader<File>,
    hasher: Checksum,
    header: Header,
    read: u64,
    verified: bool,
}

impl ArtifactReader {
    /// Opens `path`, expecting `kind` and, if given, `record_len`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if it cannot be read; [`Error::Format`] on a wrong magic, version,
    /// record length or size.
    pub fn open(path: &Path, kind: ArtifactKind, record_len: Option<usize>) -> Result<Self> {
        Self::open_with_buffer(path, kind, record_len, 1 << 16)
    }

    /// [`open`](Self::open) with a read buffer of `buffer` bytes (external merges keep many
    /// files open within a memory budget).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with_buffer(
        path: &Path,
        kind: ArtifactKind,
        record_len: Option<usize>,
        buffer: usize,
    ) -> Result<Self> {
        let mut file = File::open(path).map_err(Error::io("open", path))?;
        let header = read_header(&mut file, path, kind, record_len)?;
        let mut hasher = Checksum(Xxh3::new());
        let mut h = Vec::with_capacity(HEADER_LEN as usize);
        h.extend_from_slice(&kind.magic());
        h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        h.extend_from_slice(&(header.record_len as u32).to_le_bytes());
        h.extend_from_slice(&header.param.to_le_bytes());
        hasher.update(&h);
        Ok(ArtifactReader {
            path: path.to_path_buf(),
            input: BufReader::with_capacity(buffer.max(64), file),
            hasher,
            header,
            read: 0,
            verified: false,
        })
    }

    /// The header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next record into `buf` (record length); `false` after the last one, once the
    /// checksum has been verified.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a read failure, [`Error::Format`] on a checksum mismatch.
    pub fn next_record(&mut self, buf: &mut [u8]) -> Result<bool> {
        if self.read == self.header.count {
            if !self.verified {
                self.finish_checksum()?;
                self.verified = true;
            }
            return Ok(false);
        }
        let offset = HEADER_LEN + self.read * self.header.record_len as u64;
        self.input
            .read_exact(buf)
            .map_err(|e| Error::format(&self.path, offset, format!("cannot read record: {e}")))?;
        self.hasher.update(buf);
        self.read += 1;
        Ok(true)
    }

    fn finish_checksum(&mut self) -> Result<()> {
        let mut footer = [0u8; 16];
        let offset = HEADER_LEN + self.read * self.header.record_len as u64;
        self.input
            .read_exact(&mut footer)
            .map_err(|e| Error::format(&self.path, offset, format!("cannot read footer: {e}")))?;
        self.hasher.update(&footer[..8]);
        let stored = u64::from_le_bytes(footer[8..].try_into().unwrap_or_default());
        let actual = self.hasher.digest();
        if stored != actual {
            return Err(Error::format(
                &self.path,
                offset + 8,
                format!(
                    "checksum mismatch: stored {stored:016x}, computed {actual:016x}; the file is corrupt"
                ),
            ));
        }
        Ok(())
    }
}

/// Random access to an artifact's records (no checksum verification; pair it with a
/// sequential pass when integrity matters).
#[derive(Debug)]
pub struct RandomReader {
    path: PathBuf,
    file: File,
    header: Header,
}

impl RandomReader {
    /// Opens `path` like [`ArtifactReader::open`].
    ///
    /// # Errors
    ///
    /// As [`ArtifactReader::open`].
    pub fn open(path: &Path, kind: ArtifactKind, record_len: Option<usize>) -> Result<Self> {
        let mut file = File::open(path).map_err(Error::io("open", path))?;
        let header = read_header(&mut file, path, kind, record_len)?;
        Ok(RandomReader { path: path.to_path_buf(), file, header })
    }

    /// The header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Reads record `i` (or its first `buf.len()` bytes) into `buf`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a read failure.
    pub fn read_at(&mut self, i: u64, buf: &mut [u8]) -> Result<()> {
        debug_assert!(i < self.header.count && buf.len() <= self.header.record_len);
        let offset = HEADER_LEN + i * self.header.record_len as u64;
        self.file.seek(SeekFrom::Start(offset)).map_err(Error::io("seek", &self.path))?;
        self.file.read_exact(buf).map_err(Error::io("read", &self.path))
    }
}

/// Reads a `u64` at `at` from a little-endian record.
#[inline]
pub(crate) fn u64_at(rec: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&rec[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Reads a `u128` at `at` from a little-endian record.
#[inline]
pub(crate) fn u128_at(rec: &[u8], at: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&rec[at..at + 16]);
    u128::from_le_bytes(b)
}

#[cfg(test)]
mod tests;
