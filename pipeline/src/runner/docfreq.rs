//! GPT-3's training-document frequency rule for a `decontaminate` stage with
//! `max_document_frequency`: benchmark n-grams found in more documents of the stage's input
//! than the limit are ignored. The stage is then a barrier ([`super::barrier`]); this module
//! holds its counters, their files and the decision.
//!
//! Each task that stages documents for the barrier keeps one `u32` per n-gram of the stage's
//! index (a position in [`Decontaminator::indexed`], the same list in every task that reads the
//! same benchmarks) and adds one for every document holding the n-gram, once per document. So
//! its memory is four bytes per benchmark n-gram, whatever the corpus. When the task closes it
//! writes the counts: one file, or one per key shard of a job array (shard `s` of `k` holds
//! positions `s * N / k .. (s + 1) * N / k`). The decision sums the files of one shard and lists
//! the n-grams over the limit; the replay judges every staged document without them.
//!
//! Both files have one layout, all integers little-endian:
//!
//! | offset | content |
//! |---|---|
//! | 0 | magic `TMDOCFQ\0` (8 bytes) |
//! | 8 | version, u32 = 1 |
//! | 12 | kind, u32: 1 counts (every n-gram of a shard), 2 frequent (those over the limit) |
//! | 16 | R = records, u64 |
//! | 24 | R records of 12 bytes: the n-gram's hash u64, then its documents u32 (saturating) |
//! | 24 + 12R | xxh3-64 of bytes `0 .. 24 + 12R`, u64 |

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use tokenmill_filters::decontam::Decontaminator;
use xxhash_rust::xxh3::xxh3_64;

use crate::sink::AtomicFile;
use crate::stage::decontaminate::{Decontaminate, DecontaminateSpec};

const MAGIC: &[u8; 8] = b"TMDOCFQ\0";
const VERSION: u32 = 1;
const HEADER: usize = 24;
const RECORD: usize = 12;

/// What a file of this module holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// A task's count for every n-gram of a shard.
    Counts = 1,
    /// The n-grams of a shard over the limit, with their summed counts.
    Frequent = 2,
}

/// How many n-grams the rule ignored: `ngrams` (of the index, or of a shard), `frequent_ngrams`,
/// and `{benchmark}.frequent_ngrams` (the barrier's `report` in `stats.json`; the reports of a
/// job array's shards add up).
pub(super) type Report = BTreeMap<String, u64>;

/// A `decontaminate` barrier: the stage's matcher before the rule, and the limit.
#[derive(Debug)]
pub(super) struct DocFreq {
    base: Decontaminator,
    /// Every n-gram of the index, sorted: a counter's position names its n-gram.
    indexed: Arc<Vec<u64>>,
    /// N-grams in more documents than this are ignored.
    max: u64,
}

/// One task's document counts, one per n-gram of the index.
#[derive(Debug)]
pub(super) struct Counter {
    indexed: Arc<Vec<u64>>,
    counts: Vec<u32>,
}

/// The decision over one shard's counts.
#[derive(Debug)]
pub(super) struct Decided {
    /// The n-grams over the limit.
    pub(super) frequent: Vec<u64>,
    pub(super) report: Report,
}

impl DocFreq {
    /// The barrier of a stage with `max_document_frequency`: its benchmarks read and indexed.
    pub(super) fn of(spec: &DecontaminateSpec) -> anyhow::Result<Self> {
        let Some(max) = spec.max_document_frequency else {
            bail!("stage `{}` has no `max_document_frequency`", spec.name)
        };
        if max == 0 {
            bail!(
                "stage `{}`: `max_document_frequency` must be at least 1 (an n-gram in more training documents than that is ignored; GPT-3 used 10)",
                spec.name
            );
        }
        let base = crate::source::benchmark::decontaminator(spec)?;
        let indexed = Arc::new(base.indexed());
        Ok(Self { base, indexed, max })
    }

    /// The distinct index n-grams of a document (what its counts add).
    pub(super) fn keys(&self, text: &str) -> Vec<u64> {
        self.base.ngram_hashes(text)
    }

