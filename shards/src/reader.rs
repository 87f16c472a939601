//! Reading shards: a memory-mapped [`IndexedDataset`] per shard.
//!
//! This is the only module that uses `unsafe`, for [`memmap2::Mmap::map`].

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::{Index, parse_idx};
use crate::manifest::Manifest;

/// One shard opened for reading: the `.idx` and the `.bin` memory-mapped.
///
/// Opening validates the header, the exact `.idx` size and that every sequence lies inside
/// the `.bin`, so [`get`](Self::get) never reads out of bounds. It accepts any valid Megatron
/// index (several sequences per document, gaps); [`verify_dir`](crate::verify_dir) checks
/// the stricter layout tokenmill writes.
///
/// Memory: a few hundred bytes whatever the shard's size. Sequence lengths, pointers and
/// document indices are decoded from the mapped `.idx` on each access, never copied to the
/// heap, so a process can hold every shard of a corpus open; the mapped pages are page cache,
/// which the kernel reclaims under pressure.
#[derive(Debug)]
pub struct IndexedDataset {
    prefix: PathBuf,
    index: Index<Mmap>,
    bin: Mmap,
}

/// Appends `ext` to a path prefix (`dir/train_00000` -> `dir/train_00000.idx`).
pub(crate) fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(ext);
    PathBuf::from(s)
}

/// Memory-maps a whole file read-only.
fn map(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(Error::io("open", path))?;
    // SAFETY: the file is opened read-only and the mapping is never written through.
    // Mapped memory changes if another process modifies the file; shards are immutable once
    // committed (they are written under a .tmp name and renamed into place, never rewritten),
    // so no one truncates or edits a file we read. Every access is bounds-checked against the
    // mapped length: `parse_idx` checks the `.idx` size against its header, and `open` checks
    // every sequence against the `.bin` length.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&file) }.map_err(Error::io("memory-map", path))?;
    Ok(map)
}

impl IndexedDataset {
    /// Opens `{prefix_path}.idx` and `{prefix_path}.bin`.
    ///
    /// Validation reads the whole `.idx` once, streaming through the map.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if a file cannot be opened or mapped; [`Error::Format`] with the file and
    /// byte offset if the index is malformed or does not fit the `.bin`.
    pub fn open(prefix_path: &Path) -> Result<Self> {
        let (idx_path, bin_path) = (with_ext(prefix_path, ".idx"), with_ext(prefix_path, ".bin"));
        let index = parse_idx(map(&idx_path)?).map_err(|d| Error::Format {
            path: idx_path.clone(),
            offset: d.offset,
            message: d.message,
        })?;
        let bin = map(&bin_path)?;
        if let Some(d) = index.check_general(bin.len() as u64).into_iter().next() {
            return Err(Error::Format { path: idx_path, offset: d.offset, message: d.message });
        }
        Ok(IndexedDataset { prefix: prefix_path.to_path_buf(), index, bin })
    }

    /// The token dtype.
    pub fn dtype(&self) -> DType {
        self.index.dtype
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the shard has no sequences.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The document indices, read from the mapped `.idx`: document `j` is sequences
    /// `doc[j]..doc[j + 1]`.
    pub fn document_indices(&self) -> impl ExactSizeIterator<Item = i64> + Clone + '_ {
        self.index.doc_indices()
    }

