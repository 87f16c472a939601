//! The Megatron indexed dataset format, byte by byte.
//!
//! A shard is a pair of files sharing a name: `{name}.bin` and `{name}.idx`. This is the
//! format read by `megatron-core`'s `IndexedDataset` (`MMIDIDX` version 1).
//!
//! # `.bin`
//!
//! The tokens of every sequence back to back, each element little-endian in the shard's
//! [`DType`], with no header, padding or separators. Sequence `i` starts at byte
//! `pointers[i]` and holds `lengths[i]` elements.
//!
//! # `.idx`
//!
//! All integers little-endian. `S` is the number of sequences, `D` the number of document
//! indices.
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 9 | magic `b"MMIDIDX\x00\x00"` |
//! | 9 | 8 | version, `u64` = 1 |
//! | 17 | 1 | dtype code, `u8` (see [`DType`]) |
//! | 18 | 8 | `S`, `u64` |
//! | 26 | 8 | `D`, `u64` |
//! | 34 | 4·S | sequence lengths, `i32[S]`, in elements |
//! | 34 + 4·S | 8·S | sequence pointers, `i64[S]`, byte offsets into `.bin` |
//! | 34 + 12·S | 8·D | document indices, `i64[D]`: document `j` is sequences `doc[j]..doc[j+1]` |
//!
//! The file is exactly `34 + 12·S + 8·D` bytes. tokenmill writes one sequence per document,
//! so `D = S + 1` and the document indices are `0, 1, ..., S`; pointers are contiguous
//! (`pointers[0] = 0`, `pointers[i+1] = pointers[i] + lengths[i]·size`).
//!
//! Example: documents `[1, 2, 3]` and `[4]` as `uint16` give the 8-byte `.bin`
//! `01 00 02 00 03 00 04 00` and a 34 + 24 + 24 = 82-byte `.idx` whose arrays are lengths
//! `[3, 1]`, pointers `[0, 6]` and document indices `[0, 1, 2]`.

use std::io::{self, Write};

use crate::dtype::DType;

/// The 9-byte magic at the start of every `.idx` file.
pub const IDX_MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";
/// The `.idx` format version this crate reads and writes.
pub const IDX_VERSION: u64 = 1;
/// Length of the fixed `.idx` header in bytes.
pub const IDX_HEADER_LEN: u64 = 34;

/// Expected size of an `.idx` with `s` sequences and `d` document indices (`u128`: a corrupt
/// header must not overflow).
pub(crate) fn idx_len(s: u64, d: u64) -> u128 {
    u128::from(IDX_HEADER_LEN) + 12 * u128::from(s) + 8 * u128::from(d)
}

/// Byte offset of `lengths[i]` in the `.idx`.
pub(crate) fn length_offset(i: usize) -> u64 {
    IDX_HEADER_LEN + 4 * i as u64
}

/// Byte offset of `pointers[i]` in an `.idx` with `s` sequences.
pub(crate) fn pointer_offset(s: usize, i: usize) -> u64 {
    IDX_HEADER_LEN + 4 * s as u64 + 8 * i as u64
}

/// Byte offset of `document_indices[i]` in an `.idx` with `s` sequences.
pub(crate) fn doc_index_offset(s: usize, i: usize) -> u64 {
    IDX_HEADER_LEN + 12 * s as u64 + 8 * i as u64
}

/// The byte offsets of contiguous sequences of the given lengths: `pointers[0] = 0`,
/// `pointers[i+1] = pointers[i] + lengths[i]·size`, in `i64` so that shards past 2³¹ tokens
/// (or bytes) are addressed exactly. Negative lengths count as 0.
pub fn sequence_pointers(dtype: DType, lengths: &[i32]) -> impl Iterator<Item = i64> + '_ {
    let size = dtype.size() as i64;
    lengths.iter().scan(0i64, move |next, &len| {
        let pointer = *next;
        *next += i64::from(len.max(0)) * size;
        Some(pointer)
    })
}

/// Writes a complete `.idx` for contiguous sequences of the given lengths, one per document.
pub(crate) fn write_idx<W: Write>(w: &mut W, dtype: DType, lengths: &[i32]) -> io::Result<()> {
    let s = lengths.len() as u64;
    w.write_all(IDX_MAGIC)?;
    w.write_all(&IDX_VERSION.to_le_bytes())?;
    w.write_all(&[dtype.code()])?;
    w.write_all(&s.to_le_bytes())?;
    w.write_all(&(s + 1).to_le_bytes())?;
    for len in lengths {
        w.write_all(&len.to_le_bytes())?;
    }
    for pointer in sequence_pointers(dtype, lengths) {
        w.write_all(&pointer.to_le_bytes())?;
    }
    for doc in 0..=s {
        w.write_all(&doc.to_le_bytes())?;
    }
    Ok(())
}

