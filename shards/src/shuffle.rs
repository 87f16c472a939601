//! Seeded, document-level, global shuffle of a dataset larger than memory.
//!
//! Document `i` of the dataset (numbered from 0 in dataset order, across shards) gets the
//! 64-bit key `kᵢ`, the `(i + 1)`-th output of a [`SplitMix64`] stream seeded with `seed`. The
//! output is the input documents sorted by (key, input position): sorting by independent
//! uniform keys gives a uniformly random permutation (two documents tie with probability
//! 2⁻⁶⁴, and a tie keeps input order). It depends **only on the input and the seed**, not on
//! `memory_budget`, the bucket count or the machine: the budget decides how the work is
//! split, never the result. Sorting by key stands in for a Fisher–Yates pass, which would tie
//! the order to the bucket layout.
//!
//! Only document numbers are sorted; tokens are never buffered. They are copied from the
//! memory-mapped input shards straight into a [`ShardSetWriter`] in the final order, so they
//! cross the page cache twice (read, write). [`shuffle_dataset`] sorts in memory when the
//! dataset's records fit in half of `memory_budget` and otherwise in two passes:
//!
//! 1. **Scatter.** Every document number, in dataset order, is appended to bucket
//!    `b = ⌊kᵢ · B / 2⁶⁴⌋`, a file under `{output}/.shuffle-tmp/`. The B buckets split the key
//!    space into equal ranges, with `B = ⌈24 · documents / (memory_budget / 2)⌉`, so a sorted
//!    bucket takes about half the budget. Each bucket buffers `max(budget / 2B, 4 KiB)` bytes
//!    and is appended to its file when that fills.
//! 2. **Gather.** Buckets are read in key order; each is loaded whole, its keys recomputed,
//!    sorted and its documents written. Bucket files are deleted as they are consumed, then
//!    the temporary directory, then the manifest is written.
//!
//! With B = 1 no file is written: the keys of all documents are sorted in memory.
//!
//! Memory: 24 bytes per document of the bucket being sorted (half the budget on average; more
//! than the whole budget only with vanishing probability), or in pass 1 half the budget of
//! buffers (at least 4 KiB per bucket); plus the output writer's buffer (1 MiB, and 4 bytes
//! per document of the output shard being written) and a few hundred bytes per input shard:
//! the [`IndexedDataset`] readers map each `.idx` and `.bin` instead of loading them, so
//! nothing grows with the number of input documents outside the budget (the mapped pages are
//! page cache, which the kernel reclaims). Disk: 8 bytes per document.
//! The budget must be at least 1/32,768 of the token bytes and of the 24 bytes per document
//! (at most 65,536 buckets); the token term is the limit of the earlier design, which copied
//! tokens into the buckets, kept so that budgets it refused are still refused.
//!
//! The final pass reads the input in random order, one document at a time: cheap from the
//! page cache or an SSD, slow from a spinning disk holding a dataset larger than memory.
//!
//! # Bucket records
//!
//! A bucket file is document numbers back to back, each a little-endian `u64`, in dataset
//! order. It is private to one run.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::reader::{IndexedDataset, open_shards};
use crate::set::{ShardSetWriter, ShardTarget};

/// Name of the temporary directory inside the output directory.
pub const SHUFFLE_TMP_DIR: &str = ".shuffle-tmp";
/// Most buckets a shuffle uses: bounds the files in the temporary directory.
const MAX_BUCKETS: u64 = 1 << 16;
/// Bytes of a bucket record (a document number).
const RECORD_BYTES: usize = 8;
/// Memory per document while its bucket is sorted: the record as read plus (key, number).
const SORT_BYTES_PER_DOC: u64 = 24;
/// The SplitMix64 increment (2⁶⁴ / φ, odd).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64 (Steele, Lea & Flood, 2014): a tiny, fast, well-mixed 64-bit generator.
/// Plenty for shuffle keys; not for cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The key of document `doc`: output `doc + 1` of `SplitMix64::new(seed)`, computed directly
/// (the state only ever adds the increment) so that a bucket can recompute its keys.
fn key_of(seed: u64, doc: u64) -> u64 {
    SplitMix64(seed.wrapping_add(doc.wrapping_mul(GOLDEN_GAMMA))).next_u64()
}

