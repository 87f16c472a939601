//! Phase 3: connected components over all edges, one representative per cluster.
//!
//! When the documents that have edges fit the memory budget (about
//! [`IN_MEMORY_BYTES_PER_DOC`] each: union-find, id map, cluster lists), clusters are found in
//! memory. Otherwise phase 3 runs out of core ([`super::cluster_spill`]) and writes the same
//! clusters, representatives, removal list, dump and report, byte for byte, from sorted
//! files. The in-memory attempt stops as soon as it outgrows the budget.

use std::path::Path;

use super::buckets::Partition;
use super::cluster_spill;
use super::store::SignatureStore;
use super::{
    DedupConfig, KeepRule, SigFields, check_fingerprint, clusters_path, remove_path, report_path,
    signature_files,
};
use crate::error::{Error, Result};
use crate::external::{ExternalSorter, SortRecord, SortedStream};
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter, RandomReader};
use crate::index::DedupIndex;
use crate::report::DedupReport;
use crate::unionfind::{CompactIds, UnionFind};

/// Memory per document with an edge on the in-memory path, in bytes: id map (a hash table at
/// its load factor), id list, union-find, the `(root, id)` pairs, cluster lists, the removal
/// list and the dump. An estimate on the high side.
pub(crate) const IN_MEMORY_BYTES_PER_DOC: usize = 96;

/// Phase 3 holds at most this many external sorts at once, each with this share of the budget.
pub(super) const SORTS_AT_ONCE: usize = 3;

/// Runs phase 3: reads every partition's edges, clusters, picks representatives and writes
/// `clusters/remove.ids`, `clusters/report.json` and (with `dump_clusters`)
/// `clusters/clusters.bin`.
///
/// With `index`, documents matching the persistent index of earlier runs are removed too,
/// and with them their whole cluster (its members are near-duplicates of old content).
///
/// Memory: within [`DedupConfig::memory_budget`]. While the documents that have an edge
/// take at most about 96 bytes each (plus 8 per index match) it works in memory; beyond
/// that it spills to sorted scratch files under `clusters/` (removed when done) and makes a
/// few passes over them per label-propagation round. The outputs are the same either way.
/// Nothing is held per unique document.
///
/// # Errors
///
/// [`Error::Mismatch`] when an edge file is missing or from another config,
/// [`Error::Format`] for a corrupt file, [`Error::Io`] on I/O failure.
pub fn run_phase3(
    work_dir: &Path,
    config: &DedupConfig,
    index: Option<&DedupIndex>,
) -> Result<DedupReport> {
    run_phase3_of(work_dir, config, index, None)
}

/// [`run_phase3`] told how many documents phase 1 signed (a job array's tasks counted them):
/// with [`KeepRule::First`] and no index it then reads the edges only, not the signatures.
///
/// # Errors
///
/// As [`run_phase3`].
pub fn run_phase3_of(
    work_dir: &Path,
    config: &DedupConfig,
    index: Option<&DedupIndex>,
    documents: Option<u64>,
) -> Result<DedupReport> {
    config.validate()?;
    let mut report = DedupReport::default();
    count_edges(work_dir, config, &mut report)?;
    match documents {
        Some(n) => report.documents = n,
        None => {
            for path in signature_files(work_dir)? {
                let r =
                    RandomReader::open(&path, ArtifactKind::Signatures, Some(config.record_len()))?;
                report.documents += r.header().count;
            }
        }
    }
    let (matched, matched_count) = index_matches(work_dir, config, index)?;
    let room = config.memory_budget.saturating_sub(matched_count.saturating_mul(8))
        / IN_MEMORY_BYTES_PER_DOC;
    let cluster_removed = match union_edges(work_dir, config, room)? {
        Some((ids, uf)) => {
            let matched = matched.collect::<Result<Vec<u64>>>()?;
            cluster_in_memory(work_dir, config, &ids, uf, &matched, &mut report)?
        }
        None => cluster_spill::run(work_dir, config, matched, &mut report)?,
    };
    report.removed.fuzzy = cluster_removed - report.removed.exact;
    report.kept = report.documents - report.removed.total;
    write_report(&report_path(work_dir), &report)?;
    Ok(report)
}

