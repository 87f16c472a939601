//! Phase 3 out of core, when the documents that have edges do not fit the memory budget.
//!
//! 1. [`ComponentsBuilder`] labels every document that has an edge with its cluster's
//!    smallest id, in `(node, label)` and `(label, node)` files.
//! 2. The sorted index matches are merged with `(node, label)`: a match inside a cluster
//!    marks its label old, one outside any cluster is removed on its own.
//! 3. A pass over `(label, node)` (one cluster after another, members ascending) picks each
//!    representative by the keep rule and counts the cluster; the representatives go to a
//!    `(label, representative)` file. A cluster is never held in memory, however large.
//! 4. A second pass over `(label, node)` with the representatives and old labels sends the
//!    removed members and dump pairs to external sorts, which write `remove.ids` and
//!    `clusters.bin`.
//!
//! The clusters, their order, the representatives and every count are those of the
//! in-memory path, so the outputs are byte-identical. Each sort gets a third of the budget
//! ([`SORTS_AT_ONCE`]); scratch files live in directories under `clusters/` removed on drop.

use std::path::Path;

use super::cluster::{SORTS_AT_ONCE, better, for_each_edge, keep_value, tally, write_ids};
use super::components::{Components, ComponentsBuilder, PairReader};
use super::store::SignatureStore;
use super::{DedupConfig, KeepRule, clusters_path, remove_path};
use crate::error::{Error, Result};
use crate::external::{ExternalSorter, SortedStream};
use crate::format::{ArtifactKind, ArtifactReader, ArtifactWriter, u64_at};
use crate::report::DedupReport;

/// Clusters out of core; writes the removal list and dump, sets `report.removed.total` and
/// returns the number of documents removed for being in a cluster.
pub(super) fn run(
    work_dir: &Path,
    config: &DedupConfig,
    matched: SortedStream<u64>,
    report: &mut DedupReport,
) -> Result<u64> {
    let budget = config.memory_budget / SORTS_AT_ONCE;
    let dir = work_dir.join("clusters");
    let mut builder = ComponentsBuilder::new(&dir, budget)?;
    for_each_edge(work_dir, config, |a, b| builder.add_edge(a, b).map(|()| true))?;
    let comps = builder.finish()?;
    let scratch = tempfile::Builder::new()
        .prefix("phase3-")
        .tempdir_in(&dir)
        .map_err(Error::io("create scratch directory in", &dir))?;
    let old = scratch.path().join("old_labels");
    let reps = scratch.path().join("representatives");
    let mut removed = ExternalSorter::<u64>::new(scratch.path(), budget)?;
    old_labels(&comps, matched, &old, budget, &mut removed, report)?;
    let cluster_removed = representatives(work_dir, config, &comps, &old, &reps, report)?;
    let mut dump = config
        .dump_clusters
        .then(|| ExternalSorter::<(u64, u64)>::new(scratch.path(), budget))
        .transpose()?;
    let mut members = PairReader::open(&comps.by_label)?;
    let mut reps = PairReader::open(&reps)?;
    let mut old = LabelSet::open(&old)?;
    while let Some((label, m)) = members.next()? {
        // Both answer a repeated label from memory.
        let (rep, is_old) = (reps.seek(label)?, old.contains(label)?);
        if m != rep || is_old {
            removed.push(m)?;
        }
        if let Some(dump) = &mut dump {
            dump.push((rep, m))?;
        }
    }
    let records = removed.finish()?.map(|m| m.map(|m| (m, 0)));
    report.removed.total =
        write_ids(&remove_path(work_dir), ArtifactKind::Removed, config, records, 8)?;
    if let Some(dump) = dump {
        write_ids(&clusters_path(work_dir), ArtifactKind::Clusters, config, dump.finish()?, 16)?;
    }
    Ok(cluster_removed)
}