    /// An empty counter.
    pub(super) fn counter(&self) -> Counter {
        Counter { indexed: self.indexed.clone(), counts: vec![0; self.indexed.len()] }
    }

    /// Sums the count files of one shard (every task's), writes the n-grams over the limit to
    /// `out` and returns them.
    pub(super) fn decide(&self, counts: &[PathBuf], out: &Path) -> anyhow::Result<Decided> {
        let mut total: Vec<(u64, u64)> = Vec::new();
        for (i, path) in counts.iter().enumerate() {
            let records = read_file(path, FileKind::Counts)?;
            if i == 0 {
                total = records.into_iter().map(|(h, n)| (h, u64::from(n))).collect();
                continue;
            }
            let same = records.len() == total.len()
                && records.iter().zip(&total).all(|((a, _), (b, _))| a == b);
            ensure!(
                same,
                "{} counts other n-grams than {}: were all tasks run with the same benchmarks?",
                path.display(),
                counts[0].display()
            );
            for ((_, n), (_, t)) in records.into_iter().zip(&mut total) {
                *t += u64::from(n);
            }
        }
        let over: Vec<(u64, u32)> = total
            .iter()
            .filter(|(_, n)| *n > self.max)
            .map(|&(h, n)| (h, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect();
        write_file(out, FileKind::Frequent, &over)?;
        let frequent: Vec<u64> = over.into_iter().map(|(h, _)| h).collect();
        let report = self.report(total.len() as u64, &frequent);
        Ok(Decided { frequent, report })
    }

    /// What a shard of `ngrams` n-grams, `frequent` of them over the limit, reports.
    fn report(&self, ngrams: u64, frequent: &[u64]) -> Report {
        let benchmarks = self.base.benchmarks();
        let mut per = vec![0u64; benchmarks.len()];
        for mask in frequent.iter().filter_map(|&h| self.base.benchmarks_of(h)) {
            for (i, n) in per.iter_mut().enumerate() {
                *n += (mask >> i) & 1;
            }
        }
        let mut report = Report::new();
        report.insert("ngrams".into(), ngrams);
        report.insert("frequent_ngrams".into(), frequent.len() as u64);
        for (b, n) in benchmarks.iter().zip(per) {
            report.insert(format!("{}.frequent_ngrams", b.name), n);
        }
        report
    }

    /// The stage that judges the replayed documents: the matcher without `frequent`.
    pub(super) fn stage(&self, frequent: &[u64]) -> Decontaminate {
        let frequent: HashSet<u64> = frequent.iter().copied().collect();
        Decontaminate::new(self.base.without(|h| frequent.contains(&h)))
    }

    /// The stage over the frequent n-grams an earlier step wrote (every shard's file), and the
    /// report for `stats.json` (the earlier step's, when given).
    pub(super) fn load(
        &self,
        files: &[PathBuf],
        report: Option<&serde_json::Value>,
    ) -> anyhow::Result<(Decontaminate, Report)> {
        let mut frequent = Vec::new();
        for path in files {
            frequent.extend(read_file(path, FileKind::Frequent)?.into_iter().map(|(h, _)| h));
        }
        let report = report
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or_else(|| self.report(self.indexed.len() as u64, &frequent));
        Ok((self.stage(&frequent), report))
    }
}

impl Counter {
    /// Counts one document's distinct index n-grams ([`DocFreq::keys`]).
    pub(super) fn add(&mut self, hashes: &[u64]) -> anyhow::Result<()> {
        for h in hashes {
            let Ok(i) = self.indexed.binary_search(h) else {
                bail!("a document's n-gram {h:#x} is not in the benchmark index")
            };
            self.counts[i] = self.counts[i].saturating_add(1);
        }
        Ok(())
    }

    /// Writes the counts: `paths[s]` gets shard `s` of `paths.len()`.
    pub(super) fn finish(self, paths: &[PathBuf]) -> anyhow::Result<()> {
        let (n, k) = (self.indexed.len(), paths.len());
        for (s, path) in paths.iter().enumerate() {
            let range = s * n / k..(s + 1) * n / k;
            let records: Vec<(u64, u32)> = self.indexed[range.clone()]
                .iter()
                .copied()
                .zip(self.counts[range].iter().copied())
                .collect();
            write_file(path, FileKind::Counts, &records)?;
        }
        Ok(())
    }
}

/// Writes a file of `kind` (see the module docs) atomically.
fn write_file(path: &Path, kind: FileKind, records: &[(u64, u32)]) -> anyhow::Result<()> {
    let mut bytes = Vec::with_capacity(HEADER + RECORD * records.len() + 8);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(kind as u32).to_le_bytes());
    bytes.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for (h, n) in records {
        bytes.extend_from_slice(&h.to_le_bytes());
        bytes.extend_from_slice(&n.to_le_bytes());
    }
    let sum = xxh3_64(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).context("a file name")?;
    let mut file = AtomicFile::create(dir, name)?;
    file.write_all(&bytes).with_context(|| format!("cannot write {}", path.display()))?;
    file.commit()?;
    Ok(())
}

/// Reads and checks a file of `kind`.
fn read_file(path: &Path, kind: FileKind) -> anyhow::Result<Vec<(u64, u32)>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = |what: &str| anyhow::anyhow!("{}: {what}; run the barrier again", path.display());
    if bytes.len() < HEADER + 8 || &bytes[..8] != MAGIC {
        return Err(bad("not a document-frequency file"));
    }
    if le_u32(&bytes[8..12]) != VERSION || le_u32(&bytes[12..16]) != kind as u32 {
        return Err(bad("another version or kind of document-frequency file"));
    }
    let records = usize::try_from(le_u64(&bytes[16..24])).unwrap_or(usize::MAX);
    let end = records.checked_mul(RECORD).and_then(|b| b.checked_add(HEADER));
    if end.and_then(|e| e.checked_add(8)) != Some(bytes.len()) {
        return Err(bad("truncated"));
    }
    let end = HEADER + RECORD * records;
    if xxh3_64(&bytes[..end]) != le_u64(&bytes[end..]) {
        return Err(bad("checksum mismatch"));
    }
    Ok(bytes[HEADER..end]
        .chunks_exact(RECORD)
        .map(|r| (le_u64(&r[..8]), le_u32(&r[8..])))
        .collect())
}