/// A checked `.idx` file: its header, and its three arrays read in place from the bytes.
///
/// `B` is whatever holds the bytes: a memory map in the reader, a `Vec` in the verifier, a
/// slice in tests. Nothing is copied out of them, so an `Index` costs a few words of memory
/// however many sequences it describes; the arrays are decoded (little-endian, unaligned) on
/// each access.
#[derive(Clone, PartialEq)]
pub(crate) struct Index<B = Vec<u8>> {
    pub dtype: DType,
    /// The whole file; [`parse_idx`] checked that it is exactly `34 + 12·S + 8·D` bytes.
    bytes: B,
    /// S, the number of sequences.
    s: usize,
    /// D, the number of document indices.
    d: usize,
}

impl<B> std::fmt::Debug for Index<B> {
    // Not derived: that would print every byte of the file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dtype", &self.dtype)
            .field("sequences", &self.s)
            .field("doc_indices", &self.d)
            .finish()
    }
}

/// A format violation at a byte offset of a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Defect {
    pub offset: u64,
    pub message: String,
}

impl Defect {
    fn new(offset: u64, message: impl Into<String>) -> Defect {
        Defect { offset, message: message.into() }
    }
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn le_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_i64(b: &[u8], at: usize) -> i64 {
    le_u64(b, at) as i64
}

fn le_i32s(b: &[u8]) -> impl ExactSizeIterator<Item = i32> + Clone + '_ {
    b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

fn le_i64s(b: &[u8]) -> impl ExactSizeIterator<Item = i64> + Clone + '_ {
    b.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
}

/// Checks an `.idx` file's header and exact size, and wraps its bytes as an [`Index`].
///
/// # Errors
///
/// The first [`Defect`]: truncated header, bad magic, version or dtype code, or a file size
/// that differs from `34 + 12·S + 8·D`.
pub(crate) fn parse_idx<B: AsRef<[u8]>>(bytes: B) -> Result<Index<B>, Defect> {
    let b = bytes.as_ref();
    let n = b.len() as u64;
    if n < IDX_HEADER_LEN {
        return Err(Defect::new(
            n,
            format!("truncated: {n} bytes, shorter than the {IDX_HEADER_LEN}-byte header"),
        ));
    }
    if let Some(at) = (0..IDX_MAGIC.len()).find(|&i| b[i] != IDX_MAGIC[i]) {
        return Err(Defect::new(at as u64, "bad magic, expected \"MMIDIDX\\0\\0\""));
    }
    let version = le_u64(b, 9);
    if version != IDX_VERSION {
        return Err(Defect::new(9, format!("unsupported version {version}, expected 1")));
    }
    let code = b[17];
    let dtype = DType::from_code(code)
        .ok_or_else(|| Defect::new(17, format!("unknown dtype code {code}")))?;
    let (s, d) = (le_u64(b, 18), le_u64(b, 26));
    let expected = idx_len(s, d);
    if u128::from(n) != expected {
        let (at, what) = if u128::from(n) < expected {
            (n, "truncated")
        } else {
            (expected as u64, "trailing bytes")
        };
        return Err(Defect::new(
            at,
            format!("{what}: file has {n} bytes, header (S={s}, D={d}) needs {expected}"),
        ));
    }
    // The size check bounds S and D by the file length, so these casts are lossless.
    Ok(Index { dtype, bytes, s: s as usize, d: d as usize })
}

/// Finds the first position where `bad` yields true and how many times it does.
fn first_bad(bad: impl Iterator<Item = bool>) -> Option<(usize, usize)> {
    let mut first = None;
    let mut count = 0;
    for (i, b) in bad.enumerate() {
        if b {
            first.get_or_insert(i);
            count += 1;
        }
    }
    first.map(|f| (f, count))
}

fn more(count: usize) -> String {
    if count > 1 { format!(" (and {} more)", count - 1) } else { String::new() }
}