    /// Tokens per sequence, read from the mapped `.idx`.
    pub fn sequence_lengths(&self) -> impl ExactSizeIterator<Item = i32> + Clone + '_ {
        self.index.lengths()
    }

    /// Byte offset of each sequence in the `.bin`, read from the mapped `.idx`.
    pub fn sequence_pointers(&self) -> impl ExactSizeIterator<Item = i64> + Clone + '_ {
        self.index.pointers()
    }

    /// Document index `j`, if `j < num_documents() + 1`.
    pub fn document_index(&self, j: usize) -> Option<i64> {
        self.index.doc_index(j)
    }

    /// Tokens in sequence `i`, if `i < len()`.
    pub fn sequence_length(&self, i: usize) -> Option<i32> {
        self.index.length(i)
    }

    /// Byte offset of sequence `i` in the `.bin`, if `i < len()`.
    pub fn sequence_pointer(&self, i: usize) -> Option<i64> {
        self.index.pointer(i)
    }

    /// Total tokens over all sequences.
    pub fn num_tokens(&self) -> u64 {
        self.index.num_tokens()
    }

    /// The raw little-endian bytes of sequence `i`.
    ///
    /// # Errors
    ///
    /// [`Error::IndexOutOfRange`] if `i >= len()`.
    pub fn get_bytes(&self, i: usize) -> Result<&[u8]> {
        let len = self.len();
        let out_of_range = || Error::IndexOutOfRange { path: self.prefix.clone(), index: i, len };
        let (ptr, n) = self.index.pointer(i).zip(self.index.length(i)).ok_or_else(out_of_range)?;
        // `open` checked 0 <= ptr and ptr + n * size <= bin.len(), so these are in range.
        let start = ptr as usize;
        let end = start + n as usize * self.dtype().size();
        self.bin.get(start..end).ok_or_else(out_of_range)
    }

    /// The tokens of sequence `i`.
    ///
    /// # Errors
    ///
    /// [`Error::IndexOutOfRange`] if `i >= len()`; [`Error::Format`] (offset into the `.bin`)
    /// for a value that is not a token id: negative, above `u32::MAX` or fractional.
    pub fn get(&self, i: usize) -> Result<Vec<u32>> {
        let mut tokens = Vec::new();
        self.append_sequence(i, &mut tokens)?;
        Ok(tokens)
    }

    /// Appends the tokens of sequence `i` to `out` (reusing its allocation).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get); `out` is then left as it was.
    pub fn append_sequence(&self, i: usize, out: &mut Vec<u32>) -> Result<()> {
        let dtype = self.dtype();
        let bytes = self.get_bytes(i)?;
        dtype.decode_all(bytes, out).map_err(|(k, message)| self.bad_token(i, k, message))
    }

    /// A [`Error::Format`] for element `k` of sequence `i < len()`, located in the `.bin`.
    fn bad_token(&self, i: usize, k: usize, message: String) -> Error {
        let start = self.index.pointer(i).unwrap_or_default() as u64;
        Error::Format {
            path: with_ext(&self.prefix, ".bin"),
            offset: start + (k * self.dtype().size()) as u64,
            message: format!("sequence {i}: {message}"),
        }
    }

    /// The raw bytes of sequence `i`, after checking that every element is a token id
    /// (cheaper than decoding: free for `uint16`).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_checked_bytes(&self, i: usize) -> Result<&[u8]> {
        let dtype = self.dtype();
        let bytes = self.get_bytes(i)?;
        dtype.check_all(bytes).map_err(|(k, message)| self.bad_token(i, k, message))?;
        Ok(bytes)
    }

    /// Number of documents (one less than the number of document indices).
    pub fn num_documents(&self) -> usize {
        self.index.doc_indices_len().saturating_sub(1)
    }

    /// The sequences that make up document `j` (one, in shards tokenmill writes).
    ///
    /// # Errors
    ///
    /// [`Error::IndexOutOfRange`] if `j >= num_documents()`.
    pub fn document_sequences(&self, j: usize) -> Result<Range<usize>> {
        let next = j.checked_add(1).and_then(|k| self.index.doc_index(k));
        match (self.index.doc_index(j), next) {
            // `open` checked that the indices start at 0, never decrease and end at S.
            (Some(a), Some(b)) => Ok(a as usize..b as usize),
            _ => Err(Error::IndexOutOfRange {
                path: self.prefix.clone(),
                index: j,
                len: self.num_documents(),
            }),
        }
    }

    /// Path prefix of the shard (`dir/name`, without extension).
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }
}

