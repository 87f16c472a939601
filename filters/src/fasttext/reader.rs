//! Little-endian reads from a model file, with the offset for error messages.

use std::path::Path;

use crate::error::{Error, Result};

/// A byte reader that remembers its offset for error messages.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) path: &'a Path,
}

impl<'a> Reader<'a> {
    pub(crate) fn err(&self, problem: impl Into<String>) -> Error {
        Error::BadModel {
            path: self.path.to_path_buf(),
            offset: self.pos as u64,
            problem: problem.into(),
        }
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err(format!("file ends, {n} more bytes expected")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn i32(&mut self) -> Result<i32> {
        let b = self.bytes(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    pub(crate) fn f32s(&mut self, n: usize) -> Result<Vec<f32>> {
        let b = self.bytes(n.checked_mul(4).ok_or_else(|| self.err("matrix too large"))?)?;
        Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
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
