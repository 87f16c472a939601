//! The flat token file of llm.c (and, minus its header, nanoGPT), byte by byte.
//!
//! llm.c's `dev/data/data_common.py` (`write_datafile`) writes one stream of tokens after a
//! header of 256 little-endian `int32`; its C data loader checks magic, version and the file
//! size. All integers are little-endian:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 4 | magic, `i32`: 20240520 (`88 d8 34 01`) for GPT-2, 20240801 (`a1 d9 34 01`) for Llama 3 |
//! | 4 | 4 | version, `i32`: 1 with `uint16` tokens (GPT-2), 7 with `uint32` tokens (Llama 3) |
//! | 8 | 4 | `N`, number of tokens, `i32` (so fewer than 2³¹) |
//! | 12 | 1012 | zero (the rest of the 256 × `i32` header) |
//! | 1024 | N·size | the tokens, `uint16` or `uint32` |
//!
//! The file is exactly `1024 + N·size` bytes. Documents are not indexed: they are told apart
//! by the end-of-text token between them. llm.c's preprocessing puts `<|endoftext|>` before
//! each document; tokenmill datasets append EOS after each one (`eos_id` in the manifest),
//! so [`export_flat`] writes the documents back to back as stored and they come out EOS-
//! separated just the same (the stream ends with EOS rather than starting with it).
//! nanoGPT's `train.bin` is the same `uint16` stream without the 1024-byte header.
//!
//! Example: tokens `[50256, 1, 2]` in the GPT-2 format are the 1,030 bytes
//! `88 d8 34 01 01 00 00 00 03 00 00 00`, 1,012 zero bytes, then `50 c4 01 00 02 00`.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::reader::open_shards;
use crate::writer::sync_dir;

/// Size of the llm.c header in bytes (256 × `i32`).
pub const FLAT_HEADER_LEN: usize = 1024;

/// Which llm.c header, and so which token width, a flat file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlatFormat {
    /// Magic 20240520, version 1, `uint16` tokens (vocabularies up to 65,536).
    Gpt2,
    /// Magic 20240801, version 7, `uint32` tokens.
    Llama3,
}

impl FlatFormat {
    /// The header magic number.
    pub fn magic(self) -> i32 {
        match self {
            FlatFormat::Gpt2 => 20_240_520,
            FlatFormat::Llama3 => 20_240_801,
        }
    }

    /// The header version number.
    pub fn version(self) -> i32 {
        match self {
            FlatFormat::Gpt2 => 1,
            FlatFormat::Llama3 => 7,
        }
    }

    /// Bytes per token.
    pub fn token_size(self) -> usize {
        match self {
            FlatFormat::Gpt2 => 2,
            FlatFormat::Llama3 => 4,
        }
    }

    /// The narrowest format whose tokens hold every id below `vocab_size`.
    pub fn for_vocab(vocab_size: u64) -> FlatFormat {
        if vocab_size <= 1 << 16 { FlatFormat::Gpt2 } else { FlatFormat::Llama3 }
    }

    fn from_header(magic: i32, version: i32) -> Option<FlatFormat> {
        [FlatFormat::Gpt2, FlatFormat::Llama3]
            .into_iter()
            .find(|f| f.magic() == magic && f.version() == version)
    }
}

