//! Line and paragraph dedup across a corpus (CCNet-style boilerplate removal).
//!
//! Pass 1: a [`LineCounter`] per input part hashes every line (or paragraph) of every
//! document after normalization, counting each distinct unit once per document, and writes
//! the sorted `(hash, documents)` counts ([`ArtifactKind::LineCounts`]). Pass 2:
//! [`Boilerplate::from_counts`] merges the parts' counts and keeps the units seen in more
//! than `max_occurrences` documents; [`Boilerplate::filter`] drops them from a document.
//! Units shorter than `min_chars` (normalized characters) are never counted nor removed.
//!
//! Memory: counting sorts out of core within the budget; the boilerplate set holds 8 bytes
//! per frequent unit.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::Result;
use crate::external::{ExternalSorter, SortRecord};
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter, SortedIds};
use crate::normalize::{NormalizeOptions, normalize_into};

/// The unit of line dedup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineUnit {
    /// Lines, separated by `\n`.
    #[default]
    Line,
    /// Paragraphs, separated by blank lines (`\n\n`).
    Paragraph,
}

/// Configuration of line/paragraph dedup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineDedupConfig {
    /// Lines or paragraphs.
    pub unit: LineUnit,
    /// Units shorter than this many characters after normalization are ignored.
    pub min_chars: usize,
    /// A unit seen in more than this many documents is boilerplate.
    pub max_occurrences: u64,
    /// Normalization before hashing (CCNet: everything on).
    pub normalize: NormalizeOptions,
    /// Memory for sorting, in bytes.
    pub memory_budget: usize,
}

impl Default for LineDedupConfig {
    fn default() -> Self {
        LineDedupConfig {
            unit: LineUnit::Line,
            min_chars: 20,
            max_occurrences: 1,
            normalize: NormalizeOptions::aggressive(),
            memory_budget: 64 << 20,
        }
    }
}

impl LineDedupConfig {
    fn separator(&self) -> &'static str {
        match self.unit {
            LineUnit::Line => "\n",
            LineUnit::Paragraph => "\n\n",
        }
    }

    /// The hash of a unit, or `None` when it is too short to count.
    fn unit_hash(&self, unit: &str, buf: &mut String) -> Option<u64> {
        normalize_into(unit, &self.normalize, buf);
        (buf.chars().count() >= self.min_chars.max(1)).then(|| xxh3_64(buf.as_bytes()))
    }

    /// The distinct unit hashes of one document, in order of first occurrence: what
    /// [`LineCounter::add`] counts. Computing them apart from the counter lets a caller hash
    /// documents in parallel and count them on one thread ([`LineCounter::add_hashes`]).
    pub fn unit_hashes(&self, text: &str) -> Vec<u64> {
        let mut buf = String::new();
        let mut seen = HashSet::new();
        text.split(self.separator())
            .filter_map(|unit| self.unit_hash(unit, &mut buf))
            .filter(|h| seen.insert(*h))
            .collect()
    }
}

/// Pass 1: counts units in the documents of one part of the corpus.
#[derive(Debug)]
pub struct LineCounter {
    config: LineDedupConfig,
    sorter: ExternalSorter<u64>,
    seen: HashSet<u64>,
    buf: String,
}

impl LineCounter {
    /// A counter spilling under `work_dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when the scratch directory cannot be created.
    pub fn new(work_dir: &Path, config: LineDedupConfig) -> Result<Self> {
        Ok(LineCounter {
            config,
            sorter: ExternalSorter::new(work_dir, config.memory_budget)?,
            seen: HashSet::new(),
            buf: String::new(),
        })
    }

    /// Counts the distinct units of one document.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when spilling fails.
    pub fn add(&mut self, text: &str) -> Result<()> {
        self.seen.clear();
        for unit in text.split(self.config.separator()) {
            if let Some(h) = self.config.unit_hash(unit, &mut self.buf)
                && self.seen.insert(h)
            {
                self.sorter.push(h)?;
            }
        }
        Ok(())
    }

