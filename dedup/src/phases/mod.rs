//! The four out-of-core phases of corpus-wide dedup, over files in a work dir.
//!
//! 1. **Signatures** ([`SignatureWriter`]): per input split, each document's MinHash
//!    signature, exact hash, length and optional quality score go to
//!    `signatures/split_{i:05}.sig`. Splits are independent, so rank `r` of `N` writes the
//!    splits it owns.
//! 2. **Buckets** ([`run_partition`], [`run_phase2`]): per band, every `(band key, doc id)`
//!    is sorted out of core; documents sharing a key are candidates, verified (by default) by
//!    the estimated Jaccard of their full signatures, and each verified pair becomes an edge
//!    in `edges/band_{b:03}.edges`. The exact partition does the same with exact hashes
//!    (`edges/exact.edges`). Rank `r` of `N` runs the partitions `p` with `p % N == r`.
//! 3. **Clusters** ([`run_phase3`]): connected components over all edges (a union-find in
//!    memory, or label propagation over sorted files beyond the memory budget); in each component
//!    one representative is kept by the [`KeepRule`], the rest are listed in
//!    `clusters/remove.ids` (sorted), with `clusters/report.json` and, if asked, the
//!    clusters in `clusters/clusters.bin`. Runs once (rank 0).
//! 4. **Filter** ([`RemoveSet`], or [`RemoveCursor`] to stream a removal list larger than
//!    memory): `is_duplicate(id)` for the stream of documents.
//!
//! Document ids are `u64`s the caller assigns in input order, so "first in input order" is
//! the smallest id. Within a split ids must increase. Every artifact follows
//! [`crate::format`] and records the config fingerprint; a phase refuses inputs written with
//! another config. Outputs depend only on the set of documents and the config: any split of
//! the input, any rank count, gives byte-identical edges, removal lists and reports.
//!
//! # Signature records
//!
//! `signatures/split_{i:05}.sig` is a [`ArtifactKind::Signatures`](crate::format::ArtifactKind)
//! artifact whose parameter is [`DedupConfig::fingerprint`] and whose records (`48 + 8·K`
//! bytes, `K` = `num_perm`, all little-endian) are:
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | document id, `u64` |
//! | 8 | 8 | text length in bytes, `u64` |
//! | 16 | 8 | quality score, `f64` (NaN when none) |
//! | 24 | 16 | exact hash, `u128` (XXH3-128 of the normalized text) |
//! | 40 | 8 | shingle count, `u64` (0: no tokens, never a fuzzy duplicate) |
//! | 48 | 8·K | MinHash signature, `u64[K]` |
//!
//! Edge files hold `(kept-side id, other id)` pairs of `u64` (16 bytes, first < second);
//! `remove.ids` holds `u64` ids; `clusters.bin` holds `(representative, member)` pairs sorted
//! by representative, then member, the representative included as its own member.

mod buckets;
mod cluster;
mod cluster_spill;
mod components;
mod filter;
pub mod index;
mod keys;
mod signatures;
mod store;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

pub use buckets::{Partition, PartitionSummary, run_partition, run_phase2};
pub use cluster::{run_phase3, run_phase3_of};
pub use filter::{RemoveCursor, RemoveSet};
pub use keys::{KeyShardWriter, run_partition_shard, shard_candidates};
pub use signatures::{DocSignature, SignatureWriter, Signer};

use crate::error::{Error, Result};
use crate::minhash::MinHashConfig;
use crate::normalize::NormalizeOptions;

/// Which document of a cluster is kept. Ties always go to the smallest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepRule {
    /// The first in input order (smallest id), as datatrove and datasketch do.
    #[default]
    First,
    /// The longest text (in bytes).
    Longest,
    /// The highest quality score (documents without a score rank lowest).
    HighestScore,
}

