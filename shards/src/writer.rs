//! Writing one shard: a `.bin`/`.idx` pair.
//!
//! Durability protocol: tokens stream into `{name}.bin.tmp` (buffered, hashed on the fly);
//! [`ShardWriter::finish`] writes `{name}.idx.tmp`, fsyncs both, renames the `.bin` and then
//! the `.idx` into place, and fsyncs the directory. A visible `.idx` therefore implies a
//! complete `.bin`. An unfinished writer removes its temporary files when dropped.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::dtype::DType;
use crate::error::{Error, Result, check_name};
use crate::format::write_idx;

/// Buffer size for shard files: large sequential writes.
const BUF_SIZE: usize = 1 << 20;

/// Size of the `.bin` blocks whose XXH3-64 the manifest lists (the last block may be shorter),
/// so that `verify` names the byte range of a damaged block.
pub const CHECKSUM_BLOCK_BYTES: u64 = 16 << 20;

/// A finished shard, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Shard name without extension, e.g. `"train_00000"`; the files are `{name}.bin` and
    /// `{name}.idx`.
    pub name: String,
    /// Number of documents (= sequences).
    pub documents: u64,
    /// Number of tokens.
    pub tokens: u64,
    /// Size of the `.bin` file in bytes.
    pub bin_bytes: u64,
    /// Size of the `.idx` file in bytes.
    pub idx_bytes: u64,
    /// XXH3-128 of the `.bin` file, 32 lowercase hex digits.
    pub bin_xxh3: String,
    /// XXH3-128 of the `.idx` file, 32 lowercase hex digits.
    pub idx_xxh3: String,
    /// XXH3-64 of each [`CHECKSUM_BLOCK_BYTES`] block of the `.bin`, 16 lowercase hex digits
    /// each: `verify` reports a damaged block by its byte range. Empty in manifests written
    /// before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bin_blocks_xxh3: Vec<String>,
}

/// Formats an XXH3-128 digest the way manifests store it.
pub(crate) fn hex128(digest: u128) -> String {
    format!("{digest:032x}")
}

/// A buffered file writer that hashes and counts what passes through it, the whole file and
/// each [`CHECKSUM_BLOCK_BYTES`] block.
struct HashingFile {
    out: BufWriter<File>,
    hasher: Xxh3,
    bytes: u64,
    blocks: BlockHasher,
}

/// XXH3-64 of consecutive fixed-size blocks of a byte stream.
#[derive(Default)]
pub(crate) struct BlockHasher {
    block: Xxh3,
    in_block: u64,
    digests: Vec<String>,
}

impl BlockHasher {
    /// Feeds the next bytes of the stream; returns the number of blocks completed so far.
    pub(crate) fn update(&mut self, mut bytes: &[u8]) -> usize {
        while !bytes.is_empty() {
            let room = usize::try_from(CHECKSUM_BLOCK_BYTES - self.in_block).unwrap_or(usize::MAX);
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.block.update(now);
            self.in_block += now.len() as u64;
            if self.in_block == CHECKSUM_BLOCK_BYTES {
                self.digests.push(format!("{:016x}", self.block.digest()));
                self.block = Xxh3::new();
                self.in_block = 0;
            }
            bytes = rest;
        }
        self.digests.len()
    }

    /// The digests of every complete block, then the partial last one (if any bytes).
    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.in_block > 0 {
            self.digests.push(format!("{:016x}", self.block.digest()));
        }
        self.digests
    }

    /// The digests of the blocks completed so far.
    pub(crate) fn digests(&self) -> &[String] {
        &self.digests
    }
}