    /// Counts one document given its unit hashes ([`LineDedupConfig::unit_hashes`] under the
    /// same config); a hash listed twice counts once, as in [`add`](Self::add).
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when spilling fails.
    pub fn add_hashes(&mut self, hashes: &[u64]) -> Result<()> {
        self.seen.clear();
        for &h in hashes {
            if self.seen.insert(h) {
                self.sorter.push(h)?;
            }
        }
        Ok(())
    }

    /// Writes the sorted `(hash, count)` records to `path`; returns the number of distinct units.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) on write failure.
    pub fn finish(self, path: &Path) -> Result<u64> {
        self.finish_sharded(std::slice::from_ref(&path.to_path_buf()))
    }

    /// As [`finish`](Self::finish), the hashes cut into `paths.len()` contiguous ranges, one file
    /// each (so that each range's counts can be merged by a task of its own); returns the number
    /// of distinct units.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) on write failure.
    pub fn finish_sharded(self, paths: &[PathBuf]) -> Result<u64> {
        let mut writers = paths
            .iter()
            .map(|p| ArtifactWriter::create(p, ArtifactKind::LineCounts, 16, 0))
            .collect::<Result<Vec<_>>>()?;
        let shards = writers.len().max(1);
        let mut rec = [0u8; 16];
        let mut current: Option<(u64, u64)> = None;
        let mut distinct = 0;
        let mut emit = |c: (u64, u64), writers: &mut [ArtifactWriter]| {
            distinct += 1;
            c.encode(&mut rec);
            writers[hash_shard(c.0, shards)].write_record(&rec)
        };
        for h in self.sorter.finish()? {
            let h = h?;
            match &mut current {
                Some((k, n)) if *k == h => *n += 1,
                _ => {
                    if let Some(c) = current.take() {
                        emit(c, &mut writers)?;
                    }
                    current = Some((h, 1));
                }
            }
        }
        if let Some(c) = current {
            emit(c, &mut writers)?;
        }
        for w in writers {
            w.finish()?;
        }
        Ok(distinct)
    }
}

/// What [`Boilerplate::filter`] removed from one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// The document without its boilerplate units.
    pub text: String,
    /// Units removed.
    pub removed_units: usize,
    /// Bytes removed (units and their separators).
    pub removed_bytes: usize,
}

/// Pass 2: the set of boilerplate unit hashes.
#[derive(Debug)]
pub struct Boilerplate {
    config: LineDedupConfig,
    hashes: SortedIds,
}

