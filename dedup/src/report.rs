//! What a dedup run found: counts per method, clusters, and the optional cluster dump.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::format::{ArtifactKind, ArtifactReader, u64_at};

/// Documents removed, by the method that removed them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedCounts {
    /// Removed by exact dedup: the documents that exact dedup alone would remove.
    pub exact: u64,
    /// Removed by MinHash clusters beyond `exact`.
    pub fuzzy: u64,
    /// Removed because they (or their cluster) match the persistent index of earlier runs,
    /// and would otherwise have been kept.
    pub index: u64,
    /// All removed documents: `exact + fuzzy + index`.
    pub total: u64,
}

/// The report of phase 3, also written as `clusters/report.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupReport {
    /// Documents in all signature files.
    pub documents: u64,
    /// Documents kept: `documents - removed.total`.
    pub kept: u64,
    /// Edges read from all partitions (a pair found in several bands counts once per band).
    pub edges: u64,
    /// Clusters (connected components with two or more documents).
    pub clusters: u64,
    /// Documents in clusters.
    pub documents_in_clusters: u64,
    /// Size of the largest cluster.
    pub largest_cluster: u64,
    /// Cluster size → number of clusters of that size.
    pub cluster_size_histogram: BTreeMap<u64, u64>,
    /// Removed documents by method.
    pub removed: RemovedCounts,
}

/// One cluster from the dump: the kept representative and every member (itself included),
/// ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// The document kept (unless the persistent index removed the whole cluster).
    pub representative: u64,
    /// All members, ascending.
    pub members: Vec<u64>,
}

/// Reads the cluster dump written by phase 3 with `dump_clusters`.
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) or [`Error::Format`](crate::Error::Format) naming the file.
pub fn read_clusters(path: &Path) -> Result<Vec<Cluster>> {
    let mut r = ArtifactReader::open(path, ArtifactKind::Clusters, Some(16))?;
    let mut rec = [0u8; 16];
    let mut out: Vec<Cluster> = Vec::new();
    while r.next_record(&mut rec)? {
        let (rep, member) = (u64_at(&rec, 0), u64_at(&rec, 8));
        match out.last_mut() {
            Some(c) if c.representative == rep => c.members.push(member),
            _ => out.push(Cluster { representative: rep, members: vec![member] }),
        }
    }
    Ok(out)
}