/// Merges the index matches with the labelled nodes: writes the labels of clusters with a
/// match to `out` (ascending, once each) and removes the matches outside any cluster.
fn old_labels(
    comps: &Components,
    matched: SortedStream<u64>,
    out: &Path,
    budget: usize,
    removed: &mut ExternalSorter<u64>,
    report: &mut DedupReport,
) -> Result<()> {
    let mut labels = ExternalSorter::<u64>::new(out.parent().unwrap_or(out), budget)?;
    let mut nodes = PairReader::open(&comps.by_node)?;
    let mut node = nodes.next()?;
    for m in matched {
        let m = m?;
        while node.is_some_and(|(n, _)| n < m) {
            node = nodes.next()?;
        }
        match node {
            Some((n, label)) if n == m => labels.push(label)?,
            _ => {
                removed.push(m)?;
                report.removed.index += 1;
            }
        }
    }
    let mut w = ArtifactWriter::create(out, ArtifactKind::SortRun, 8, 0)?;
    let mut last = None;
    for label in labels.finish()? {
        let label = label?;
        if last != Some(label) {
            w.write_record(&label.to_le_bytes())?;
            last = Some(label);
        }
    }
    w.finish_scratch()?;
    Ok(())
}

/// One pass over the clusters: picks each representative (written as `(label,
/// representative)` to `out`), counts the clusters into `report` and returns the number of
/// documents removed for being in a cluster.
fn representatives(
    work_dir: &Path,
    config: &DedupConfig,
    comps: &Components,
    old: &Path,
    out: &Path,
    report: &mut DedupReport,
) -> Result<u64> {
    let mut store = if config.keep == KeepRule::First {
        None
    } else {
        Some(SignatureStore::open(work_dir, config)?)
    };
    let mut old = LabelSet::open(old)?;
    let mut members = PairReader::open(&comps.by_label)?;
    let mut w = ArtifactWriter::create(out, ArtifactKind::SortRun, 16, 0)?;
    let mut cluster_removed = 0;
    let mut current: Option<OpenCluster> = None;
    let mut rec = Vec::new();
    loop {
        let next = members.next()?;
        if let Some(c) = current
            && next.is_none_or(|(l, _)| l != c.label)
        {
            // Without a store (keep first) the representative is the smallest member, the label.
            let rep = c.best.map_or(c.label, |(_, m)| m);
            tally(report, c.size, old.contains(c.label)?);
            cluster_removed += c.size - 1;
            let mut pair = [0u8; 16];
            pair[..8].copy_from_slice(&c.label.to_le_bytes());
            pair[8..].copy_from_slice(&rep.to_le_bytes());
            w.write_record(&pair)?;
            current = None;
        }
        let Some((label, m)) = next else { break };
        let c = current.get_or_insert(OpenCluster { label, size: 0, best: None });
        c.size += 1;
        if let Some(store) = &mut store {
            c.best = better(c.best, keep_value(config.keep, store, m, &mut rec)?, m);
        }
    }
    w.finish_scratch()?;
    Ok(cluster_removed)
}

/// The cluster being read in [`representatives`].
#[derive(Debug, Clone, Copy)]
struct OpenCluster {
    label: u64,
    size: u64,
    /// The best member so far and its keep value (with a keep rule that needs signatures).
    best: Option<(f64, u64)>,
}

/// A sorted file of distinct `u64` labels, asked for in ascending order.
#[derive(Debug)]
struct LabelSet {
    reader: ArtifactReader,
    next: Option<u64>,
}

impl LabelSet {
    fn open(path: &Path) -> Result<Self> {
        let mut set = LabelSet {
            reader: ArtifactReader::open(path, ArtifactKind::SortRun, Some(8))?,
            next: None,
        };
        set.advance()?;
        Ok(set)
    }

    fn advance(&mut self) -> Result<()> {
        let mut rec = [0u8; 8];
        self.next = self.reader.next_record(&mut rec)?.then(|| u64_at(&rec, 0));
        Ok(())
    }

    /// Whether `label` is in the set; labels must be asked in ascending order.
    fn contains(&mut self, label: u64) -> Result<bool> {
        while self.next.is_some_and(|n| n < label) {
            self.advance()?;
        }
        Ok(self.next == Some(label))
    }
}