impl Boilerplate {
    /// Merges the count files of every part and keeps the units over `max_occurrences`, in
    /// memory (8 bytes per boilerplate unit).
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) or [`Error::Format`](crate::Error::Format) naming a count file that cannot be read.
    pub fn from_counts(paths: &[PathBuf], config: LineDedupConfig) -> Result<Self> {
        let mut hashes = Vec::new();
        merge_counts(paths, &config, |h| {
            hashes.push(h);
            Ok(())
        })?;
        Ok(Boilerplate { config, hashes: SortedIds::owned(hashes) })
    }

    /// As [`Boilerplate::from_counts`], but the hashes go to the artifact `out`, which is then
    /// memory-mapped: no heap per boilerplate unit, whatever the corpus.
    ///
    /// # Errors
    ///
    /// As [`Boilerplate::from_counts`], plus errors writing or mapping `out`.
    pub fn from_counts_to(paths: &[PathBuf], config: LineDedupConfig, out: &Path) -> Result<Self> {
        Self::from_counts_counted(paths, config, out).map(|(b, _)| b)
    }

    /// As [`Boilerplate::from_counts_to`], also returning the number of distinct units over
    /// all the count files (what one counter over every document would have counted).
    ///
    /// # Errors
    ///
    /// As [`Boilerplate::from_counts_to`].
    pub fn from_counts_counted(
        paths: &[PathBuf],
        config: LineDedupConfig,
        out: &Path,
    ) -> Result<(Self, u64)> {
        let mut w = ArtifactWriter::create(out, ArtifactKind::Boilerplate, 8, 0)?;
        let distinct = merge_counts(paths, &config, |h| w.write_record(&h.to_le_bytes()))?;
        w.finish()?;
        Ok((
            Boilerplate {
                config,
                hashes: SortedIds::open(out, ArtifactKind::Boilerplate, |_| Ok(()))?,
            },
            distinct,
        ))
    }

    /// The boilerplate of several artifacts (of disjoint hash ranges, e.g. one per key shard of
    /// a job array), held in memory: 8 bytes per boilerplate unit.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) or [`Error::Format`](crate::Error::Format) naming a file.
    pub fn open_many(paths: &[PathBuf], config: LineDedupConfig) -> Result<Self> {
        let mut hashes = Vec::new();
        let mut rec = [0u8; 8];
        for p in paths {
            let mut r = ArtifactReader::open(p, ArtifactKind::Boilerplate, Some(8))?;
            while r.next_record(&mut rec)? {
                hashes.push(u64::from_le_bytes(rec));
            }
        }
        Ok(Boilerplate { config, hashes: SortedIds::owned(hashes) })
    }

    /// Opens the boilerplate artifact an earlier [`Boilerplate::from_counts_to`] wrote (memory-mapped),
    /// e.g. on every task of a job array that removes it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) or [`Error::Format`](crate::Error::Format) naming the file.
    pub fn open(path: &Path, config: LineDedupConfig) -> Result<Self> {
        Ok(Boilerplate {
            config,
            hashes: SortedIds::open(path, ArtifactKind::Boilerplate, |_| Ok(()))?,
        })
    }

    /// Number of boilerplate units.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether there is no boilerplate.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// `text` without its boilerplate units; the remaining units keep their separators.
    pub fn filter(&self, text: &str) -> Filtered {
        let sep = self.config.separator();
        let mut buf = String::new();
        let mut out = String::with_capacity(text.len());
        let (mut removed_units, mut removed_bytes) = (0, 0);
        let mut first = true;
        for unit in text.split(sep) {
            let boiler =
                self.config.unit_hash(unit, &mut buf).is_some_and(|h| self.hashes.contains(h));
            if boiler {
                removed_units += 1;
                removed_bytes += unit.len() + sep.len();
                continue;
            }
            if !first {
                out.push_str(sep);
            }
            out.push_str(unit);
            first = false;
        }
        removed_bytes = removed_bytes.min(text.len());
        debug_assert!(removed_units > 0 || out == text);
        Filtered { text: out, removed_units, removed_bytes }
    }
}

/// K-way merge of count files: hands `keep` every hash (ascending) whose total count is over
/// `max_occurrences`.
/// The range (of `shards` equal ranges of `u64`) a hash falls in.
pub fn hash_shard(hash: u64, shards: usize) -> usize {
    usize::try_from((u128::from(hash) * shards as u128) >> 64).unwrap_or(0)
}