/// Shuffles the dataset in `input` (a directory with `manifest.json`) into shards
/// `{prefix}_{index:05}` in `output`, rolled over at `target`, and writes `output`'s manifest
/// (provenance copied from the input's, totals and shards new). See the [module
/// docs](self) for the algorithm, memory use and determinism: the order depends only on the
/// input and `seed`. `memory_budget` is in bytes.
///
/// Any manifest already in `output` is removed first, so an interrupted run leaves no
/// manifest; rerunning it starts over.
///
/// # Errors
///
/// Those of [`Manifest::read`] and [`IndexedDataset::open`] for the input;
/// [`Error::Format`] for a token that is not an id; [`Error::InvalidArgument`] if `output`
/// is `input` or the budget would need more than 65,536 buckets; [`Error::Io`] and those of
/// [`ShardSetWriter`] while writing. On error the temporary directory and unfinished
/// shards are removed.
pub fn shuffle_dataset(
    input: &Path,
    output: &Path,
    prefix: &str,
    seed: u64,
    memory_budget: u64,
    target: ShardTarget,
) -> Result<Manifest> {
    let manifest = Manifest::read(input)?;
    let (dtype, shards) = open_shards(input, &manifest)?;
    fs::create_dir_all(output).map_err(Error::io("create directory", output))?;
    if same_dir(input, output) {
        let message =
            format!("shuffle output {} is the input directory; choose another", output.display());
        return Err(Error::InvalidArgument { message });
    }
    let mut corpus = Corpus::new(&shards);
    let token_bytes: u64 = shards.iter().map(|s| s.num_tokens() * dtype.size() as u64).sum();
    let half = (memory_budget / 2).max(1);
    let buckets = bucket_count(token_bytes, corpus.len(), memory_budget)?;
    remove_if_exists(&output.join(MANIFEST_FILE))?;
    let tmp = TmpDir::create(output.join(SHUFFLE_TMP_DIR), buckets > 1)?;
    let mut set = ShardSetWriter::new(output, prefix, dtype, target)?;
    let mut keyed = Vec::new();
    if buckets == 1 {
        keyed.extend((0..corpus.len()).map(|doc| (key_of(seed, doc), doc)));
        write_sorted(&mut keyed, &mut corpus, &mut set)?;
    } else {
        scatter(corpus.len(), &tmp.0, buckets, seed, half)?;
        let mut buf = Vec::new();
        for b in 0..buckets {
            gather(&bucket_path(&tmp.0, b), seed, &mut buf, &mut keyed, &mut corpus, &mut set)?;
        }
    }
    let out = manifest.derive(set.finish()?);
    tmp.remove()?;
    out.write(output)?;
    Ok(out)
}

/// The number of buckets for `documents` documents holding `token_bytes` bytes of tokens; see
/// the module docs.
fn bucket_count(token_bytes: u64, documents: u64, memory_budget: u64) -> Result<usize> {
    let half = (memory_budget / 2).max(1);
    let sort_bytes = documents.saturating_mul(SORT_BYTES_PER_DOC);
    let needed = token_bytes.max(sort_bytes);
    if needed.div_ceil(half) > MAX_BUCKETS {
        let message = format!(
            "memory budget of {memory_budget} bytes is too small to shuffle {token_bytes} bytes of tokens \
             in {documents} documents (at most {MAX_BUCKETS} buckets of half the budget each); raise it to at least {}",
            2 * needed.div_ceil(MAX_BUCKETS)
        );
        return Err(Error::InvalidArgument { message });
    }
    Ok(sort_bytes.div_ceil(half).max(1) as usize)
}

/// Whether two existing directories are the same one.
pub(crate) fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(a), Ok(b)) if a == b)
}

/// Removes a file, if there is one.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io("remove", path)(e)),
        _ => Ok(()),
    }
}

fn bucket_path(dir: &Path, b: usize) -> PathBuf {
    dir.join(format!("bucket_{b:05}"))
}

/// The shuffle's temporary directory, removed (with its contents) on drop.
#[derive(Debug)]
struct TmpDir(PathBuf);

impl TmpDir {
    /// Clears what an interrupted run left at `path`, then creates the directory empty if
    /// `create` (an in-memory shuffle needs none).
    fn create(path: PathBuf, create: bool) -> Result<TmpDir> {
        if path.exists() {
            fs::remove_dir_all(&path).map_err(Error::io("remove", &path))?;
        }
        if create {
            fs::create_dir_all(&path).map_err(Error::io("create directory", &path))?;
        }
        Ok(TmpDir(path))
    }

    fn remove(self) -> Result<()> {
        match fs::remove_dir_all(&self.0) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io("remove", &self.0)(e)),
            _ => Ok(()),
        }
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        // Best effort after an error; after `remove` the directory is already gone.
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The documents of a dataset, numbered from 0 in dataset order across its shards.
struct Corpus<'a> {
    shards: &'a [IndexedDataset],
    /// The number of the first document of each shard, then the total.
    starts: Vec<u64>,
    /// Holds a document made of several sequences, which need not be adjacent in the `.bin`.
    scratch: Vec<u8>,
}

