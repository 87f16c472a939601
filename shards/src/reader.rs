//! Reading shards: a memory-mapped [`IndexedDataset`] per shard.
//!
//! This is the only module that uses `unsafe`, for [`memmap2::Mmap::map`].

use std::fs::{self, File};
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::{Index, parse_idx};
use crate::manifest::Manifest;

/// One shard opened for reading: the `.idx` parsed into memory, the `.bin` memory-mapped.
///
/// Opening validates the header, the exact `.idx` size and that every sequence lies inside
/// the `.bin`, so [`get`](Self::get) never reads out of bounds. It accepts any valid Megatron
/// index (several sequences per document, gaps); [`verify_dir`](crate::verify_dir) checks
/// the stricter layout tokenmill writes.
#[derive(Debug)]
pub struct IndexedDataset {
    prefix: PathBuf,
    index: Index,
    bin: Mmap,
}

/// Appends `ext` to a path prefix (`dir/train_00000` -> `dir/train_00000.idx`).
pub(crate) fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(ext);
    PathBuf::from(s)
}

impl IndexedDataset {
    /// Opens `{prefix_path}.idx` and `{prefix_path}.bin`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if a file cannot be read or mapped; [`Error::Format`] with the file and
    /// byte offset if the index is malformed or does not fit the `.bin`.
    pub fn open(prefix_path: &Path) -> Result<Self> {
        let (idx_path, bin_path) = (with_ext(prefix_path, ".idx"), with_ext(prefix_path, ".bin"));
        let idx_bytes = fs::read(&idx_path).map_err(Error::io("read", &idx_path))?;
        let index = parse_idx(&idx_bytes).map_err(|d| Error::Format { path: idx_path.clone(), offset: d.offset, message: d.message })?;
        let file = File::open(&bin_path).map_err(Error::io("open", &bin_path))?;
        // SAFETY: the file is opened read-only and the mapping is never written through.
        // Mapped memory changes if another process modifies the file; shards are immutable
        // once committed (they are written under a .tmp name and renamed into place, never
        // rewritten), so no one truncates or edits a file we read. The bounds of every
        // sequence are checked against the mapped length below before any access.
        #[allow(unsafe_code)]
        let bin = unsafe { Mmap::map(&file) }.map_err(Error::io("memory-map", &bin_path))?;
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

    /// The document indices: document `j` is sequences `doc[j]..doc[j + 1]`.
    pub fn document_indices(&self) -> &[i64] {
        &self.index.doc_indices
    }

    /// Tokens per sequence.
    pub fn sequence_lengths(&self) -> &[i32] {
        &self.index.lengths
    }

    /// Byte offset of each sequence in the `.bin`.
    pub fn sequence_pointers(&self) -> &[i64] {
        &self.index.pointers
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
        let (&ptr, &n) = self.index.pointers.get(i).zip(self.index.lengths.get(i)).ok_or_else(out_of_range)?;
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
        dtype.decode_all(bytes, out).map_err(|(k, message)| Error::Format {
            path: with_ext(&self.prefix, ".bin"),
            offset: self.index.pointers[i] as u64 + (k * dtype.size()) as u64,
            message: format!("sequence {i}: {message}"),
        })
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
        dtype.check_all(bytes).map_err(|(k, message)| Error::Format {
            path: with_ext(&self.prefix, ".bin"),
            offset: self.index.pointers[i] as u64 + (k * dtype.size()) as u64,
            message: format!("sequence {i}: {message}"),
        })?;
        Ok(bytes)
    }

    /// Number of documents (one less than the number of document indices).
    pub fn num_documents(&self) -> usize {
        self.index.doc_indices.len().saturating_sub(1)
    }

    /// The sequences that make up document `j` (one, in shards tokenmill writes).
    ///
    /// # Errors
    ///
    /// [`Error::IndexOutOfRange`] if `j >= num_documents()`.
    pub fn document_sequences(&self, j: usize) -> Result<Range<usize>> {
        let docs = &self.index.doc_indices;
        let len = self.num_documents();
        match (docs.get(j), docs.get(j + 1)) {
            // `open` checked that the indices start at 0, never decrease and end at S.
            (Some(&a), Some(&b)) => Ok(a as usize..b as usize),
            _ => Err(Error::IndexOutOfRange { path: self.prefix.clone(), index: j, len }),
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
        assert_eq!(ds.document_indices(), [0, 1, 2]);
        assert_eq!(ds.sequence_lengths(), [3, 1]);
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
        assert_eq!(ds.document_indices(), [0]);
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

    fn dtype_and_docs() -> impl Strategy<Value = (DType, Vec<Vec<u32>>)> {
        prop_oneof![Just(DType::U8), Just(DType::U16), Just(DType::I16), Just(DType::I32), Just(DType::I64), Just(DType::F32),]
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
