//! A persistent index of earlier runs, for incremental dedup.
//!
//! The index directory holds two sorted, deduplicated artifacts (see [`crate::format`]):
//! `exact.idx` (`u128` exact hashes, [`ArtifactKind::IndexExact`]) and `bands.idx` (`u64`
//! band keys, [`ArtifactKind::IndexBands`]; keys are seeded by band so one table holds all
//! bands). Both record the config fingerprint: an index only serves runs with the same config.
//!
//! A later run passes the index to [`run_phase3`](crate::phases::run_phase3): a document
//! matches when its exact hash is in the index or at least
//! [`DedupConfig::index_min_bands`] of its band keys are (LSH semantics, as datatrove's
//! index; old signatures are not kept, so there is no Jaccard verification against the
//! index). Then [`DedupIndex::update`] folds the run's keys in.
//!
//! A table no bigger than the memory budget is loaded; a larger one is binary-searched on
//! disk.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{DedupConfig, SigFields, check_fingerprint, decode_sig, signature_files};
use crate::error::Result;
use crate::external::{ExternalSorter, SortRecord};
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter, RandomReader};
use crate::lsh::band_key;

/// Sorted unique records, in memory or on disk.
#[derive(Debug)]
enum SortedTable<R: SortRecord> {
    Memory(Vec<R>),
    Disk { reader: Mutex<RandomReader>, count: u64 },
}

impl<R: SortRecord> SortedTable<R> {
    fn open(path: &Path, kind: ArtifactKind, config: &DedupConfig, budget: usize) -> Result<Self> {
        let mut r = ArtifactReader::open(path, kind, Some(R::SIZE))?;
        check_fingerprint(path, r.header().param, config)?;
        let count = r.header().count;
        let mut rec = vec![0u8; R::SIZE];
        if u128::from(count) * R::SIZE as u128 <= budget as u128 {
            let mut v = Vec::with_capacity(count as usize);
            while r.next_record(&mut rec)? {
                v.push(R::decode(&rec));
            }
            return Ok(SortedTable::Memory(v));
        }
        // Verify the checksum once, then search on disk.
        while r.next_record(&mut rec)? {}
        Ok(SortedTable::Disk {
            reader: Mutex::new(RandomReader::open(path, kind, Some(R::SIZE))?),
            count,
        })
    }

    fn len(&self) -> u64 {
        match self {
            SortedTable::Memory(v) => v.len() as u64,
            SortedTable::Disk { count, .. } => *count,
        }
    }

    fn contains(&self, key: R) -> Result<bool> {
        match self {
            SortedTable::Memory(v) => Ok(v.binary_search(&key).is_ok()),
            SortedTable::Disk { reader, count } => {
                let mut reader = reader.lock().unwrap_or_else(|e| e.into_inner());
                let (mut lo, mut hi) = (0, *count);
                let mut rec = vec![0u8; R::SIZE];
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    reader.read_at(mid, &mut rec)?;
                    match R::decode(&rec).cmp(&key) {
                        std::cmp::Ordering::Equal => return Ok(true),
                        std::cmp::Ordering::Less => lo = mid + 1,
                        std::cmp::Ordering::Greater => hi = mid,
                    }
                }
                Ok(false)
            }
        }
    }
}

/// What [`DedupIndex::update`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Exact hashes in the index.
    pub exact: u64,
    /// Band keys in the index.
    pub bands: u64,
}

/// The persistent index of exact hashes and band keys of earlier runs.
#[derive(Debug)]
pub struct DedupIndex {
    exact: Option<SortedTable<u128>>,
    bands: SortedTable<u64>,
}

fn exact_path(dir: &Path) -> PathBuf {
    dir.join("exact.idx")
}

fn bands_path(dir: &Path) -> PathBuf {
    dir.join("bands.idx")
}

impl DedupIndex {
    /// Opens the index in `dir`, loading tables that fit half the memory budget each.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when missing, [`Error::Format`](crate::Error::Format) when corrupt, [`Error::Mismatch`](crate::Error::Mismatch) when
    /// built with another config.
    pub fn open(dir: &Path, config: &DedupConfig) -> Result<Self> {
        let budget = config.memory_budget / 2;
        let exact = if config.exact {
            Some(SortedTable::open(&exact_path(dir), ArtifactKind::IndexExact, config, budget)?)
        } else {
            None
        };
        let bands = SortedTable::open(&bands_path(dir), ArtifactKind::IndexBands, config, budget)?;
        Ok(DedupIndex { exact, bands })
    }