/// Clusters in memory; writes the removal list and dump, sets `report.removed.total` and
/// returns the number of documents removed for being in a cluster.
fn cluster_in_memory(
    work_dir: &Path,
    config: &DedupConfig,
    ids: &CompactIds,
    mut uf: UnionFind,
    matched: &[u64],
    report: &mut DedupReport,
) -> Result<u64> {
    let clusters = components(ids, &mut uf);
    drop(uf);
    let mut store = if config.keep == KeepRule::First {
        None
    } else {
        Some(SignatureStore::open(work_dir, config)?)
    };
    let mut removed = Vec::new();
    let mut dump = Vec::new();
    let mut cluster_removed = 0;
    for members in &clusters {
        let size = members.len() as u64;
        let rep = representative(members, config.keep, store.as_mut())?;
        let old = members.iter().any(|m| matched.binary_search(m).is_ok());
        tally(report, size, old);
        for &m in members {
            if m != rep || old {
                removed.push(m);
            }
            if config.dump_clusters {
                dump.push((rep, m));
            }
        }
        cluster_removed += size - 1;
    }
    // Index matches outside any cluster.
    for &m in matched {
        if ids.lookup(m).is_none() {
            removed.push(m);
            report.removed.index += 1;
        }
    }
    removed.sort_unstable();
    let records = removed.iter().map(|&m| Ok((m, 0)));
    report.removed.total =
        write_ids(&remove_path(work_dir), ArtifactKind::Removed, config, records, 8)?;
    if config.dump_clusters {
        dump.sort_unstable();
        write_ids(
            &clusters_path(work_dir),
            ArtifactKind::Clusters,
            config,
            dump.into_iter().map(Ok),
            16,
        )?;
    }
    Ok(cluster_removed)
}

/// Counts one cluster of `size` members into `report`; `old` when the index removed it.
pub(super) fn tally(report: &mut DedupReport, size: u64, old: bool) {
    report.clusters += 1;
    report.documents_in_clusters += size;
    report.largest_cluster = report.largest_cluster.max(size);
    *report.cluster_size_histogram.entry(size).or_insert(0) += 1;
    report.removed.index += u64::from(old);
}

/// Checks that every partition's edge file is there and from `config`; counts edges (and
/// exact removals, one per exact edge) into `report` from the headers.
fn count_edges(work_dir: &Path, config: &DedupConfig, report: &mut DedupReport) -> Result<()> {
    for part in Partition::all(config) {
        let files = super::keys::edge_files(work_dir, part);
        if files.is_empty() {
            let path = part.edge_path(work_dir);
            return Err(Error::Mismatch {
                path,
                message: format!("missing: run phase 2 for partition {part:?} first"),
            });
        }
        for path in files {
            let r = ArtifactReader::open(&path, ArtifactKind::Edges, Some(16))?;
            check_fingerprint(&path, r.header().param, config)?;
            report.edges += r.header().count;
            if part == Partition::Exact {
                report.removed.exact += r.header().count;
            }
        }
    }
    Ok(())
}

