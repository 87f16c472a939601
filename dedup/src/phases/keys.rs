//! Phase 2 spread over key shards, for job arrays: phase 1 also writes each document's band keys
//! (and exact hash) routed by key to one of `shards` files per partition, so that phase 2 task
//! `s` sorts only the keys of shard `s` of every partition, reading `16` bytes per document and
//! band instead of every signature. Documents sharing a key are in the same shard, so the edges
//! of a partition are those of [`run_partition`](super::run_partition), split over files.
//!
//! Files: `keys/{partition}-s{shard:05}/split_{split:05}.keys` (records `(key u64, id u64)`, or
//! `(exact u128, id u64)` for the exact partition) and `edges/{partition}_s{shard:05}.edges`.

use std::path::{Path, PathBuf};

use super::buckets::{band_edges, exact_edges};
use super::{DedupConfig, DocSignature, Partition, PartitionSummary, check_fingerprint};
use crate::error::Result;
use crate::external::{ExternalSorter, SortRecord};
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter};
use crate::lsh::band_key;

impl Partition {
    /// The file stem of this partition (`band_003`, `exact`).
    fn stem(self) -> String {
        match self {
            Partition::Band(b) => format!("band_{b:03}"),
            Partition::Exact => "exact".to_string(),
        }
    }

    /// The directory of this partition's keys in key shard `shard`.
    pub fn keys_dir(self, work_dir: &Path, shard: usize) -> PathBuf {
        work_dir.join("keys").join(format!("{}-s{shard:05}", self.stem()))
    }

    /// The edge file of this partition's key shard `shard`.
    pub fn shard_edge_path(self, work_dir: &Path, shard: usize) -> PathBuf {
        work_dir.join("edges").join(format!("{}_s{shard:05}.edges", self.stem()))
    }
}

/// The key shard of a band key or an exact hash.
fn shard_of(key: u64, shards: usize) -> usize {
    // The high bits: the low ones also pick the external sort's runs.
    usize::try_from((u128::from(key) * shards as u128) >> 64).unwrap_or(0)
}

/// Writes one split's band keys and exact hashes, routed by key shard.
#[derive(Debug)]
pub struct KeyShardWriter {
    /// One writer per (partition, shard), partition-major.
    writers: Vec<ArtifactWriter>,
    partitions: Vec<Partition>,
    shards: usize,
    rows: usize,
}

impl KeyShardWriter {
    /// Starts the key files of split `split` for `shards` key shards.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) creating the files.
    pub fn create(
        work_dir: &Path,
        split: u32,
        config: &DedupConfig,
        shards: usize,
    ) -> Result<Self> {
        let shards = shards.max(1);
        let partitions = Partition::all(config);
        let mut writers = Vec::with_capacity(partitions.len() * shards);
        for &p in &partitions {
            let (kind, len) = match p {
                Partition::Band(_) => (ArtifactKind::BandKeys, 16),
                Partition::Exact => (ArtifactKind::ExactKeys, 24),
            };
            for s in 0..shards {
                let path = p.keys_dir(work_dir, s).join(format!("split_{split:05}.keys"));
                writers.push(ArtifactWriter::create(&path, kind, len, config.fingerprint())?);
            }
        }
        Ok(KeyShardWriter { writers, partitions, shards, rows: config.minhash.rows })
    }

    /// Adds one document's keys (a document without shingles has no band keys, as in phase 2).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) writing.
    pub fn write(&mut self, sig: &DocSignature) -> Result<()> {
        let mut rec = [0u8; 24];
        for (i, p) in self.partitions.iter().enumerate() {
            match *p {
                Partition::Band(b) => {
                    if sig.shingles == 0 {
                        continue;
                    }
                    let key = band_key(&sig.signature, b, self.rows);
                    (key, sig.id).encode(&mut rec[..16]);
                    self.writers[i * self.shards + shard_of(key, self.shards)]
                        .write_record(&rec[..16])?;
                }
                Partition::Exact => {
                    (sig.exact, sig.id).encode(&mut rec);
                    let shard = shard_of((sig.exact >> 64) as u64, self.shards);
                    self.writers[i * self.shards + shard].write_record(&rec)?;
                }
            }
        }
        Ok(())
    }