/// Configuration of corpus-wide dedup. `DedupConfig` drives the phases in [`crate::phases`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// MinHash signatures and LSH bands.
    pub minhash: MinHashConfig,
    /// Remove near duplicates found by MinHash-LSH. Off, only exact duplicates are removed
    /// (with `exact`) and no signatures are computed.
    pub fuzzy: bool,
    /// Also remove exact duplicates (equal after `normalize`).
    pub exact: bool,
    /// Normalization for exact hashes.
    pub normalize: NormalizeOptions,
    /// Verify LSH candidates: keep an edge only if the estimated Jaccard is at least `threshold`.
    pub verify: bool,
    /// Estimated-Jaccard threshold for verification, in [0, 1].
    pub threshold: f64,
    /// Which document of a cluster is kept.
    pub keep: KeepRule,
    /// Memory for sorting in phase 2 and index lookups, in bytes; beyond it, data spills to disk.
    pub memory_budget: usize,
    /// With `verify`, the most documents of one LSH bucket each new member is compared with
    /// (bounds work on huge buckets; later members still link to these).
    pub max_bucket_compare: usize,
    /// Write `clusters/clusters.bin` in phase 3.
    pub dump_clusters: bool,
    /// A document matches the persistent index if at least this many of its band keys are in it.
    pub index_min_bands: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            minhash: MinHashConfig::default(),
            fuzzy: true,
            exact: true,
            normalize: NormalizeOptions::default(),
            verify: true,
            threshold: 0.8,
            keep: KeepRule::First,
            memory_budget: 256 << 20,
            max_bucket_compare: 64,
            dump_clusters: false,
            index_min_bands: 1,
        }
    }
}

impl DedupConfig {
    /// Checks the values are usable.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the bad value.
    pub fn validate(&self) -> Result<()> {
        self.minhash.validate()?;
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::Config(format!("threshold {} must be in [0, 1]", self.threshold)));
        }
        if !self.fuzzy && !self.exact {
            return Err(Error::Config("at least one of fuzzy and exact must be on".into()));
        }
        if self.max_bucket_compare == 0 || self.index_min_bands == 0 {
            return Err(Error::Config(
                "max_bucket_compare and index_min_bands must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// A hash of what determines the artifacts' contents (signatures, exact hashes); stored
    /// in every artifact header.
    pub fn fingerprint(&self) -> u64 {
        let n = &self.normalize;
        let mut b = self.minhash.fingerprint().to_le_bytes().to_vec();
        b.extend(
            [n.lowercase, n.collapse_whitespace, n.strip_punctuation, n.digits_to_zero, self.fuzzy]
                .map(u8::from),
        );
        xxh3_64(&b)
    }

    /// Length of a signature record in bytes.
    pub fn record_len(&self) -> usize {
        SIG_HEADER + 8 * self.minhash.num_perm
    }
}

/// Bytes before the signature in a signature record.
pub(crate) const SIG_HEADER: usize = 48;

/// Path of split `split`'s signature file.
pub fn signature_path(work_dir: &Path, split: u32) -> PathBuf {
    work_dir.join("signatures").join(format!("split_{split:05}.sig"))
}

/// Path of the removal list written by phase 3.
pub fn remove_path(work_dir: &Path) -> PathBuf {
    work_dir.join("clusters").join("remove.ids")
}

/// Path of the cluster dump written by phase 3 with [`DedupConfig::dump_clusters`].
pub fn clusters_path(work_dir: &Path) -> PathBuf {
    work_dir.join("clusters").join("clusters.bin")
}

/// Path of the report written by phase 3.
pub fn report_path(work_dir: &Path) -> PathBuf {
    work_dir.join("clusters").join("report.json")
}

/// The signature files in `work_dir`, sorted by name.
///
/// # Errors
///
/// [`Error::Io`] when the directory exists but cannot be listed.
pub fn signature_files(work_dir: &Path) -> Result<Vec<PathBuf>> {
    let dir = work_dir.join("signatures");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
        let path = entry.map_err(Error::io("list", &dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("split_") && name.ends_with(".sig") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Checks an artifact's parameter against the config fingerprint.
pub(crate) fn check_fingerprint(path: &Path, param: u64, config: &DedupConfig) -> Result<()> {
    if param != config.fingerprint() {
        return Err(Error::Mismatch {
            path: path.to_path_buf(),
            message: format!(
                "written with config fingerprint {param:016x}, this run's is {:016x}; rerun the earlier phases with this config",
                config.fingerprint()
            ),
        });
    }
    Ok(())
}

/// Decoded fixed fields of a signature record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SigFields {
    pub id: u64,
    pub len: u64,
    pub score: f64,
    pub exact: u128,
    pub shingles: u64,
}

impl SigFields {
    pub(crate) fn decode(rec: &[u8]) -> Self {
        use crate::format::{u64_at, u128_at};
        SigFields {
            id: u64_at(rec, 0),
            len: u64_at(rec, 8),
            score: f64::from_bits(u64_at(rec, 16)),
            exact: u128_at(rec, 24),
            shingles: u64_at(rec, 40),
        }
    }
}

/// Decodes the signature part of a record into `out`.
pub(crate) fn decode_sig(rec: &[u8], out: &mut Vec<u64>) {
    out.clear();
    out.extend(rec[SIG_HEADER..].chunks_exact(8).map(|c| crate::format::u64_at(c, 0)));
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_budget;