/// Calls `f` on every edge of every partition until it returns `false`; returns whether
/// every edge was read (and so every file's checksum verified).
pub(super) fn for_each_edge(
    work_dir: &Path,
    config: &DedupConfig,
    mut f: impl FnMut(u64, u64) -> Result<bool>,
) -> Result<bool> {
    let mut rec = [0u8; 16];
    for part in Partition::all(config) {
        for path in super::keys::edge_files(work_dir, part) {
            let mut r = ArtifactReader::open(&path, ArtifactKind::Edges, Some(16))?;
            check_fingerprint(&path, r.header().param, config)?;
            while r.next_record(&mut rec)? {
                let (a, b) = <(u64, u64)>::decode(&rec);
                if !f(a, b)? {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// Unions every edge of every partition, or `None` once more than `room` documents have
/// edges.
fn union_edges(
    work_dir: &Path,
    config: &DedupConfig,
    room: usize,
) -> Result<Option<(CompactIds, UnionFind)>> {
    let mut ids = CompactIds::default();
    let mut uf = UnionFind::default();
    let all = for_each_edge(work_dir, config, |a, b| {
        let (ia, ib) = (ids.get_or_insert(a), ids.get_or_insert(b));
        uf.grow(ids.len());
        uf.union(ia, ib);
        Ok(ids.len() <= room)
    })?;
    Ok(all.then_some((ids, uf)))
}

/// The clusters (members ascending), ordered by their smallest member.
fn components(ids: &CompactIds, uf: &mut UnionFind) -> Vec<Vec<u64>> {
    let mut pairs: Vec<(u32, u64)> =
        (0..ids.len() as u32).map(|i| (uf.find(i), ids.id(i))).collect();
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
fn representative(
    members: &[u64],
    rule: KeepRule,
    store: Option<&mut SignatureStore>,
) -> Result<u64> {
    let Some(store) = store else { return Ok(members[0]) };
    let mut best = None;
    let mut rec = Vec::new();
    for &m in members {
        best = better(best, keep_value(rule, store, m, &mut rec)?, m);
    }
    Ok(best.map_or(members[0], |(_, m)| m))
}

/// The better of `best` and member `m` with `value`, for members offered in ascending
/// order: a later member wins only with a strictly greater value.
pub(super) fn better(best: Option<(f64, u64)>, value: f64, m: u64) -> Option<(f64, u64)> {
    match best {
        Some((b, _)) if value <= b => best,
        _ => Some((value, m)),
    }
}

/// How much `rule` prefers member `m` (greater is better); `rec` is a reusable buffer.
pub(super) fn keep_value(
    rule: KeepRule,
    store: &mut SignatureStore,
    m: u64,
    rec: &mut Vec<u8>,
) -> Result<f64> {
    if !store.get(m, rec)? {
        return Err(Error::Mismatch {
            path: "signatures".into(),
            message: format!("document {m} has edges but no signature record"),
        });
    }
    let f = SigFields::decode(rec);
    Ok(match rule {
        KeepRule::First => 0.0,
        KeepRule::Longest => f.len as f64,
        KeepRule::HighestScore if f.score.is_nan() => f64::NEG_INFINITY,
        KeepRule::HighestScore => f.score,
    })
}

/// Ids of this run's documents that match the index, ascending, and how many there are.
fn index_matches(
    work_dir: &Path,
    config: &DedupConfig,
    index: Option<&DedupIndex>,
) -> Result<(SortedStream<u64>, usize)> {
    let mut out =
        ExternalSorter::new(&work_dir.join("clusters"), config.memory_budget / SORTS_AT_ONCE)?;
    let mut count = 0;
    let Some(index) = index else { return Ok((out.finish()?, count)) };
    let mut rec = vec![0u8; config.record_len()];
    let mut sig = Vec::new();
    for path in signature_files(work_dir)? {
        let mut r =
            ArtifactReader::open(&path, ArtifactKind::Signatures, Some(config.record_len()))?;
        check_fingerprint(&path, r.header().param, config)?;
        while r.next_record(&mut rec)? {
            let f = SigFields::decode(&rec);
            super::decode_sig(&rec, &mut sig);
            if index.matches(config, &f, &sig)? {
                out.push(f.id)?;
                count += 1;
            }
        }
    }
    Ok((out.finish()?, count))
}

/// Writes `(a, b)` records (or just `a` when `record_len` is 8); returns how many.
pub(super) fn write_ids(
    path: &Path,
    kind: ArtifactKind,
    config: &DedupConfig,
    records: impl Iterator<Item = Result<(u64, u64)>>,
    record_len: usize,
) -> Result<u64> {
    let mut w = ArtifactWriter::create(path, kind, record_len, config.fingerprint())?;
    let mut rec = [0u8; 16];
    for r in records {
        r?.encode(&mut rec);
        w.write_record(&rec[..record_len])?;
    }
    w.finish()
}

fn write_report(path: &Path, report: &DedupReport) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| Error::Io {
        action: "serialize",
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))
}