/// Opens every shard of a dataset whose manifest has been read, checking that each shard's
/// dtype matches the manifest's; returns the dtype and the shards in dataset order.
///
/// # Errors
///
/// [`Error::UnsupportedManifest`] for an unknown dtype name; [`Error::Incompatible`] for a
/// shard of another dtype; those of [`IndexedDataset::open`].
pub(crate) fn open_shards(dir: &Path, manifest: &Manifest) -> Result<(DType, Vec<IndexedDataset>)> {
    let dtype = DType::from_name(&manifest.dtype).ok_or_else(|| Error::UnsupportedManifest {
        path: dir.join(crate::manifest::MANIFEST_FILE),
        message: format!("unknown dtype {:?}", manifest.dtype),
    })?;
    let mut shards = Vec::with_capacity(manifest.shards.len());
    for shard in &manifest.shards {
        let ds = IndexedDataset::open(&dir.join(&shard.name))?;
        if ds.dtype() != dtype {
            let message = format!("shard dtype {} differs from the manifest's {dtype}", ds.dtype());
            return Err(Error::Incompatible { path: with_ext(ds.prefix(), ".idx"), message });
        }
        shards.push(ds);
    }
    Ok((dtype, shards))
}

/// Reads every document of every shard listed in `dir/manifest.json`, in dataset order.
/// Meant for tests and small datasets: everything is loaded into memory.
///
/// # Errors
///
/// Those of [`Manifest::read`], [`IndexedDataset::open`] and [`IndexedDataset::get`].
pub fn read_dataset_tokens(dir: &Path) -> Result<Vec<Vec<u32>>> {
    let manifest = Manifest::read(dir)?;
    let mut docs = Vec::new();
    for shard in &manifest.shards {
        let ds = IndexedDataset::open(&dir.join(&shard.name))?;
        for i in 0..ds.len() {
            docs.push(ds.get(i)?);
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::ShardWriter;
    use proptest::prelude::*;
    use std::fs;

    fn write(dir: &Path, dtype: DType, docs: &[Vec<u32>]) -> crate::ShardInfo {
        let mut w = ShardWriter::create(dir, "s", dtype).expect("create");
        for d in docs {
            w.add_document(d).expect("add");
        }
        w.finish().expect("finish")
    }

    #[test]
    fn golden_bytes_and_read_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let info = write(tmp.path(), DType::U16, &[vec![1, 2, 3], vec![4]]);
        let bin = fs::read(tmp.path().join("s.bin")).expect("bin");
        assert_eq!(bin, [1, 0, 2, 0, 3, 0, 4, 0]);
        let idx = fs::read(tmp.path().join("s.idx")).expect("idx");
        assert_eq!(idx, crate::format::GOLDEN_IDX_FOR_TESTS);
        assert_eq!((info.bin_bytes, info.idx_bytes), (8, 82));
        assert_eq!(info.bin_xxh3, crate::writer::hex128(xxhash_rust::xxh3::xxh3_128(&bin)));
        assert_eq!(info.idx_xxh3.len(), 32);

        let ds = IndexedDataset::open(&tmp.path().join("s")).expect("open");
        assert_eq!((ds.len(), ds.num_tokens(), ds.dtype()), (2, 4, DType::U16));
        assert_eq!(ds.document_indices().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(ds.sequence_lengths().collect::<Vec<_>>(), [3, 1]);
        assert_eq!(ds.sequence_pointers().collect::<Vec<_>>(), [0, 6]);
        assert_eq!(
            (ds.document_index(2), ds.sequence_length(1), ds.sequence_pointer(1)),
            (Some(2), Some(1), Some(6))
        );
        assert_eq!(
            (ds.document_index(3), ds.sequence_length(2), ds.sequence_pointer(2)),
            (None, None, None)
        );
        assert_eq!(ds.document_sequences(1).expect("document 1"), 1..2);
        assert!(matches!(ds.document_sequences(2), Err(Error::IndexOutOfRange { .. })));
        assert!(matches!(ds.document_sequences(usize::MAX), Err(Error::IndexOutOfRange { .. })));
        assert_eq!(ds.get(0).expect("get 0"), [1, 2, 3]);
        assert_eq!(ds.get(1).expect("get 1"), [4]);
        assert!(matches!(ds.get(2), Err(Error::IndexOutOfRange { .. })));
    }

    #[test]
    fn empty_shard_round_trips() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let info = write(tmp.path(), DType::I32, &[]);
        assert_eq!((info.documents, info.bin_bytes, info.idx_bytes), (0, 0, 42));
        let ds = IndexedDataset::open(&tmp.path().join("s")).expect("open");
        assert!(ds.is_empty());
        assert_eq!(ds.document_indices().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn negative_int32_token_is_a_format_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(tmp.path(), DType::I32, &[vec![5, 6]]);
        let bin = tmp.path().join("s.bin");
        fs::write(&bin, [5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).expect("rewrite bin");
        let ds = IndexedDataset::open(&tmp.path().join("s")).expect("open");
        match ds.get(0) {
            Err(Error::Format { path, offset, .. }) => assert_eq!((path, offset), (bin, 4)),
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn truncated_bin_is_rejected_on_open() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(tmp.path(), DType::U16, &[vec![1, 2, 3], vec![4]]);
        let bin = tmp.path().join("s.bin");
        fs::write(&bin, [1, 0, 2, 0, 3, 0, 4]).expect("truncate");
        let err = IndexedDataset::open(&tmp.path().join("s")).expect_err("truncated");
        assert!(err.to_string().contains("s.idx: at byte 50"), "{err}");
    }

    /// Header, size and layout defects of the mapped `.idx` are reported with its path and
    /// the byte offset, as when the index was read into memory.
    #[test]
    fn idx_defects_are_located_on_open() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(tmp.path(), DType::U16, &[vec![1, 2, 3], vec![4]]);
        let (prefix, idx) = (tmp.path().join("s"), tmp.path().join("s.idx"));
        let golden = crate::format::GOLDEN_IDX_FOR_TESTS;
        let open_err = |bytes: &[u8]| {
            fs::write(&idx, bytes).expect("rewrite idx");
            match IndexedDataset::open(&prefix) {
                Err(Error::Format { path, offset, message }) => {
                    assert_eq!(path, idx);
                    (offset, message)
                }
                other => panic!("expected a format error, got {other:?}"),
            }
        };
        assert_eq!(open_err(&golden[..20]).0, 20);
        assert_eq!(open_err(&golden[..81]).0, 81);
        assert_eq!(open_err(&[]).0, 0);
        let mut bad = golden;
        bad[2] = b'X';
        assert_eq!(open_err(&bad).0, 2);
        let mut bad = golden;
        bad[34..38].copy_from_slice(&(-1i32).to_le_bytes());
        let (offset, message) = open_err(&bad);
        assert_eq!(offset, 34);
        assert!(message.contains("negative length -1"), "{message}");
        let mut bad = golden;
        bad[66..74].copy_from_slice(&5i64.to_le_bytes());
        let (offset, message) = open_err(&bad);
        assert_eq!(offset, crate::format::doc_index_offset(2, 2));
        assert!(message.contains("decrease at entry 2"), "{message}");
    }

    fn dtype_and_docs() -> impl Strategy<Value = (DType, Vec<Vec<u32>>)> {
        prop_oneof![
            Just(DType::U8),
            Just(DType::U16),
            Just(DType::I16),
            Just(DType::I32),
            Just(DType::I64),
            Just(DType::F32),
        ]
        .prop_flat_map(|dtype| {
            let max = dtype.max_token().min(u64::from(u32::MAX)) as u32;
            let doc = prop::collection::vec(0..=max, 0..40);
            (Just(dtype), prop::collection::vec(doc, 0..20))
        })
    }

    proptest! {
        #[test]
        fn write_then_read_is_identity((dtype, docs) in dtype_and_docs()) {
            let tmp = tempfile::tempdir().expect("tempdir");
            let info = write(tmp.path(), dtype, &docs);
            let tokens: usize = docs.iter().map(Vec::len).sum();
            prop_assert_eq!(info.tokens, tokens as u64);
            prop_assert_eq!(info.bin_bytes, (tokens * dtype.size()) as u64);
            let ds = IndexedDataset::open(&tmp.path().join("s")).expect("open");
            prop_assert_eq!(ds.dtype(), dtype);
            let back: Vec<Vec<u32>> = (0..ds.len()).map(|i| ds.get(i).expect("get")).collect();
            prop_assert_eq!(back, docs);
        }
    }
}