impl<'a> Corpus<'a> {
    fn new(shards: &'a [IndexedDataset]) -> Self {
        let mut starts = vec![0];
        for ds in shards {
            starts.push(starts[starts.len() - 1] + ds.num_documents() as u64);
        }
        Corpus { shards, starts, scratch: Vec::new() }
    }

    /// Number of documents.
    fn len(&self) -> u64 {
        self.starts[self.starts.len() - 1]
    }

    /// The tokens of document `doc < len()` in the dataset dtype, checked to be token ids:
    /// borrowed from the mapped `.bin` when the document is one sequence.
    fn bytes(&mut self, doc: u64) -> Result<&[u8]> {
        // The last shard starting at or before `doc`: empty shards before it are skipped.
        let s = self.starts.partition_point(|&start| start <= doc) - 1;
        let ds = &self.shards[s];
        let seqs = ds.document_sequences((doc - self.starts[s]) as usize)?;
        if seqs.len() == 1 {
            return ds.get_checked_bytes(seqs.start);
        }
        self.scratch.clear();
        for i in seqs {
            self.scratch.extend_from_slice(ds.get_checked_bytes(i)?);
        }
        Ok(&self.scratch)
    }
}

/// Sorts `(key, document)` pairs (ties in input order) and writes the documents in that
/// order to `set`.
fn write_sorted(
    keyed: &mut [(u64, u64)],
    corpus: &mut Corpus<'_>,
    set: &mut ShardSetWriter,
) -> Result<()> {
    keyed.sort_unstable();
    for &(_, doc) in keyed.iter() {
        set.add_encoded(corpus.bytes(doc)?)?;
    }
    Ok(())
}

/// Pass 1: appends the numbers of documents `0..documents` to their buckets. Each bucket
/// buffers up to `max(cap / buckets, 4 KiB)` bytes and is appended to its file when full.
fn scatter(documents: u64, dir: &Path, buckets: usize, seed: u64, cap: u64) -> Result<()> {
    let chunk = (cap / buckets as u64).max(4096) as usize;
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); buckets];
    for doc in 0..documents {
        let b = bucket_of(key_of(seed, doc), buckets);
        let buf = &mut buffers[b];
        if buf.capacity() == 0 {
            buf.reserve_exact(chunk);
        }
        buf.extend_from_slice(&doc.to_le_bytes());
        if buf.len() + RECORD_BYTES > chunk {
            append_to_bucket(dir, b, buf)?;
            buf.clear();
        }
    }
    for (b, buf) in buffers.iter().enumerate().filter(|(_, buf)| !buf.is_empty()) {
        append_to_bucket(dir, b, buf)?;
    }
    Ok(())
}

/// The bucket of a key: buckets are equal, ordered ranges of the key space.
fn bucket_of(key: u64, buckets: usize) -> usize {
    ((u128::from(key) * buckets as u128) >> 64) as usize
}

/// Appends `bytes` to bucket file `b`. Files are opened per append: there may be more
/// buckets than open files allowed.
fn append_to_bucket(dir: &Path, b: usize, bytes: &[u8]) -> Result<()> {
    let path = bucket_path(dir, b);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    file.write_all(bytes).map_err(Error::io("write", &path))
}

/// Pass 2 for one bucket: loads it into `buf`, its `(key, document)` pairs into `keyed`
/// (both reused across buckets), and writes its documents in key order to `set`.
fn gather(
    path: &Path,
    seed: u64,
    buf: &mut Vec<u8>,
    keyed: &mut Vec<(u64, u64)>,
    corpus: &mut Corpus<'_>,
    set: &mut ShardSetWriter,
) -> Result<()> {
    buf.clear();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(buf).map_err(Error::io("read", path))?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()), // no document drew it
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    keyed.clear();
    parse_records(buf, corpus.len(), |doc| keyed.push((key_of(seed, doc), doc))).map_err(
        |(offset, message)| Error::Format {
            path: path.to_path_buf(),
            offset,
            message: message.to_string(),
        },
    )?;
    write_sorted(keyed, corpus, set)?;
    fs::remove_file(path).map_err(Error::io("remove", path))
}

