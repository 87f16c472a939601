//! Phase 2: per band (and for exact hashes), sort out of core and write duplicate edges.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::store::SignatureStore;
use super::{DedupConfig, SigFields, check_fingerprint, decode_sig, signature_files};
use crate::error::{Error, Result};
use crate::external::{ExternalSorter, SortRecord};
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter};
use crate::lsh::band_key;
use crate::minhash::jaccard_estimate;

/// A unit of phase 2 work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partition {
    /// One LSH band.
    Band(usize),
    /// Exact hashes.
    Exact,
}

impl Partition {
    /// All partitions of `config`, in order: bands `0..bands`, then exact (if enabled).
    /// Partition `p` of this list belongs to rank `p % world`.
    pub fn all(config: &DedupConfig) -> Vec<Partition> {
        let bands = if config.fuzzy { config.minhash.bands } else { 0 };
        let mut out: Vec<Partition> = (0..bands).map(Partition::Band).collect();
        if config.exact {
            out.push(Partition::Exact);
        }
        out
    }

    /// The edge file of this partition.
    pub fn edge_path(self, work_dir: &Path) -> PathBuf {
        let name = match self {
            Partition::Band(b) => format!("band_{b:03}.edges"),
            Partition::Exact => "exact.edges".to_string(),
        };
        work_dir.join("edges").join(name)
    }
}

/// What one partition of phase 2 did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionSummary {
    /// The partition.
    pub partition: Partition,
    /// Documents seen (with shingles, for bands).
    pub documents: u64,
    /// Keys shared by two or more documents.
    pub buckets: u64,
    /// Candidate pairs compared (with verification) or linked (without).
    pub candidates: u64,
    /// Edges written.
    pub edges: u64,
}

/// Runs the partitions owned by `rank` of `world` (see [`Partition::all`]).
///
/// # Errors
///
/// [`Error::Config`] for a bad config or `rank >= world`; otherwise as [`run_partition`].
pub fn run_phase2(
    work_dir: &Path,
    config: &DedupConfig,
    rank: usize,
    world: usize,
) -> Result<Vec<PartitionSummary>> {
    config.validate()?;
    if world == 0 || rank >= world {
        return Err(Error::Config(format!("rank {rank} must be below world size {world}")));
    }
    Partition::all(config)
        .into_iter()
        .enumerate()
        .filter(|(p, _)| p % world == rank)
        .map(|(_, part)| run_partition(work_dir, config, part))
        .collect()
}

/// Runs one partition: reads every split's signatures, sorts keys, writes the edge file.
///
/// # Errors
///
/// [`Error::Format`] for a corrupt signature file, [`Error::Mismatch`] for one written with
/// another config, [`Error::Io`] on I/O failure.
pub fn run_partition(
    work_dir: &Path,
    config: &DedupConfig,
    partition: Partition,
) -> Result<PartitionSummary> {
    let scratch = work_dir.join("tmp");
    let mut summary =
        PartitionSummary { partition, documents: 0, buckets: 0, candidates: 0, edges: 0 };
    let mut out = ArtifactWriter::create(
        &partition.edge_path(work_dir),
        ArtifactKind::Edges,
        16,
        config.fingerprint(),
    )?;
    match partition {
        Partition::Band(band) => {
            let rows = config.minhash.rows;
            let mut sorter = ExternalSorter::<(u64, u64)>::new(&scratch, config.memory_budget)?;
            let mut sig = Vec::new();
            for_each_record(work_dir, config, |f, rec| {
                if f.shingles > 0 {
                    decode_sig(rec, &mut sig);
                    sorter.push((band_key(&sig, band, rows), f.id))?;
                }
                Ok(())
            })?;
            band_edges(work_dir, config, sorter, &mut summary, &mut out)?;
        }
        Partition::Exact => {
            let mut sorter = ExternalSorter::<(u128, u64)>::new(&scratch, config.memory_budget)?;
            for_each_record(work_dir, config, |f, _| sorter.push((f.exact, f.id)))?;
            exact_edges(sorter, &mut summary, &mut out)?;
        }
    }
    summary.edges = out.finish()?;
    Ok(summary)
}

/// Links the documents sharing a band key (sorted `(key, id)`), verified against their
/// signatures, into edges.
pub(super) fn band_edges(
    work_dir: &Path,
    config: &DedupConfig,
    sorter: ExternalSorter<(u64, u64)>,
    summary: &mut PartitionSummary,
    out: &mut ArtifactWriter,
) -> Result<()> {
    let mut linker = BandLinker::new(work_dir, config)?;
    let mut edge = [0u8; 16];
    for_each_group(sorter.finish()?, summary, |group_start, id, summary| {
        for other in linker.link(group_start, id, summary)? {
            (other, id).encode(&mut edge);
            out.write_record(&edge)?;
        }
        Ok(())
    })
}

