//! Little-endian reads from a model file, streamed (a model of gigabytes is not read whole
//! before its matrices are built), with the offset for error messages.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Floats converted per read of a matrix.
const CHUNK_FLOATS: usize = 1 << 16;
/// Longest word of a dictionary read (fastText sets none; a word is a run of text between
/// spaces, long in Chinese, never this long in a model).
const MAX_WORD_BYTES: usize = 16 << 20;

/// A byte reader over a model file that remembers its offset for error messages.
pub(crate) struct Reader<'a> {
    src: BufReader<File>,
    /// Bytes read so far ...
    pos: u64,
    /// ... of the file's `len`.
    len: u64,
    path: &'a Path,
    /// What [`Reader::bytes`] returns.
    scratch: Vec<u8>,
}

impl<'a> Reader<'a> {
    pub(crate) fn open(path: &'a Path) -> Result<Self> {
        let io = |source| Error::Io { what: "fastText model", path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(Self {
            src: BufReader::with_capacity(1 << 20, file),
            pos: 0,
            len,
            path,
            scratch: Vec::new(),
        })
    }

    pub(crate) fn err(&self, problem: impl Into<String>) -> Error {
        Error::BadModel { path: self.path.to_path_buf(), offset: self.pos, problem: problem.into() }
    }

    /// Reads exactly `n` bytes into `out`, or fails (before allocating) if the file is shorter.
    fn read_into(&mut self, out: &mut [u8]) -> Result<()> {
        let n = out.len();
        if self.pos.saturating_add(n as u64) > self.len {
            return Err(self.err(format!("file ends, {n} more bytes expected")));
        }
        self.src.read_exact(out).map_err(|e| self.err(format!("reading {n} bytes: {e}")))?;
        self.pos += n as u64;
        Ok(())
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&[u8]> {
        if self.pos.saturating_add(n as u64) > self.len {
            return Err(self.err(format!("file ends, {n} more bytes expected")));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(n, 0);
        let read = self.read_into(&mut scratch);
        self.scratch = scratch;
        read.map(|()| &self.scratch[..])
    }

    /// The bytes up to the next NUL, which is read too (at most [`MAX_WORD_BYTES`]: a
    /// corrupt dictionary is not read to the end of the file in search of one).
    pub(crate) fn until_nul(&mut self) -> Result<&[u8]> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let read = (&mut self.src).take(MAX_WORD_BYTES as u64 + 1).read_until(0, &mut scratch);
        self.scratch = scratch;
        let n = read.map_err(|e| self.err(format!("reading a word: {e}")))?;
        if self.scratch.last() != Some(&0) {
            return Err(self.err("unterminated word"));
        }
        self.pos += n as u64;
        Ok(&self.scratch[..n - 1])
    }

    pub(crate) fn i32(&mut self) -> Result<i32> {
        let mut b = [0u8; 4];
        self.read_into(&mut b)?;
        Ok(i32::from_le_bytes(b))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        let mut b = [0u8; 8];
        self.read_into(&mut b)?;
        Ok(i64::from_le_bytes(b))
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_into(&mut b)?;
        Ok(b[0])
    }

    /// `n` floats followed by `zeros` zeros, in one allocation of that size.
    pub(crate) fn f32s(&mut self, n: usize, zeros: usize) -> Result<Vec<f32>> {
        let bytes = n.checked_mul(4).ok_or_else(|| self.err("matrix too large"))?;
        if self.pos.saturating_add(bytes as u64) > self.len {
            return Err(self.err(format!("file ends, {bytes} more bytes expected")));
        }
        let mut out = Vec::with_capacity(n + zeros);
        let mut buf = vec![0u8; CHUNK_FLOATS.min(n) * 4];
        while out.len() < n {
            let take = CHUNK_FLOATS.min(n - out.len());
            self.read_into(&mut buf[..take * 4])?;
            let floats = buf[..take * 4].chunks_exact(4);
            out.extend(floats.map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        out.resize(n + zeros, 0.0);
        Ok(out)
    }
    pub(crate) fn count32(&mut self, what: &str) -> Result<usize> {
        let v = self.i32()?;
        self.usize_of(v.into(), what)
    }
    pub(crate) fn count64(&mut self, what: &str) -> Result<usize> {
        let v = self.i64()?;
        self.usize_of(v, what)
    }
    pub(crate) fn usize_of(&self, v: i64, what: &str) -> Result<usize> {
        usize::try_from(v).map_err(|_| self.err(format!("negative {what}: {v}")))
    }
}