/// Passes each document number of a bucket to `each`; the error is an offset and a reason.
fn parse_records(
    bytes: &[u8],
    documents: u64,
    mut each: impl FnMut(u64),
) -> std::result::Result<(), (u64, &'static str)> {
    let records = bytes.chunks_exact(RECORD_BYTES);
    if !records.remainder().is_empty() {
        return Err(((bytes.len() - records.remainder().len()) as u64, "truncated record"));
    }
    for (k, record) in records.enumerate() {
        let doc = u64::from_le_bytes([
            record[0], record[1], record[2], record[3], record[4], record[5], record[6], record[7],
        ]);
        if doc >= documents {
            return Err(((k * RECORD_BYTES) as u64, "document number past the end of the dataset"));
        }
        each(doc);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::testutil::{sample_docs, write_dataset};
    use crate::{VerifyOptions, read_dataset_tokens, verify_dir};
    use proptest::prelude::*;

    const TARGET: ShardTarget = ShardTarget { max_tokens: Some(300), max_bytes: None };

    /// The order the module docs promise: documents sorted by their key, ties in input order.
    fn expected_order(docs: &[Vec<u32>], seed: u64) -> Vec<Vec<u32>> {
        let mut rng = SplitMix64::new(seed);
        let mut keyed: Vec<(u64, &Vec<u32>)> = docs.iter().map(|d| (rng.next_u64(), d)).collect();
        keyed.sort_by_key(|k| k.0);
        keyed.into_iter().map(|(_, d)| d.clone()).collect()
    }

    fn shuffled(input: &Path, out: &Path, seed: u64, budget: u64) -> Vec<Vec<u32>> {
        shuffle_dataset(input, out, "shuf", seed, budget, TARGET).expect("shuffle");
        read_dataset_tokens(out).expect("read shuffled")
    }

    #[test]
    fn splitmix64_matches_reference_stream() {
        // First outputs for seed 0 of the reference C implementation (Vigna's splitmix64.c).
        let mut rng = SplitMix64::new(0);
        assert_eq!(
            [rng.next_u64(), rng.next_u64()],
            [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4]
        );
    }

    #[test]
    fn output_is_a_verified_permutation_with_copied_provenance() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
        let docs = sample_docs(500);
        let source = write_dataset(&input, DType::U16, &docs, 1000, "tok");
        // ~21 KB of tokens and a 1 KB budget: about 40 buckets.
        let manifest = shuffle_dataset(&input, &out, "shuf", 7, 1024, TARGET).expect("shuffle");
        let got = read_dataset_tokens(&out).expect("read");
        assert_ne!(got, docs, "shuffling 500 documents must move some");
        let (mut a, mut b) = (got.clone(), docs.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "not a permutation");
        assert_eq!(got, expected_order(&docs, 7));
        assert_eq!((manifest.documents, manifest.tokens), (source.documents, source.tokens));
        assert_eq!(
            (&manifest.tokenizer_hash, &manifest.inputs, manifest.eos_id),
            (&source.tokenizer_hash, &source.inputs, Some(0))
        );
        assert_eq!(manifest.tool_version, env!("CARGO_PKG_VERSION"));
        assert!(manifest.shards.len() > 1);
        assert!(!out.join(SHUFFLE_TMP_DIR).exists());
        let opts = VerifyOptions { vocab_size: Some(1000), eos_id: Some(0), check_checksums: true };
        let report = verify_dir(&out, &opts).expect("verify");
        assert!(report.is_ok(), "{:?}", report.problems);
    }

    #[test]
    fn order_depends_on_seed_not_budget() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let input = tmp.path().join("in");
        write_dataset(&input, DType::I32, &sample_docs(300), 700, "tok");
        let one_bucket = shuffled(&input, &tmp.path().join("a"), 42, 1 << 30);
        let many_buckets = shuffled(&input, &tmp.path().join("b"), 42, 64);
        let again = shuffled(&input, &tmp.path().join("a"), 42, 1 << 30);
        let other_seed = shuffled(&input, &tmp.path().join("c"), 43, 1 << 30);
        assert_eq!(one_bucket, many_buckets);
        assert_eq!(one_bucket, again);
        assert_ne!(one_bucket, other_seed);
    }

    #[test]
    fn bad_arguments_are_rejected_before_writing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let input = tmp.path().join("in");
        // ~90 KB of tokens: a 2-byte budget would need ~45,000 buckets, a 0-byte one more
        // than the 65,536 allowed.
        write_dataset(&input, DType::U16, &sample_docs(2000), 5000, "tok");
        let same = shuffle_dataset(&input, &input, "x", 1, 1 << 20, TARGET).expect_err("in place");
        assert!(matches!(same, Error::InvalidArgument { .. }), "{same}");
        let out = tmp.path().join("o");
        let tiny = shuffle_dataset(&input, &out, "x", 1, 0, TARGET).expect_err("budget 0");
        assert!(tiny.to_string().contains("raise it to at least 4"), "{tiny}");
        assert!(!out.join(SHUFFLE_TMP_DIR).exists());
    }

    #[test]
    fn empty_dataset_and_stale_tmp_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
        write_dataset(&input, DType::U16, &[], 10, "tok");
        fs::create_dir_all(out.join(SHUFFLE_TMP_DIR)).expect("mkdir");
        fs::write(bucket_path(&out.join(SHUFFLE_TMP_DIR), 0), b"junk").expect("stale bucket");
        let manifest = shuffle_dataset(&input, &out, "s", 1, 100, TARGET).expect("shuffle");
        assert_eq!((manifest.documents, manifest.shards.len()), (0, 0));
        assert!(!out.join(SHUFFLE_TMP_DIR).exists());
    }

    #[test]
    fn corrupt_bucket_records_are_located() {
        let mut rec = 5u64.to_le_bytes().to_vec();
        rec.extend_from_slice(&2u64.to_le_bytes());
        let parse = |bytes: &[u8], documents| {
            let mut docs = Vec::new();
            parse_records(bytes, documents, |d| docs.push(d)).map(|()| docs).map_err(|e| e.0)
        };
        assert_eq!(parse(&rec, 6), Ok(vec![5, 2]));
        assert_eq!(parse(&rec[..13], 6), Err(8));
        assert_eq!(parse(&rec, 5), Err(0));
    }

    #[test]
    fn keys_are_the_splitmix64_stream() {
        for seed in [0, 7, u64::MAX] {
            let mut rng = SplitMix64::new(seed);
            assert!((0..100).all(|doc| key_of(seed, doc) == rng.next_u64()), "seed {seed}");
        }
    }

    #[test]
    fn buckets_follow_documents_and_keep_the_token_floor() {
        // 1,000 documents sort in 24 KB: in memory from a 48 KB budget, in 3 buckets at 16 KB.
        assert_eq!(bucket_count(1 << 20, 1000, 48_000).ok(), Some(1));
        assert_eq!(bucket_count(1 << 20, 1000, 16_000).ok(), Some(3));
        // The token bytes still set the smallest budget accepted: 2 · ⌈2³⁰ / 2¹⁶⌉.
        let err = bucket_count(1 << 30, 1000, 32_767).expect_err("below the floor");
        assert!(err.to_string().contains("raise it to at least 32768"), "{err}");
        assert!(bucket_count(1 << 30, 1000, 32_768).is_ok());
    }

    #[test]
    fn spilled_and_in_memory_outputs_are_byte_identical() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let input = tmp.path().join("in");
        let docs = sample_docs(2000);
        let source = write_dataset(&input, DType::U16, &docs, 1000, "tok");
        let (memory, spilled) = (1 << 30, 4096);
        assert_eq!(bucket_count(source.tokens * 2, source.documents, memory).ok(), Some(1));
        assert!(bucket_count(source.tokens * 2, source.documents, spilled).expect("buckets") > 8);
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let in_memory = shuffle_dataset(&input, &a, "shuf", 9, memory, TARGET).expect("in memory");
        let bucketed = shuffle_dataset(&input, &b, "shuf", 9, spilled, TARGET).expect("spilled");
        assert_eq!(in_memory, bucketed);
        for shard in &in_memory.shards {
            for ext in [".bin", ".idx"] {
                let name = format!("{}{ext}", shard.name);
                assert_eq!(
                    fs::read(a.join(&name)).expect("read a"),
                    fs::read(b.join(&name)).expect("read b"),
                    "{name}"
                );
            }
        }
        assert_eq!(read_dataset_tokens(&a).expect("read"), expected_order(&docs, 9));
        assert!(!a.join(SHUFFLE_TMP_DIR).exists() && !b.join(SHUFFLE_TMP_DIR).exists());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_budget_gives_the_key_order(
            docs in prop::collection::vec(prop::collection::vec(0u32..1000, 0..30), 0..60),
            seed in any::<u64>(),
            budget in 16u64..4096,
        ) {
            let tmp = tempfile::tempdir().expect("tempdir");
            let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
            write_dataset(&input, DType::U16, &docs, 50, "tok");
            shuffle_dataset(&input, &out, "s", seed, budget, TARGET).expect("shuffle");
            prop_assert_eq!(read_dataset_tokens(&out).expect("read"), expected_order(&docs, seed));
        }
    }
}