/// Links each document sharing an exact hash (sorted `(hash, id)`) to the first with it.
pub(super) fn exact_edges(
    sorter: ExternalSorter<(u128, u64)>,
    summary: &mut PartitionSummary,
    out: &mut ArtifactWriter,
) -> Result<()> {
    let mut first = 0;
    let mut edge = [0u8; 16];
    for_each_group(sorter.finish()?, summary, |group_start, id, summary| {
        if group_start {
            first = id;
        } else {
            summary.candidates += 1;
            (first, id).encode(&mut edge);
            out.write_record(&edge)?;
        }
        Ok(())
    })
}

/// Calls `f` with every signature record of every split, in split then id order.
fn for_each_record(
    work_dir: &Path,
    config: &DedupConfig,
    mut f: impl FnMut(&SigFields, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut rec = vec![0u8; config.record_len()];
    for path in signature_files(work_dir)? {
        let mut r =
            ArtifactReader::open(&path, ArtifactKind::Signatures, Some(config.record_len()))?;
        check_fingerprint(&path, r.header().param, config)?;
        while r.next_record(&mut rec)? {
            f(&SigFields::decode(&rec), &rec)?;
        }
    }
    Ok(())
}

/// Walks a sorted `(key, id)` stream, calling `f(is_first_of_key, id, summary)`.
pub(super) fn for_each_group<K: Eq + Copy, R>(
    sorted: impl Iterator<Item = Result<R>>,
    summary: &mut PartitionSummary,
    mut f: impl FnMut(bool, u64, &mut PartitionSummary) -> Result<()>,
) -> Result<()>
where
    R: Into<(K, u64)>,
{
    let mut current: Option<K> = None;
    let mut size = 0u64;
    for r in sorted {
        let (key, id) = r?.into();
        summary.documents += 1;
        let start = current != Some(key);
        if start {
            current = Some(key);
            size = 0;
        }
        size += 1;
        if size == 2 {
            summary.buckets += 1;
        }
        f(start, id, summary)?;
    }
    Ok(())
}

/// Links the members of one LSH bucket, in id order.
///
/// Without verification every member links to the first (a star). With verification each
/// member is compared with up to `max_bucket_compare` earlier members (the "anchors") and
/// linked to every one whose estimated Jaccard reaches the threshold; signatures are loaded
/// lazily, so singleton buckets (the vast majority) cost no lookup.
pub(super) struct BandLinker {
    store: SignatureStore,
    verify: bool,
    threshold: f64,
    max_anchors: usize,
    anchors: Vec<(u64, Option<Vec<u64>>)>,
    rec: Vec<u8>,
}

impl BandLinker {
    pub(super) fn new(work_dir: &Path, config: &DedupConfig) -> Result<Self> {
        Ok(BandLinker {
            store: SignatureStore::open(work_dir, config)?,
            verify: config.verify,
            threshold: config.threshold,
            max_anchors: config.max_bucket_compare,
            anchors: Vec::new(),
            rec: Vec::new(),
        })
    }

    fn load(&mut self, id: u64) -> Result<Vec<u64>> {
        if !self.store.get(id, &mut self.rec)? {
            return Err(Error::Mismatch {
                path: PathBuf::from("signatures"),
                message: format!("document {id} has a band key but no signature record"),
            });
        }
        let mut sig = Vec::new();
        decode_sig(&self.rec, &mut sig);
        Ok(sig)
    }

    /// The earlier members `id` links to.
    pub(super) fn link(
        &mut self,
        group_start: bool,
        id: u64,
        summary: &mut PartitionSummary,
    ) -> Result<Vec<u64>> {
        if group_start {
            self.anchors.clear();
            self.anchors.push((id, None));
            return Ok(Vec::new());
        }
        if !self.verify {
            summary.candidates += 1;
            return Ok(vec![self.anchors[0].0]);
        }
        let sig = self.load(id)?;
        let mut linked = Vec::new();
        for i in 0..self.anchors.len() {
            if self.anchors[i].1.is_none() {
                let s = self.load(self.anchors[i].0)?;
                self.anchors[i].1 = Some(s);
            }
            summary.candidates += 1;
            let (other, other_sig) = &self.anchors[i];
            if other_sig.as_deref().is_some_and(|o| jaccard_estimate(o, &sig) >= self.threshold) {
                linked.push(*other);
            }
        }
        if self.anchors.len() < self.max_anchors {
            self.anchors.push((id, Some(sig)));
        }
        Ok(linked)
    }
}