impl<B: AsRef<[u8]>> Index<B> {
    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.s
    }

    /// Number of document indices (documents + 1 in a valid index).
    pub fn doc_indices_len(&self) -> usize {
        self.d
    }

    /// The bytes of one array: `count` elements of `width` bytes from byte `at`. In range:
    /// [`parse_idx`] checked that the file holds all three arrays.
    fn array(&self, at: u64, count: usize, width: usize) -> &[u8] {
        let at = at as usize;
        &self.bytes.as_ref()[at..at + count * width]
    }

    /// Tokens per sequence.
    pub fn lengths(&self) -> impl ExactSizeIterator<Item = i32> + Clone + '_ {
        le_i32s(self.array(length_offset(0), self.s, 4))
    }

    /// Byte offset of each sequence in the `.bin`.
    pub fn pointers(&self) -> impl ExactSizeIterator<Item = i64> + Clone + '_ {
        le_i64s(self.array(pointer_offset(self.s, 0), self.s, 8))
    }

    /// The document indices.
    pub fn doc_indices(&self) -> impl ExactSizeIterator<Item = i64> + Clone + '_ {
        le_i64s(self.array(doc_index_offset(self.s, 0), self.d, 8))
    }

    /// `lengths[i]`, if `i < S`.
    pub fn length(&self, i: usize) -> Option<i32> {
        (i < self.s).then(|| le_i32(self.bytes.as_ref(), length_offset(i) as usize))
    }

    /// `pointers[i]`, if `i < S`.
    pub fn pointer(&self, i: usize) -> Option<i64> {
        (i < self.s).then(|| le_i64(self.bytes.as_ref(), pointer_offset(self.s, i) as usize))
    }

    /// `doc_indices[j]`, if `j < D`.
    pub fn doc_index(&self, j: usize) -> Option<i64> {
        (j < self.d).then(|| le_i64(self.bytes.as_ref(), doc_index_offset(self.s, j) as usize))
    }

    /// Checks what any valid Megatron index satisfies, whoever wrote it: lengths are not
    /// negative, every sequence lies inside a `.bin` of `bin_len` bytes, and document indices
    /// start at 0, never decrease and end at `S`. Offsets are into the `.idx`. Streams over
    /// the arrays; the defects are at most one per kind.
    pub fn check_general(&self, bin_len: u64) -> Vec<Defect> {
        let s = self.len();
        let size = self.dtype.size() as i128;
        let mut defects = Vec::new();
        if let Some((i, n)) = first_bad(self.lengths().map(|len| len < 0)) {
            let msg =
                format!("sequence {i} has negative length {}", self.length(i).unwrap_or_default());
            defects.push(Defect::new(length_offset(i), msg + &more(n)));
        }
        let out_of_bounds = self.pointers().zip(self.lengths()).map(|(p, len)| {
            let (p, len) = (i128::from(p), i128::from(len));
            p < 0 || p % size != 0 || p + len.max(0) * size > i128::from(bin_len)
        });
        if let Some((i, n)) = first_bad(out_of_bounds) {
            let msg = format!(
                "sequence {i} (pointer {}, length {}) lies outside the {bin_len}-byte .bin \
                 or is misaligned",
                self.pointer(i).unwrap_or_default(),
                self.length(i).unwrap_or_default()
            );
            defects.push(Defect::new(pointer_offset(s, i), msg + &more(n)));
        }
        let d = self.doc_indices_len();
        match (self.doc_index(0), d.checked_sub(1).and_then(|last| self.doc_index(last))) {
            (Some(first), Some(last)) => {
                if first != 0 {
                    let msg = format!("first document index is {first}, expected 0");
                    defects.push(Defect::new(doc_index_offset(s, 0), msg));
                }
                let decreases =
                    self.doc_indices().zip(self.doc_indices().skip(1)).map(|(a, b)| b < a);
                if let Some((i, n)) = first_bad(decreases) {
                    let msg = format!("document indices decrease at entry {}", i + 1);
                    defects.push(Defect::new(doc_index_offset(s, i + 1), msg + &more(n)));
                }
                if last != s as i64 {
                    let msg = format!("last document index is {last}, expected S = {s}");
                    defects.push(Defect::new(doc_index_offset(s, d - 1), msg));
                }
            }
            _ => defects.push(Defect::new(
                doc_index_offset(s, 0),
                "no document indices (D = 0); expected at least [0]",
            )),
        }
        defects
    }

    /// Checks the layout tokenmill writes: one sequence per document (`D = S + 1`, document
    /// indices `0..=S`) and contiguous pointers starting at 0.
    pub fn check_tokenmill(&self) -> Vec<Defect> {
        let s = self.len();
        let size = self.dtype.size() as i64;
        let mut defects = Vec::new();
        let d = self.doc_indices_len();
        if d != s + 1 {
            let msg = format!("D = {d} document indices, expected S + 1 = {}", s + 1);
            defects.push(Defect::new(26, msg));
        } else if let Some((i, n)) =
            first_bad(self.doc_indices().enumerate().map(|(i, doc)| doc != i as i64))
        {
            let msg = format!(
                "document index {i} is {}, expected {i}",
                self.doc_index(i).unwrap_or_default()
            );
            defects.push(Defect::new(doc_index_offset(s, i), msg + &more(n)));
        }
        let mut expected = 0i64;
        let wrong = self.pointers().zip(self.lengths()).map(|(p, len)| {
            let bad = p != expected;
            expected = p.saturating_add(i64::from(len) * size);
            bad
        });
        if let Some((i, n)) = first_bad(wrong) {
            let msg = format!(
                "sequence pointer {i} is {}, not contiguous with the previous sequence",
                self.pointer(i).unwrap_or_default()
            );
            defects.push(Defect::new(pointer_offset(s, i), msg + &more(n)));
        }
        defects
    }

    /// Total tokens (negative lengths count as 0).
    pub fn num_tokens(&self) -> u64 {
        self.lengths().map(|l| l.max(0) as u64).sum()
    }
}