/// A little-endian `u64` of 8 bytes (0 for another length, which the callers rule out).
fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap_or_default())
}

/// A little-endian `u32` of 4 bytes (0 for another length, which the callers rule out).
fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_of_zero_is_refused() {
        let spec: DecontaminateSpec = toml::from_str(
            "name = \"d\"\ninputs = [\"in\"]\nbenchmarks = []\nmax_document_frequency = 0",
        )
        .expect("spec");
        let err = DocFreq::of(&spec).expect_err("0 ignores every n-gram found");
        assert!(err.to_string().contains("must be at least 1"), "{err}");
    }

    #[test]
    fn files_are_specified_byte_by_byte_and_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.counts");
        write_file(&path, FileKind::Counts, &[(0x0102_0304_0506_0708, 3)]).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        let mut want = b"TMDOCFQ\0".to_vec();
        want.extend([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        want.extend([8, 7, 6, 5, 4, 3, 2, 1, 3, 0, 0, 0]);
        want.extend(xxh3_64(&want).to_le_bytes());
        assert_eq!(bytes, want);
        assert_eq!(
            read_file(&path, FileKind::Counts).expect("reads"),
            [(0x0102_0304_0506_0708, 3)]
        );
        let err = read_file(&path, FileKind::Frequent).expect_err("another kind");
        assert!(err.to_string().contains("another version or kind"), "{err}");
        let mut corrupt = bytes.clone();
        corrupt[24] ^= 1;
        std::fs::write(&path, &corrupt).expect("write");
        let err = read_file(&path, FileKind::Counts).expect_err("corrupt");
        assert!(err.to_string().contains("checksum"), "{err}");
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("write");
        let err = read_file(&path, FileKind::Counts).expect_err("truncated");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