/// The 1024-byte header for `n` tokens.
fn header(format: FlatFormat, n: i32) -> [u8; FLAT_HEADER_LEN] {
    let mut h = [0u8; FLAT_HEADER_LEN];
    for (i, v) in [format.magic(), format.version(), n].into_iter().enumerate() {
        h[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    h
}

/// Writes one flat file durably: tokens stream into `{path}.tmp` after a provisional
/// header; [`finish`](Self::finish) writes the real header, fsyncs and renames into place.
/// An unfinished writer removes its temporary file when dropped.
#[derive(Debug)]
pub struct FlatWriter {
    path: PathBuf,
    tmp: PathBuf,
    format: FlatFormat,
    out: Option<BufWriter<File>>,
    tokens: u64,
    scratch: Vec<u8>,
}

impl FlatWriter {
    /// Starts `path` (its directory must exist).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the temporary file cannot be created or written.
    pub fn create(path: &Path, format: FlatFormat) -> Result<FlatWriter> {
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        let file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&header(format, 0)).map_err(Error::io("write", &tmp))?;
        Ok(FlatWriter {
            path: path.to_path_buf(),
            tmp,
            format,
            out: Some(out),
            tokens: 0,
            scratch: Vec::new(),
        })
    }

    /// Appends tokens to the stream.
    ///
    /// # Errors
    ///
    /// [`Error::TokenOverflow`] for a token wider than the format (nothing is then written);
    /// [`Error::InvalidArgument`] past `i32::MAX` tokens, the most the header can count;
    /// [`Error::Io`] on write failure.
    pub fn add_tokens(&mut self, tokens: &[u32]) -> Result<()> {
        let dtype = match self.format {
            FlatFormat::Gpt2 => DType::U16,
            // int32 and uint32 share a little-endian encoding for ids below 2^31; above that
            // the bits are the same, so encode as uint32 directly.
            FlatFormat::Llama3 => DType::I32,
        };
        let max =
            if self.format == FlatFormat::Gpt2 { u64::from(u16::MAX) } else { u64::from(u32::MAX) };
        if let Some(&token) = tokens.iter().find(|&&t| u64::from(t) > max) {
            let shard = self.path.display().to_string();
            return Err(Error::TokenOverflow { shard, document: 0, token, dtype, max });
        }
        if self.tokens + tokens.len() as u64 > i32::MAX as u64 {
            let message = format!(
                "{}: more than {} tokens, the most an llm.c header can count; split the data",
                self.path.display(),
                i32::MAX
            );
            return Err(Error::InvalidArgument { message });
        }
        self.scratch.clear();
        dtype.encode_all(tokens, &mut self.scratch);
        let out = self.out.as_mut().ok_or_else(|| {
            Error::io("write", &self.tmp)(std::io::Error::other("flat writer already finished"))
        })?;
        out.write_all(&self.scratch).map_err(Error::io("write", &self.tmp))?;
        self.tokens += tokens.len() as u64;
        Ok(())
    }

    /// Writes the header, makes the file durable and moves it into place; returns the
    /// number of tokens.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if writing, syncing or renaming fails (the temporary file is removed).
    pub fn finish(mut self) -> Result<u64> {
        let tmp = self.tmp.clone();
        let out = self.out.take().ok_or_else(|| {
            Error::io("finish", &tmp)(std::io::Error::other("flat writer already finished"))
        })?;
        let mut file = out.into_inner().map_err(|e| Error::io("write", &tmp)(e.into_error()))?;
        // add_tokens keeps the count at most i32::MAX.
        let n = self.tokens as i32;
        file.seek(SeekFrom::Start(0)).map_err(Error::io("seek", &tmp))?;
        file.write_all(&header(self.format, n)).map_err(Error::io("write", &tmp))?;
        file.sync_all().map_err(Error::io("fsync", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(Error::io("rename", &tmp))?;
        let parent =
            self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        sync_dir(parent)?;
        Ok(self.tokens)
    }
}

impl Drop for FlatWriter {
    fn drop(&mut self) {
        // Best effort; after a successful finish the file has been renamed away.
        drop(self.out.take());
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Reads a whole flat file: its format and tokens.
///
/// # Errors
///
/// [`Error::Io`] if it cannot be read; [`Error::Format`] with the byte offset for a short
/// header, an unknown magic/version pair, a negative count or a size other than
/// `1024 + N·size`.
pub fn read_flat(path: &Path) -> Result<(FlatFormat, Vec<u32>)> {
    let bytes = fs::read(path).map_err(Error::io("read", path))?;
    let bad = |offset: usize, message: String| Error::Format {
        path: path.to_path_buf(),
        offset: offset as u64,
        message,
    };
    if bytes.len() < FLAT_HEADER_LEN {
        return Err(bad(
            bytes.len(),
            format!("truncated: {} bytes, shorter than the 1024-byte header", bytes.len()),
        ));
    }
    let int = |i: usize| {
        i32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]])
    };
    let (magic, version, n) = (int(0), int(1), int(2));
    let format = FlatFormat::from_header(magic, version).ok_or_else(|| {
        bad(
            0,
            format!("unknown magic {magic} / version {version}; expected 20240520/1 or 20240801/7"),
        )
    })?;
    let n = usize::try_from(n).map_err(|_| bad(8, format!("negative token count {n}")))?;
    let expected = FLAT_HEADER_LEN + n * format.token_size();
    if bytes.len() != expected {
        return Err(bad(
            bytes.len().min(expected),
            format!("file has {} bytes, the header's {n} tokens need {expected}", bytes.len()),
        ));
    }
    let body = &bytes[FLAT_HEADER_LEN..];
    let tokens = match format {
        FlatFormat::Gpt2 => {
            body.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).collect()
        }
        FlatFormat::Llama3 => {
            body.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
    };
    Ok((format, tokens))
}

/// Writes every document of the dataset in `dataset_dir`, in order, to the flat file
/// `out_file` in the narrowest format for its vocabulary ([`FlatFormat::for_vocab`]); returns
/// the number of tokens.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if the manifest has neither `eos_id` nor `bos_id` (documents
/// would run together) or the dataset has 2³¹ tokens or more; those of [`Manifest::read`],
/// [`IndexedDataset::open`](crate::IndexedDataset::open) and [`FlatWriter`].
pub fn export_flat(dataset_dir: &Path, out_file: &Path) -> Result<u64> {
    let manifest = Manifest::read(dataset_dir)?;
    if manifest.eos_id.is_none() && manifest.bos_id.is_none() {
        let message = format!(
            "{}: the manifest has no eos_id or bos_id, so documents could not be told apart in a flat file; \
             tokenize with an EOS token",
            dataset_dir.display()
        );
        return Err(Error::InvalidArgument { message });
    }
    if manifest.tokens > i32::MAX as u64 {
        let message = format!(
            "{}: {} tokens do not fit one llm.c file (< 2^31)",
            dataset_dir.display(),
            manifest.tokens
        );
        return Err(Error::InvalidArgument { message });
    }
    let (_, shards) = open_shards(dataset_dir, &manifest)?;
    let mut writer = FlatWriter::create(out_file, FlatFormat::for_vocab(manifest.vocab_size))?;
    let mut tokens = Vec::new();
    for ds in &shards {
        for i in 0..ds.len() {
            tokens.clear();
            ds.append_sequence(i, &mut tokens)?;
            writer.add_tokens(&tokens)?;
        }
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{sample_docs, write_dataset};
    use proptest::prelude::*;

    #[test]
    fn gpt2_golden_bytes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("train.bin");
        let mut w = FlatWriter::create(&path, FlatFormat::Gpt2).expect("create");
        w.add_tokens(&[50256, 1]).expect("add");
        w.add_tokens(&[2]).expect("add");
        assert_eq!(w.finish().expect("finish"), 3);
        let bytes = fs::read(&path).expect("read");
        let mut golden = vec![0x88, 0xd8, 0x34, 0x01, 1, 0, 0, 0, 3, 0, 0, 0];
        golden.resize(FLAT_HEADER_LEN, 0);
        golden.extend_from_slice(&[0x50, 0xc4, 1, 0, 2, 0]);
        assert_eq!(bytes, golden);
        assert_eq!(read_flat(&path).expect("read flat"), (FlatFormat::Gpt2, vec![50256, 1, 2]));
        assert!(!tmp.path().join("train.bin.tmp").exists());
    }

    #[test]
    fn llama3_header_and_wide_tokens() {
        let h = header(FlatFormat::Llama3, 2);
        assert_eq!(h[..12], [0xa1, 0xd9, 0x34, 0x01, 7, 0, 0, 0, 2, 0, 0, 0]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("l.bin");
        let mut w = FlatWriter::create(&path, FlatFormat::Llama3).expect("create");
        w.add_tokens(&[128_000, u32::MAX]).expect("add");
        w.finish().expect("finish");
        assert_eq!(read_flat(&path).expect("read"), (FlatFormat::Llama3, vec![128_000, u32::MAX]));
        let mut narrow = FlatWriter::create(&path, FlatFormat::Gpt2).expect("create");
        assert!(matches!(
            narrow.add_tokens(&[70_000]),
            Err(Error::TokenOverflow { token: 70_000, .. })
        ));
    }

    #[test]
    fn malformed_files_are_located() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("x.bin");
        let mut good = header(FlatFormat::Gpt2, 2).to_vec();
        good.extend_from_slice(&[1, 0, 2, 0]);
        let offset_of = |bytes: &[u8]| {
            fs::write(&path, bytes).expect("write");
            match read_flat(&path) {
                Err(Error::Format { offset, .. }) => Some(offset),
                _ => None,
            }
        };
        assert_eq!(offset_of(&good), None);
        assert_eq!(offset_of(&good[..1027]), Some(1027));
        assert_eq!(offset_of(&good[..100]), Some(100));
        let mut wrong_version = good.clone();
        wrong_version[4] = 7;
        assert_eq!(offset_of(&wrong_version), Some(0));
        let mut negative = good.clone();
        negative[11] = 0x80;
        assert_eq!(offset_of(&negative), Some(8));
    }

    #[test]
    fn export_concatenates_eos_terminated_documents() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("ds");
        let docs = sample_docs(40);
        let manifest = write_dataset(&dir, DType::U16, &docs, 100, "tok");
        let out = tmp.path().join("train.bin");
        assert_eq!(export_flat(&dir, &out).expect("export"), manifest.tokens);
        let (format, tokens) = read_flat(&out).expect("read");
        assert_eq!((format, tokens), (FlatFormat::Gpt2, docs.concat()));

        let mut m = manifest;
        (m.eos_id, m.bos_id) = (None, None);
        m.write(&dir).expect("rewrite manifest");
        assert!(matches!(export_flat(&dir, &out), Err(Error::InvalidArgument { .. })));
    }

    proptest! {
        #[test]
        fn write_read_round_trip(tokens in prop::collection::vec(any::<u32>(), 0..200), wide in any::<bool>()) {
            let format = if wide { FlatFormat::Llama3 } else { FlatFormat::Gpt2 };
            let tokens: Vec<u32> = if wide { tokens } else { tokens.into_iter().map(|t| t & 0xffff).collect() };
            let tmp = tempfile::tempdir().expect("tempdir");
            let path = tmp.path().join("f.bin");
            let mut w = FlatWriter::create(&path, format).expect("create");
            w.add_tokens(&tokens).expect("add");
            prop_assert_eq!(w.finish().expect("finish"), tokens.len() as u64);
            prop_assert_eq!(fs::metadata(&path).expect("stat").len() as usize, FLAT_HEADER_LEN + tokens.len() * format.token_size());
            prop_assert_eq!(read_flat(&path).expect("read"), (format, tokens));
        }
    }
}