impl HashingFile {
    fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(Error::io("create", path))?;
        Ok(HashingFile {
            out: BufWriter::with_capacity(BUF_SIZE, file),
            hasher: Xxh3::new(),
            bytes: 0,
            blocks: BlockHasher::default(),
        })
    }

    /// Flushes and fsyncs; returns the byte count, the hex digest and the block digests.
    fn finish(mut self, path: &Path) -> Result<(u64, String, Vec<String>)> {
        self.out.flush().map_err(Error::io("write", path))?;
        self.out.get_ref().sync_all().map_err(Error::io("fsync", path))?;
        Ok((self.bytes, hex128(self.hasher.digest128()), self.blocks.finish()))
    }
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.blocks.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Appends a suffix to a path (`dir/name` + `.bin.tmp`).
pub(crate) fn with_suffix(dir: &Path, name: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{name}{suffix}"))
}

/// Fsyncs a directory so that renames inside it are durable (a no-op off Unix, where
/// directories cannot be opened as files).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(Error::io("open directory", dir))?;
        d.sync_all().map_err(Error::io("fsync directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes one shard: a `.bin`/`.idx` pair holding one sequence per document.
///
/// Tokens stream into `{name}.bin.tmp` (buffered, hashed on the fly); [`finish`](Self::finish)
/// writes `{name}.idx.tmp`, fsyncs both, renames the `.bin` and then the `.idx` into place and
/// fsyncs the directory, so a visible `.idx` implies a complete `.bin`. An unfinished writer
/// removes its temporary files when dropped.
#[derive(Debug)]
pub struct ShardWriter {
    dir: PathBuf,
    name: String,
    dtype: DType,
    /// `None` once finished or aborted.
    bin: Option<HashingFile>,
    lengths: Vec<i32>,
    tokens: u64,
    scratch: Vec<u8>,
    /// Set once the `.bin` has been renamed into place but before the `.idx` has.
    bin_renamed: bool,
}

impl std::fmt::Debug for HashingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingFile").field("bytes", &self.bytes).finish()
    }
}

impl ShardWriter {
    /// Starts a shard `name` in `dir` (which must exist), writing `{name}.bin.tmp`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] if `name` is not a plain file name; [`Error::Io`] if the
    /// temporary file cannot be created.
    pub fn create(dir: &Path, name: &str, dtype: DType) -> Result<Self> {
        check_name(name)?;
        let bin = HashingFile::create(&with_suffix(dir, name, ".bin.tmp"))?;
        Ok(ShardWriter {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            dtype,
            bin: Some(bin),
            lengths: Vec::new(),
            tokens: 0,
            scratch: Vec::new(),
            bin_renamed: false,
        })
    }

    /// Appends one document as one sequence. Nothing is written if the document is rejected.
    ///
    /// # Errors
    ///
    /// [`Error::TokenOverflow`] if a token exceeds [`DType::max_token`];
    /// [`Error::DocumentTooLong`] beyond `i32::MAX` tokens; [`Error::Io`] on write failure.
    pub fn add_document(&mut self, tokens: &[u32]) -> Result<()> {
        let document = self.documents();
        let max = self.dtype.max_token();
        // A max() fold vectorizes; the offending token is looked up only on failure.
        if u64::from(tokens.iter().copied().max().unwrap_or(0)) > max
            && let Some(&token) = tokens.iter().find(|&&t| u64::from(t) > max)
        {
            return Err(Error::TokenOverflow {
                shard: self.name.clone(),
                document,
                token,
                dtype: self.dtype,
                max,
            });
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        self.dtype.encode_all(tokens, &mut scratch);
        let result = self.append(&scratch);
        self.scratch = scratch;
        result
    }

    /// Appends one document given as its `.bin` bytes (little-endian, in the shard's dtype),
    /// e.g. copied from another shard: no decoding, and for `uint16` no per-token work.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] (offset into the `.bin` being written) if the bytes are not whole
    /// elements or an element is not a token id; otherwise as [`add_document`](Self::add_document).
    pub(crate) fn add_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        let size = self.dtype.size();
        let offset = self.bin_bytes();
        let bad = |k: usize, message: String| Error::Format {
            path: with_suffix(&self.dir, &self.name, ".bin.tmp"),
            offset: offset + (k * size) as u64,
            message: format!("document {}: {message}", self.lengths.len()),
        };
        if !bytes.len().is_multiple_of(size) {
            return Err(bad(
                bytes.len() / size,
                format!("{} bytes are not whole {} elements", bytes.len(), self.dtype),
            ));
        }
        self.dtype.check_all(bytes).map_err(|(k, message)| bad(k, message))?;
        self.append(bytes)
    }