    /// Numbers of exact hashes and band keys held.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            exact: self.exact.as_ref().map_or(0, SortedTable::len),
            bands: self.bands.len(),
        }
    }

    /// Whether an exact hash is in the index (false when exact dedup is off).
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when an on-disk table cannot be read.
    pub fn contains_exact(&self, hash: u128) -> Result<bool> {
        self.exact.as_ref().map_or(Ok(false), |t| t.contains(hash))
    }

    /// How many of `keys` (band keys, see [`crate::lsh`]) are in the index.
    ///
    /// # Errors
    ///
    /// [`Error::Io`](crate::Error::Io) when an on-disk table cannot be read.
    pub fn band_matches(&self, keys: &[u64]) -> Result<usize> {
        let mut n = 0;
        for &k in keys {
            n += usize::from(self.bands.contains(k)?);
        }
        Ok(n)
    }

    /// Whether a document of this run duplicates something indexed.
    pub(crate) fn matches(&self, config: &DedupConfig, f: &SigFields, sig: &[u64]) -> Result<bool> {
        if config.exact && self.contains_exact(f.exact)? {
            return Ok(true);
        }
        if f.shingles == 0 {
            return Ok(false);
        }
        let (bands, rows) = (config.minhash.bands, config.minhash.rows);
        let keys: Vec<u64> = (0..bands).map(|b| band_key(sig, b, rows)).collect();
        Ok(self.band_matches(&keys)? >= config.index_min_bands)
    }

    /// Adds every document of the run in `work_dir` (its phase 1 signatures) to the index in
    /// `dir`, creating it if absent. Each file is replaced atomically.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), plus errors reading the signatures or writing the index.
    pub fn update(dir: &Path, work_dir: &Path, config: &DedupConfig) -> Result<IndexStats> {
        let scratch = work_dir.join("tmp");
        let budget = config.memory_budget / 2;
        let mut exact = ExternalSorter::<u128>::new(&scratch, budget)?;
        let mut bands = ExternalSorter::<u64>::new(&scratch, budget)?;
        if config.exact && exact_path(dir).exists() {
            copy_into(&exact_path(dir), ArtifactKind::IndexExact, config, &mut exact)?;
        }
        if bands_path(dir).exists() {
            copy_into(&bands_path(dir), ArtifactKind::IndexBands, config, &mut bands)?;
        }
        let (nb, rows) = (config.minhash.bands, config.minhash.rows);
        let mut rec = vec![0u8; config.record_len()];
        let mut sig = Vec::new();
        for path in signature_files(work_dir)? {
            let mut r =
                ArtifactReader::open(&path, ArtifactKind::Signatures, Some(config.record_len()))?;
            check_fingerprint(&path, r.header().param, config)?;
            while r.next_record(&mut rec)? {
                let f = SigFields::decode(&rec);
                if config.exact {
                    exact.push(f.exact)?;
                }
                if f.shingles > 0 {
                    decode_sig(&rec, &mut sig);
                    for b in 0..nb {
                        bands.push(band_key(&sig, b, rows))?;
                    }
                }
            }
        }
        let n_exact = if config.exact {
            write_unique(&exact_path(dir), ArtifactKind::IndexExact, config, exact)?
        } else {
            0
        };
        let n_bands = write_unique(&bands_path(dir), ArtifactKind::IndexBands, config, bands)?;
        Ok(IndexStats { exact: n_exact, bands: n_bands })
    }
}

fn copy_into<R: SortRecord>(
    path: &Path,
    kind: ArtifactKind,
    config: &DedupConfig,
    sorter: &mut ExternalSorter<R>,
) -> Result<()> {
    let mut r = ArtifactReader::open(path, kind, Some(R::SIZE))?;
    check_fingerprint(path, r.header().param, config)?;
    let mut rec = vec![0u8; R::SIZE];
    while r.next_record(&mut rec)? {
        sorter.push(R::decode(&rec))?;
    }
    Ok(())
}

fn write_unique<R: SortRecord>(
    path: &Path,
    kind: ArtifactKind,
    config: &DedupConfig,
    sorter: ExternalSorter<R>,
) -> Result<u64> {
    let mut w = ArtifactWriter::create(path, kind, R::SIZE, config.fingerprint())?;
    let mut rec = vec![0u8; R::SIZE];
    let mut last: Option<R> = None;
    for r in sorter.finish()? {
        let r = r?;
        if last != Some(r) {
            r.encode(&mut rec);
            w.write_record(&rec)?;
            last = Some(r);
        }
    }
    w.finish()
}
