//! Seeded, document-level, global shuffle of a dataset larger than memory.
//!
//! [`shuffle_dataset`] makes two passes with at most about `memory_budget` bytes of data in
//! memory:
//!
//! 1. **Scatter.** Every document, in dataset order, draws a 64-bit key from a [`SplitMix64`]
//!    stream seeded with `seed` and is appended to bucket `b = ⌊key · B / 2⁶⁴⌋`, a file under
//!    `{output}/.shuffle-tmp/`. The B buckets split the key space into equal ranges, with
//!    `B = ⌈token bytes / (memory_budget / 2)⌉` (at least 1), so a bucket holds about half
//!    the budget. Each bucket buffers `max(budget / 2B, 4 KiB)` bytes and is appended to its
//!    file when that fills.
//! 2. **Gather.** Buckets are read in key order; each is loaded whole, its documents sorted
//!    by key and written through a [`ShardSetWriter`]. Bucket files are deleted as they are
//!    consumed, then the temporary directory, then the manifest is written.
//!
//! The output is the input documents sorted by (key, input position): sorting by independent
//! uniform keys gives a uniformly random permutation (two documents tie with probability
//! 2⁻⁶⁴, and a tie keeps input order). It depends **only on the input and the seed**, not on
//! `memory_budget`, the bucket count or the machine: the budget decides how the work is
//! split, never the result. Sorting each bucket by key stands in for a Fisher–Yates pass,
//! which would tie the order to the bucket layout.
//!
//! Memory: pass 1 buffers half the budget (at least 4 KiB per bucket); pass 2 holds one bucket (half the budget
//! on average; more than the whole budget only with vanishing probability, or when a single
//! document is larger) plus 24 bytes per document in it. Disk: one extra copy of the tokens.
//!
//! # Bucket records
//!
//! A bucket file is records back to back, integers little-endian. It is private to one run.
//!
//! | size | content |
//! |---|---|
//! | 8 | key, `u64` |
//! | 8 | `n`, byte length of the tokens, `u64` |
//! | n | the document's tokens in the dataset dtype, as in the `.bin` |

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
/// Bytes of a bucket record header (key and length).
const RECORD_HEADER: usize = 16;

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
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
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
pub fn shuffle_dataset(input: &Path, output: &Path, prefix: &str, seed: u64, memory_budget: u64, target: ShardTarget) -> Result<Manifest> {
    let manifest = Manifest::read(input)?;
    let (dtype, shards) = open_shards(input, &manifest)?;
    fs::create_dir_all(output).map_err(Error::io("create directory", output))?;
    if same_dir(input, output) {
        let message = format!("shuffle output {} is the input directory; choose another", output.display());
        return Err(Error::InvalidArgument { message });
    }
    let bytes: u64 = shards.iter().map(|s| s.num_tokens() * dtype.size() as u64).sum();
    let half = (memory_budget / 2).max(1);
    let buckets = bytes.div_ceil(half).max(1);
    if buckets > MAX_BUCKETS {
        let message = format!(
            "memory budget of {memory_budget} bytes is too small to shuffle {bytes} bytes of tokens \
             ({buckets} buckets, at most {MAX_BUCKETS}); raise it to at least {}",
            2 * bytes.div_ceil(MAX_BUCKETS)
        );
        return Err(Error::InvalidArgument { message });
    }
    remove_if_exists(&output.join(MANIFEST_FILE))?;
    let tmp = TmpDir::create(output.join(SHUFFLE_TMP_DIR))?;
    let mut set = ShardSetWriter::new(output, prefix, dtype, target)?;
    scatter(&shards, &tmp.0, buckets as usize, seed, half)?;
    let mut buf = Vec::new();
    for b in 0..buckets as usize {
        gather(&bucket_path(&tmp.0, b), &mut buf, &mut set, dtype.size())?;
    }
    let out = manifest.derive(set.finish()?);
    tmp.remove()?;
    out.write(output)?;
    Ok(out)
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
    /// Creates an empty directory, clearing what an interrupted run left there.
    fn create(path: PathBuf) -> Result<TmpDir> {
        if path.exists() {
            fs::remove_dir_all(&path).map_err(Error::io("remove", &path))?;
        }
        fs::create_dir_all(&path).map_err(Error::io("create directory", &path))?;
        Ok(TmpDir(path))
    }

    fn remove(self) -> Result<()> {
        fs::remove_dir_all(&self.0).map_err(Error::io("remove", &self.0))
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        // Best effort after an error; after `remove` the directory is already gone.
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Pass 1: appends every document of `shards` to its bucket. Each bucket buffers up to
/// `max(cap / buckets, 4 KiB)` bytes and is appended to its file when full; a record larger
/// than that goes straight to the file.
fn scatter(shards: &[IndexedDataset], dir: &Path, buckets: usize, seed: u64, cap: u64) -> Result<()> {
    let chunk = (cap / buckets as u64).max(4096) as usize;
    let mut rng = SplitMix64::new(seed);
    let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); buckets];
    for ds in shards {
        let size = ds.dtype().size();
        for j in 0..ds.num_documents() {
            let seqs = ds.document_sequences(j)?;
            let len: usize = ds.sequence_lengths()[seqs.clone()].iter().map(|&n| n.max(0) as usize * size).sum();
            let key = rng.next_u64();
            let b = bucket_of(key, buckets);
            let buf = &mut buffers[b];
            if buf.len() + RECORD_HEADER + len > chunk {
                append_to_bucket(dir, b, buf)?;
                buf.clear();
            }
            if buf.capacity() == 0 {
                buf.reserve_exact(chunk);
            }
            buf.extend_from_slice(&key.to_le_bytes());
            buf.extend_from_slice(&(len as u64).to_le_bytes());
            for i in seqs {
                buf.extend_from_slice(ds.get_checked_bytes(i)?);
            }
            if buf.len() > chunk {
                // A record larger than a buffer: write it now rather than keep it.
                append_to_bucket(dir, b, buf)?;
                *buf = Vec::new();
            }
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
    let mut file = OpenOptions::new().create(true).append(true).open(&path).map_err(Error::io("open", &path))?;
    file.write_all(bytes).map_err(Error::io("write", &path))
}

/// Pass 2 for one bucket: loads it into `buf` (reused across buckets), sorts its documents
/// by key and writes them to `set`.
fn gather(path: &Path, buf: &mut Vec<u8>, set: &mut ShardSetWriter, size: usize) -> Result<()> {
    buf.clear();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(buf).map_err(Error::io("read", path))?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()), // no document drew it
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    let mut records = parse_records(buf, size).map_err(|(offset, message)| Error::Format {
        path: path.to_path_buf(),
        offset,
        message: message.to_string(),
    })?;
    // Stable: equal keys keep input order.
    records.sort_by_key(|r| r.0);
    for (_, start, end) in records {
        set.add_encoded(&buf[start..end])?;
    }
    fs::remove_file(path).map_err(Error::io("remove", path))
}

/// A document in a loaded bucket: key, and start and end of its tokens.
type Record = (u64, usize, usize);

/// Splits a bucket into `(key, start, end)` records; the error is an offset and a reason.
fn parse_records(bytes: &[u8], size: usize) -> std::result::Result<Vec<Record>, (u64, &'static str)> {
    let mut records = Vec::new();
    let mut at = 0;
    let u64_at = |i: usize| bytes.get(i..i + 8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    while at < bytes.len() {
        let (Some(key), Some(len)) = (u64_at(at), u64_at(at + 8)) else {
            return Err((at as u64, "truncated record header"));
        };
        let start = at + RECORD_HEADER;
        let end = usize::try_from(len).ok().and_then(|l| start.checked_add(l)).filter(|&e| e <= bytes.len());
        match end {
            Some(end) if (end - start).is_multiple_of(size) => records.push((key, start, end)),
            _ => return Err((at as u64 + 8, "record length past the end of the bucket or not whole tokens")),
        }
        at = records.last().map_or(at, |r| r.2);
    }
    Ok(records)
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
        assert_eq!([rng.next_u64(), rng.next_u64()], [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4]);
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
        assert_eq!((&manifest.tokenizer_hash, &manifest.inputs, manifest.eos_id), (&source.tokenizer_hash, &source.inputs, Some(0)));
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
        rec.extend_from_slice(&4u64.to_le_bytes());
        rec.extend_from_slice(&[1, 0, 2, 0]);
        assert_eq!(parse_records(&rec, 2), Ok(vec![(5, 16, 20)]));
        assert_eq!(parse_records(&rec[..19], 2).map_err(|e| e.0), Err(8));
        assert_eq!(parse_records(&rec[..10], 2).map_err(|e| e.0), Err(0));
        assert_eq!(parse_records(&rec, 8).map_err(|e| e.0), Err(8));
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