    /// Completes every file.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) syncing or renaming.
    pub fn finish(self) -> Result<()> {
        for w in self.writers {
            w.finish()?;
        }
        Ok(())
    }
}

/// Runs key shard `shard` of one partition: sorts the shard's keys of every split, links the
/// documents sharing a key (verified against their signatures, as [`run_partition`](super::run_partition)
/// does), and writes `edges/{partition}_s{shard}.edges`.
///
/// # Errors
/// As [`run_partition`](super::run_partition); [`Error::Mismatch`](crate::Error::Mismatch) for
/// key files of another config.
pub fn run_partition_shard(
    work_dir: &Path,
    config: &DedupConfig,
    partition: Partition,
    shard: usize,
) -> Result<PartitionSummary> {
    config.validate()?;
    let scratch = work_dir.join("tmp");
    let mut summary =
        PartitionSummary { partition, documents: 0, buckets: 0, candidates: 0, edges: 0 };
    let mut out = ArtifactWriter::create(
        &partition.shard_edge_path(work_dir, shard),
        ArtifactKind::Edges,
        16,
        config.fingerprint(),
    )?;
    let files = key_files(&partition.keys_dir(work_dir, shard));
    match partition {
        Partition::Band(_) => {
            let sorter = sort_keys::<(u64, u64)>(&files, ArtifactKind::BandKeys, config, &scratch)?;
            band_edges(work_dir, config, sorter, &mut summary, &mut out)?;
        }
        Partition::Exact => {
            let sorter =
                sort_keys::<(u128, u64)>(&files, ArtifactKind::ExactKeys, config, &scratch)?;
            exact_edges(sorter, &mut summary, &mut out)?;
        }
    }
    summary.edges = out.finish()?;
    Ok(summary)
}

/// The ids of the documents whose signatures [`run_partition_shard`] may read for key shard
/// `shard` of `partition` (those sharing a band key with another document), ascending: what a
/// task without the signature files must fetch first. Empty for the exact partition.
///
/// # Errors
/// As [`run_partition_shard`].
pub fn shard_candidates(
    work_dir: &Path,
    config: &DedupConfig,
    partition: Partition,
    shard: usize,
) -> Result<Vec<u64>> {
    if partition == Partition::Exact || !config.verify {
        return Ok(Vec::new());
    }
    let files = key_files(&partition.keys_dir(work_dir, shard));
    let sorter =
        sort_keys::<(u64, u64)>(&files, ArtifactKind::BandKeys, config, &work_dir.join("tmp"))?;
    let mut ids = Vec::new();
    let mut group: Vec<u64> = Vec::new();
    let mut current = None;
    for r in sorter.finish()? {
        let (key, id) = r?;
        if current != Some(key) {
            if group.len() > 1 {
                ids.append(&mut group);
            }
            group.clear();
            current = Some(key);
        }
        group.push(id);
    }
    if group.len() > 1 {
        ids.append(&mut group);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The records of key files of `kind` (written with `config`), pushed into an external sort.
fn sort_keys<R: SortRecord>(
    files: &[PathBuf],
    kind: ArtifactKind,
    config: &DedupConfig,
    scratch: &Path,
) -> Result<ExternalSorter<R>> {
    let mut sorter = ExternalSorter::<R>::new(scratch, config.memory_budget)?;
    let mut rec = vec![0u8; R::SIZE];
    for path in files {
        let mut r = ArtifactReader::open(path, kind, Some(R::SIZE))?;
        check_fingerprint(path, r.header().param, config)?;
        while r.next_record(&mut rec)? {
            sorter.push(R::decode(&rec))?;
        }
    }
    Ok(sorter)
}

/// The key files of a key shard directory, in name order.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "keys"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// The edge files of partition `partition`: its single file, or the files of its key shards.
pub(super) fn edge_files(work_dir: &Path, partition: Partition) -> Vec<PathBuf> {
    let single = partition.edge_path(work_dir);
    if single.exists() {
        return vec![single];
    }
    let prefix = format!("{}_s", partition.stem());
    let mut files: Vec<PathBuf> = match std::fs::read_dir(work_dir.join("edges")) {
        Ok(d) => d
            .filter_map(std::result::Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".edges"))
            })
            .map(|e| e.path())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}