/// Merges sorted count files, calling `keep` for each unit over the threshold; returns the number
/// of distinct units.
fn merge_counts(
    paths: &[PathBuf],
    config: &LineDedupConfig,
    mut keep: impl FnMut(u64) -> Result<()>,
) -> Result<u64> {
    let mut readers = Vec::new();
    for p in paths {
        readers.push(ArtifactReader::open(p, ArtifactKind::LineCounts, Some(16))?);
    }
    let mut rec = [0u8; 16];
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if r.next_record(&mut rec)? {
            heap.push(Reverse((<(u64, u64)>::decode(&rec), i)));
        }
    }
    let mut current: Option<(u64, u64)> = None;
    let mut distinct = 0u64;
    while let Some(Reverse(((h, n), i))) = heap.pop() {
        if readers[i].next_record(&mut rec)? {
            heap.push(Reverse((<(u64, u64)>::decode(&rec), i)));
        }
        match &mut current {
            Some((k, total)) if *k == h => *total += n,
            _ => {
                distinct += 1;
                if let Some((k, total)) = current.replace((h, n))
                    && total > config.max_occurrences
                {
                    keep(k)?;
                }
            }
        }
    }
    if let Some((k, total)) = current
        && total > config.max_occurrences
    {
        keep(k)?;
    }
    Ok(distinct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_lines_repeated_across_documents_in_any_partition() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LineDedupConfig {
            min_chars: 10,
            max_occurrences: 2,
            memory_budget: 32,
            ..LineDedupConfig::default()
        };
        let docs = [
            "Subscribe to our newsletter!\nThe first real sentence here.\nshort",
            "subscribe to our   NEWSLETTER\nA second real sentence.\nshort",
            "Subscribe to our newsletter.\nYet another real sentence.\nSubscribe to our newsletter.",
            "Unique text only, no boilerplate.",
        ];
        // Two parts (ranks), merged.
        let mut paths = Vec::new();
        for (i, part) in [&docs[..2], &docs[2..]].iter().enumerate() {
            let mut c = LineCounter::new(dir.path(), cfg).unwrap();
            for d in *part {
                c.add(d).unwrap();
            }
            let p = dir.path().join(format!("part{i}.counts"));
            c.finish(&p).unwrap();
            paths.push(p);
        }
        let b = Boilerplate::from_counts(&paths, cfg).unwrap();
        assert_eq!(b.len(), 1);
        let f = b.filter(docs[0]);
        assert_eq!(f.text, "The first real sentence here.\nshort");
        assert_eq!(f.removed_units, 1);
        assert_eq!(b.filter(docs[2]).text, "Yet another real sentence.");
        assert_eq!(b.filter(docs[3]).text, docs[3]);
        // The same set through a mapped file.
        let mapped =
            Boilerplate::from_counts_to(&paths, cfg, &dir.path().join("boilerplate.hashes"))
                .unwrap();
        assert_eq!(mapped.len(), 1);
        for d in docs {
            assert_eq!(mapped.filter(d).text, b.filter(d).text);
        }
    }

    #[test]
    fn counting_hashes_equals_counting_text() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LineDedupConfig { min_chars: 3, ..LineDedupConfig::default() };
        let docs = ["abc def\nABC DEF!\nxyz 1\nxyz 2", "xyz 9\nother line", "ab\nabc def"];
        assert_eq!(
            cfg.unit_hashes(docs[0]).len(),
            2,
            "normalized duplicates within a document count once"
        );
        let (mut by_text, mut by_hash) = (
            LineCounter::new(dir.path(), cfg).unwrap(),
            LineCounter::new(dir.path(), cfg).unwrap(),
        );
        for d in docs {
            by_text.add(d).unwrap();
            by_hash.add_hashes(&cfg.unit_hashes(d)).unwrap();
        }
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        assert_eq!(by_text.finish(&a).unwrap(), 3);
        assert_eq!(by_hash.finish(&b).unwrap(), 3);
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }

    #[test]
    fn paragraphs() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LineDedupConfig {
            unit: LineUnit::Paragraph,
            min_chars: 5,
            max_occurrences: 1,
            ..LineDedupConfig::default()
        };
        let mut c = LineCounter::new(dir.path(), cfg).unwrap();
        c.add("Cookie notice here.\n\nBody one.").unwrap();
        c.add("Cookie notice here.\n\nBody two.").unwrap();
        let p = dir.path().join("c");
        c.finish(&p).unwrap();
        let b = Boilerplate::from_counts(&[p], cfg).unwrap();
        assert_eq!(b.filter("Cookie notice here.\n\nBody three.").text, "Body three.");
    }
}
