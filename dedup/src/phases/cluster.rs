//! Phase 3: connected components over all edges, one representative per cluster.

use std::path::Path;

use super::buckets::Partition;
use super::store::SignatureStore;
use super::{DedupConfig, KeepRule, SigFields, check_fingerprint, clusters_path, remove_path, report_path, signature_files};
use crate::error::{Error, Result};
use crate::external::SortRecord;
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter, RandomReader};
use crate::index::DedupIndex;
use crate::report::DedupReport;
use crate::unionfind::{CompactIds, UnionFind};

/// Runs phase 3: reads every partition's edges, clusters, picks representatives and writes
/// `clusters/remove.ids`, `clusters/report.json` and (with `dump_clusters`)
/// `clusters/clusters.bin`.
///
/// With `index`, documents matching the persistent index of earlier runs are removed too,
/// and with them their whole cluster (its members are near-duplicates of old content).
///
/// Memory: about 40 bytes per document that has an edge (union-find and id map), plus 8
/// bytes per removed document; nothing per unique document.
///
/// # Errors
///
/// [`Error::Mismatch`] when an edge file is missing or from another config,
/// [`Error::Format`] for a corrupt file, [`Error::Io`] on I/O failure.
pub fn run_phase3(work_dir: &Path, config: &DedupConfig, index: Option<&DedupIndex>) -> Result<DedupReport> {
    config.validate()?;
    let mut report = DedupReport::default();
    let (ids, mut uf) = union_edges(work_dir, config, &mut report)?;
    for path in signature_files(work_dir)? {
        let r = RandomReader::open(&path, ArtifactKind::Signatures, Some(config.record_len()))?;
        report.documents += r.header().count;
    }
    let matched = match index {
        Some(index) => index_matches(work_dir, config, index)?,
        None => Vec::new(),
    };
    let clusters = components(&ids, &mut uf);
    let mut store = if config.keep == KeepRule::First { None } else { Some(SignatureStore::open(work_dir, config)?) };
    let mut removed = Vec::new();
    let mut dump = Vec::new();
    let mut cluster_removed = 0;
    for members in &clusters {
        let size = members.len() as u64;
        report.clusters += 1;
        report.documents_in_clusters += size;
        report.largest_cluster = report.largest_cluster.max(size);
        *report.cluster_size_histogram.entry(size).or_insert(0) += 1;
        let rep = representative(members, config.keep, store.as_mut())?;
        let old = members.iter().any(|m| matched.binary_search(m).is_ok());
        for &m in members {
            if m != rep || old {
                removed.push(m);
            }
            if config.dump_clusters {
                dump.push((rep, m));
            }
        }
        cluster_removed += size - 1;
        report.removed.index += u64::from(old);
    }
    // Index matches outside any cluster.
    for &m in &matched {
        if ids.lookup(m).is_none() {
            removed.push(m);
            report.removed.index += 1;
        }
    }
    report.removed.fuzzy = cluster_removed - report.removed.exact;
    removed.sort_unstable();
    report.removed.total = removed.len() as u64;
    report.kept = report.documents - report.removed.total;
    write_ids(&remove_path(work_dir), ArtifactKind::Removed, config, removed.iter().map(|&m| (m, 0)), 8)?;
    if config.dump_clusters {
        dump.sort_unstable();
        write_ids(&clusters_path(work_dir), ArtifactKind::Clusters, config, dump.into_iter(), 16)?;
    }
    write_report(&report_path(work_dir), &report)?;
    Ok(report)
}