/// Documents `[1, 2, 3]` and `[4]` as uint16: the exact `.idx` bytes.
#[cfg(test)]
#[rustfmt::skip]
pub(crate) const GOLDEN_IDX_FOR_TESTS: [u8; 82] = [
    b'M', b'M', b'I', b'D', b'I', b'D', b'X', 0, 0, // magic
    1, 0, 0, 0, 0, 0, 0, 0, // version 1
    8, // dtype uint16
    2, 0, 0, 0, 0, 0, 0, 0, // S = 2
    3, 0, 0, 0, 0, 0, 0, 0, // D = 3
    3, 0, 0, 0, 1, 0, 0, 0, // lengths [3, 1]
    0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, // pointers [0, 6]
    0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, // docs [0, 1, 2]
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_idx_matches_golden_bytes() {
        let mut out = Vec::new();
        write_idx(&mut out, DType::U16, &[3, 1]).expect("write to Vec");
        assert_eq!(out, GOLDEN_IDX_FOR_TESTS);
        assert_eq!(idx_len(2, 3), 82);
    }

    #[test]
    fn parse_golden_and_check_clean() {
        let index = parse_idx(&GOLDEN_IDX_FOR_TESTS).expect("golden parses");
        assert_eq!(index.dtype, DType::U16);
        assert_eq!(index.lengths().collect::<Vec<_>>(), [3, 1]);
        assert_eq!(index.pointers().collect::<Vec<_>>(), [0, 6]);
        assert_eq!(index.doc_indices().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            (index.length(1), index.pointer(1), index.doc_index(2)),
            (Some(1), Some(6), Some(2))
        );
        assert_eq!((index.length(2), index.pointer(2), index.doc_index(3)), (None, None, None));
        assert!(index.check_general(8).is_empty());
        assert!(index.check_tokenmill().is_empty());
        assert_eq!(index.check_general(7)[0].offset, pointer_offset(2, 1));
    }

    #[test]
    fn parse_reports_offsets() {
        let mut bad = GOLDEN_IDX_FOR_TESTS;
        bad[3] ^= 1;
        assert_eq!(parse_idx(&bad).map_err(|d| d.offset), Err(3));
        let mut bad = GOLDEN_IDX_FOR_TESTS;
        bad[17] = 9;
        assert_eq!(parse_idx(&bad).map_err(|d| d.offset), Err(17));
        assert_eq!(parse_idx(&GOLDEN_IDX_FOR_TESTS[..81]).map_err(|d| d.offset), Err(81));
        assert_eq!(parse_idx(&GOLDEN_IDX_FOR_TESTS[..20]).map_err(|d| d.offset), Err(20));
        let mut long = GOLDEN_IDX_FOR_TESTS.to_vec();
        long.push(0);
        assert_eq!(parse_idx(&long).map_err(|d| d.offset), Err(82));
    }

    #[test]
    fn tokenmill_layout_violations_are_located() {
        let mut bytes = GOLDEN_IDX_FOR_TESTS;
        let at = |offset: u64| offset as usize..offset as usize + 8;
        bytes[at(pointer_offset(2, 1))].copy_from_slice(&8i64.to_le_bytes());
        bytes[at(doc_index_offset(2, 1))].copy_from_slice(&2i64.to_le_bytes());
        let index = parse_idx(&bytes).expect("still parses");
        let defects = index.check_tokenmill();
        let offsets: Vec<u64> = defects.iter().map(|d| d.offset).collect();
        assert_eq!(offsets, [doc_index_offset(2, 1), pointer_offset(2, 1)]);
    }
}
