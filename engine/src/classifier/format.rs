//! The classifier's binary model file, version 1. All integers and floats little-endian.
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic `TMCLASSF` |
//! | 8 | 4 | format version, u32 = 1 |
//! | 12 | 4 | dtype, u32 = 1 (f32) |
//! | 16 | 4 | `dim`, u32 |
//! | 20 | 4 | `buckets`, u32 |
//! | 24 | 4 | `word_ngrams`, u32 (1 or 2) |
//! | 28 | 4 | `labels` = number of labels, u32 |
//! | 32 | ... | each label: byte length u32, then its UTF-8 bytes |
//! | L | 4·buckets·dim | embeddings, f32 `[buckets, dim]` row-major |
//! | ... | 4·labels·dim | output weights, f32 `[labels, dim]` |
//! | ... | 4·labels | output bias, f32 `[labels]` |
//! | end − 8 | 8 | checksum, u64 = `xxh3_64` of every byte before it |
//!
//! Version 1 also fixes the feature hashing described in `features` (xxh3 of words, the bigram
//! mix, multiply-shift bucketing): a model is only meaningful with the hashing it was trained with.

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use super::Classifier;
use crate::error::{Error, Result};

/// The first eight bytes of a classifier file.
pub const MAGIC: [u8; 8] = *b"TMCLASSF";
/// The format version written, and the only one read.
pub const FORMAT_VERSION: u32 = 1;
const DTYPE_F32: u32 = 1;

impl Classifier {
    /// Serialises the model (format above).
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = 40
            + self.labels.iter().map(|l| 4 + l.len()).sum::<usize>()
            + 4 * (self.embeddings.len() + self.weights.len() + self.bias.len());
        let mut out = Vec::with_capacity(n);
        out.extend_from_slice(&MAGIC);
        for v in [
            FORMAT_VERSION,
            DTYPE_F32,
            self.dim as u32,
            self.buckets,
            self.word_ngrams,
            self.labels.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for l in &self.labels {
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            out.extend_from_slice(l.as_bytes());
        }
        for x in self.embeddings.iter().chain(&self.weights).chain(&self.bias) {
            out.extend_from_slice(&x.to_le_bytes());
        }
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses a model from bytes.
    ///
    /// # Errors
    /// [`Error::Format`] for a wrong magic, unknown version or dtype, bad dimensions, wrong
    /// length (truncation) or checksum mismatch.
    pub fn from_bytes(bytes: &[u8]) -> Result<Classifier> {
        let err = |offset: usize, reason: String| Error::Format {
            context: format!("bytes at offset {offset}"),
            reason,
        };
        if bytes.len() < 40 || bytes[..8] != MAGIC {
            return Err(err(
                0,
                "not a tokenmill classifier (bad magic or shorter than the header)".into(),
            ));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        let mut r = Reader { bytes: body, pos: 8 };
        let (version, dtype) = (r.u32()?, r.u32()?);
        if version != FORMAT_VERSION || dtype != DTYPE_F32 {
            return Err(err(
                8,
                format!(
                    "version {version} dtype {dtype}; this build reads version {FORMAT_VERSION} with f32"
                ),
            ));
        }
        let stored =
            u64::from_le_bytes(tail.try_into().map_err(|_| err(body.len(), "no checksum".into()))?);
        if xxh3_64(body) != stored {
            return Err(err(
                body.len(),
                "checksum mismatch: the file is truncated or corrupt".into(),
            ));
        }
        let (dim, buckets, word_ngrams, nl) =
            (r.u32()? as usize, r.u32()?, r.u32()?, r.u32()? as usize);
        if dim == 0 || buckets == 0 || nl == 0 || !(1..=2).contains(&word_ngrams) {
            return Err(err(
                16,
                format!(
                    "bad dimensions dim={dim} buckets={buckets} word_ngrams={word_ngrams} labels={nl}"
                ),
            ));
        }
        let mut labels = Vec::with_capacity(nl.min(1 << 16));
        for _ in 0..nl {
            let (at, len) = (r.pos, r.u32()? as usize);
            let raw = r.take(len)?;
            labels.push(
                String::from_utf8(raw.to_vec())
                    .map_err(|_| err(at, "label is not UTF-8".into()))?,
            );
        }
        let want = 4 * (buckets as usize * dim + nl * dim + nl);
        if body.len() - r.pos != want {
            return Err(err(
                r.pos,
                format!("expected {want} bytes of parameters, found {}", body.len() - r.pos),
            ));
        }
        let embeddings = r.f32s(buckets as usize * dim)?;
        let weights = r.f32s(nl * dim)?;
        let bias = r.f32s(nl)?;
        Ok(Classifier { dim, buckets, word_ngrams, labels, embeddings, weights, bias })
    }

    /// Writes the model to `path` durably: a `.tmp` sibling, fsync, rename.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written or renamed.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::file::save(path, &self.to_bytes())
    }

    /// Reads a model written by [`Classifier::save`].
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, [`Error::Format`] if it is not a valid model.
    pub fn load(path: &Path) -> Result<Classifier> {
        crate::file::load(path, Classifier::from_bytes)
    }
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| Error::Format {
            context: format!("bytes at offset {}", self.pos),
            reason: "truncated".into(),
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>> {
        Ok(self
            .take(4 * n)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}