/// Unions every edge of every partition; counts edges and exact removals into `report`.
fn union_edges(work_dir: &Path, config: &DedupConfig, report: &mut DedupReport) -> Result<(CompactIds, UnionFind)> {
    let mut ids = CompactIds::default();
    let mut uf = UnionFind::default();
    let mut rec = [0u8; 16];
    for part in Partition::all(config) {
        let path = part.edge_path(work_dir);
        if !path.exists() {
            return Err(Error::Mismatch { path, message: format!("missing: run phase 2 for partition {part:?} first") });
        }
        let mut r = ArtifactReader::open(&path, ArtifactKind::Edges, Some(16))?;
        check_fingerprint(&path, r.header().param, config)?;
        while r.next_record(&mut rec)? {
            let (a, b) = <(u64, u64)>::decode(&rec);
            let (ia, ib) = (ids.get_or_insert(a), ids.get_or_insert(b));
            uf.grow(ids.len());
            uf.union(ia, ib);
            if part == Partition::Exact {
                report.removed.exact += 1;
            }
        }
        report.edges += r.header().count;
    }
    Ok((ids, uf))
}

/// The clusters (members ascending), ordered by their smallest member.
fn components(ids: &CompactIds, uf: &mut UnionFind) -> Vec<Vec<u64>> {
    let mut pairs: Vec<(u32, u64)> = (0..ids.len() as u32).map(|i| (uf.find(i), ids.id(i))).collect();
    pairs.sort_unstable();
    let mut clusters: Vec<Vec<u64>> = Vec::new();
    let mut last_root = None;
    for (root, id) in pairs {
        if last_root != Some(root) {
            clusters.push(Vec::new());
            last_root = Some(root);
        }
        if let Some(c) = clusters.last_mut() {
            c.push(id);
        }
    }
    for c in &mut clusters {
        c.sort_unstable();
    }
    clusters.sort_unstable_by_key(|c| c[0]);
    clusters
}

/// The member kept by `rule`; ties go to the smallest id (members are ascending).
fn representative(members: &[u64], rule: KeepRule, store: Option<&mut SignatureStore>) -> Result<u64> {
    let Some(store) = store else { return Ok(members[0]) };
    let mut best = (f64::NEG_INFINITY, members[0]);
    let mut rec = Vec::new();
    for &m in members {
        if !store.get(m, &mut rec)? {
            return Err(Error::Mismatch { path: "signatures".into(), message: format!("document {m} has edges but no signature record") });
        }
        let f = SigFields::decode(&rec);
        let value = match rule {
            KeepRule::First => 0.0,
            KeepRule::Longest => f.len as f64,
            KeepRule::HighestScore if f.score.is_nan() => f64::NEG_INFINITY,
            KeepRule::HighestScore => f.score,
        };
        if value > best.0 {
            best = (value, m);
        }
    }
    Ok(best.1)
}

/// Ids of this run's documents that match the index, ascending.
fn index_matches(work_dir: &Path, config: &DedupConfig, index: &DedupIndex) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let mut rec = vec![0u8; config.record_len()];
    let mut sig = Vec::new();
    for path in signature_files(work_dir)? {
        let mut r = ArtifactReader::open(&path, ArtifactKind::Signatures, Some(config.record_len()))?;
        check_fingerprint(&path, r.header().param, config)?;
        while r.next_record(&mut rec)? {
            let f = SigFields::decode(&rec);
            super::decode_sig(&rec, &mut sig);
            if index.matches(config, &f, &sig)? {
                out.push(f.id);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Writes `(a, b)` records (or just `a` when `record_len` is 8).
fn write_ids(
    path: &Path,
    kind: ArtifactKind,
    config: &DedupConfig,
    records: impl Iterator<Item = (u64, u64)>,
    record_len: usize,
) -> Result<()> {
    let mut w = ArtifactWriter::create(path, kind, record_len, config.fingerprint())?;
    let mut rec = [0u8; 16];
    for r in records {
        r.encode(&mut rec);
        w.write_record(&rec[..record_len])?;
    }
    w.finish()?;
    Ok(())
}

fn write_report(path: &Path, report: &DedupReport) -> Result<()> {
    let json =
        serde_json::to_vec_pretty(report).map_err(|e| Error::Io { action: "serialize", path: path.to_path_buf(), source: e.into() })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))
}