    /// Writes an encoded document and records its length.
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let n = bytes.len() / self.dtype.size();
        let len = i32::try_from(n).map_err(|_| Error::DocumentTooLong {
            shard: self.name.clone(),
            document: self.documents(),
            len: n,
            max: i32::MAX as u64,
        })?;
        let path = self.tmp_path(".bin.tmp");
        let bin = self.bin.as_mut().ok_or_else(|| Error::Io {
            action: "write",
            path: path.clone(),
            source: std::io::Error::other("shard writer already finished"),
        })?;
        bin.write_all(bytes).map_err(Error::io("write", &path))?;
        self.lengths.push(len);
        self.tokens += n as u64;
        Ok(())
    }

    /// The shard's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Documents added so far.
    pub fn documents(&self) -> u64 {
        self.lengths.len() as u64
    }

    /// Tokens added so far.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Bytes of `.bin` written so far (including bytes still in the buffer).
    pub fn bin_bytes(&self) -> u64 {
        self.tokens * self.dtype.size() as u64
    }

    /// Writes the `.idx`, makes both files durable and moves them into place.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if writing, syncing or renaming fails; the temporary files (and a
    /// `.bin` already renamed) are then removed.
    pub fn finish(mut self) -> Result<ShardInfo> {
        let result = self.finish_inner();
        if result.is_err() && self.bin_renamed {
            // The .idx is renamed last, so a failure can at most leave a final .bin behind.
            let _ = fs::remove_file(self.tmp_path(".bin"));
        }
        result
    }

    fn finish_inner(&mut self) -> Result<ShardInfo> {
        let (bin_tmp, idx_tmp) = (self.tmp_path(".bin.tmp"), self.tmp_path(".idx.tmp"));
        let bin = self.bin.take().ok_or_else(|| Error::Io {
            action: "finish",
            path: bin_tmp.clone(),
            source: std::io::Error::other("shard writer already finished"),
        })?;
        let (bin_bytes, bin_xxh3, bin_blocks_xxh3) = bin.finish(&bin_tmp)?;
        let mut idx = HashingFile::create(&idx_tmp)?;
        write_idx(&mut idx, self.dtype, &self.lengths).map_err(Error::io("write", &idx_tmp))?;
        let (idx_bytes, idx_xxh3, _) = idx.finish(&idx_tmp)?;
        for ext in [".bin", ".idx"] {
            let (from, to) = (self.tmp_path(&format!("{ext}.tmp")), self.tmp_path(ext));
            fs::rename(&from, &to).map_err(Error::io("rename", &from))?;
            self.bin_renamed = ext == ".bin";
        }
        sync_dir(&self.dir)?;
        Ok(ShardInfo {
            name: self.name.clone(),
            documents: self.documents(),
            tokens: self.tokens,
            bin_bytes,
            idx_bytes,
            bin_xxh3,
            idx_xxh3,
            bin_blocks_xxh3,
        })
    }

    /// Discards the shard, removing its temporary files.
    pub fn abort(self) {
        // Drop does the work.
    }

    fn tmp_path(&self, suffix: &str) -> PathBuf {
        with_suffix(&self.dir, &self.name, suffix)
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        // Cleanup is best effort: the files may never have been created, and errors have
        // nowhere to go from Drop. A successful finish has already renamed them away.
        drop(self.bin.take());
        let _ = fs::remove_file(self.tmp_path(".bin.tmp"));
        let _ = fs::remove_file(self.tmp_path(".idx.tmp"));
    }
}
