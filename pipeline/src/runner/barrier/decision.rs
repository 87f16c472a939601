//! A barrier's global decision, made when its inputs are complete (or by a job array's
//! decision step and loaded by the tasks that replay it), and what the replay reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenmill_dedup::lines::{Boilerplate, LineDedupConfig, LineUnit};
use tokenmill_dedup::phases::{Partition, RemoveSet, run_partition, run_phase3};
use tokenmill_dedup::{DedupIndex, DedupReport};

use super::{BarrierSpec, DocDedup};
use crate::runner::docfreq;
use crate::stage::decontaminate::Decontaminate;

/// Merges the line counts of every collector: the units in more than `max_occurrences`
/// documents are boilerplate (written to `out`).
pub(in crate::runner) fn decide_lines(
    counts: &[PathBuf],
    config: LineDedupConfig,
    out: &Path,
) -> anyhow::Result<Decision> {
    let (boilerplate, units) = Boilerplate::from_counts_counted(counts, config, out)?;
    let report = LineReport { units, boilerplate: boilerplate.len() as u64 };
    Ok(Decision::RemoveUnits { boilerplate: Arc::new(boilerplate), unit: config.unit, report })
}

/// The decision an earlier step made for a barrier, loaded by the tasks that replay it:
/// `decided` are the files of its shards (boilerplate units, or frequent n-grams).
pub(in crate::runner) fn load_decision(
    spec: &BarrierSpec,
    dedup: &Path,
    decided: &[PathBuf],
    report: Option<&serde_json::Value>,
) -> anyhow::Result<Decision> {
    Ok(match spec {
        BarrierSpec::Documents(d) => {
            let removed = RemoveSet::open(dedup, &d.config)
                .with_context(|| format!("cannot open the removal list in {}", dedup.display()))?;
            let report =
                report.and_then(|r| serde_json::from_value(r.clone()).ok()).unwrap_or_default();
            Decision::RemoveDocuments {
                removed: Arc::new(removed),
                report,
                work: dedup.to_path_buf(),
            }
        }
        BarrierSpec::Lines(c) => {
            let b = Boilerplate::open_many(decided, *c)
                .with_context(|| format!("cannot open {}", decided[0].display()))?;
            let report = report
                .and_then(|r| serde_json::from_value(r.clone()).ok())
                .unwrap_or(LineReport { units: 0, boilerplate: b.len() as u64 });
            Decision::RemoveUnits { boilerplate: Arc::new(b), unit: c.unit, report }
        }
        BarrierSpec::Decontaminate(f) => {
            let (stage, report) = f.load(decided, report)?;
            Decision::Decontaminate { stage: Arc::new(stage), report }
        }
    })
}

/// Phases 2 and 3 of document dedup over the collected signatures.
pub(super) fn remove_duplicates(work: &Path, spec: &DocDedup) -> anyhow::Result<Decision> {
    let cfg = &spec.config;
    // Phase 2: one partition per band (plus exact hashes), in parallel.
    Partition::all(cfg)
        .into_par_iter()
        .map(|p| run_partition(work, cfg, p).map(|_| ()))
        .collect::<Result<Vec<()>, _>>()?;
    // Phase 3, against the persistent index when there is one.
    let index = match &spec.index {
        Some(dir)
            if dir.join(".").exists()
                && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) =>
        {
            Some(DedupIndex::open(dir, cfg)?)
        }
        _ => None,
    };
    let report = run_phase3(work, cfg, index.as_ref())?;
    drop(index);
    let removed = RemoveSet::open(work, cfg)?;
    Ok(Decision::RemoveDocuments { removed: Arc::new(removed), report, work: work.to_path_buf() })
}

impl Replay {
    /// Adds this run's documents to the barrier's persistent index, if it has one. Called once
    /// the run's outputs are committed: a run that dies before that must not find its own
    /// documents in the index when it resumes.
    pub(in crate::runner) fn update_index(&self, spec: &BarrierSpec) -> anyhow::Result<()> {
        if let (BarrierSpec::Documents(d), Decision::RemoveDocuments { work, .. }) =
            (spec, &self.decision)
            && let Some(dir) = &d.index
        {
            std::fs::create_dir_all(dir)?;
            DedupIndex::update(dir, work, &d.config)
                .with_context(|| format!("cannot update the dedup index {}", dir.display()))?;
        }
        Ok(())
    }

    /// The barrier's report for `stats.json`.
    pub(in crate::runner) fn report(&self) -> Option<serde_json::Value> {
        match &self.decision {
            Decision::RemoveDocuments { report, .. } => serde_json::to_value(report).ok(),
            Decision::RemoveUnits { report, .. } => serde_json::to_value(report).ok(),
            Decision::Decontaminate { report, .. } => serde_json::to_value(report).ok(),
        }
    }

    /// Logs the decision.
    pub(in crate::runner) fn log(&self, node: &str) {
        match &self.decision {
            Decision::RemoveDocuments { report: r, .. } => tracing::info!(
                node,
                documents = self.documents,
                clusters = r.clusters,
                removed_exact = r.removed.exact,
                removed_fuzzy = r.removed.fuzzy,
                removed_index = r.removed.index,
                "deduplication done"
            ),
            Decision::RemoveUnits { report: r, .. } => tracing::info!(
                node,
                documents = self.documents,
                distinct_units = r.units,
                boilerplate_units = r.boilerplate,
                "line deduplication done: boilerplate is removed as the documents are replayed"
            ),
            Decision::Decontaminate { report: r, .. } => tracing::info!(
                node,
                documents = self.documents,
                ngrams = r.get("ngrams").copied().unwrap_or(0),
                frequent_ngrams = r.get("frequent_ngrams").copied().unwrap_or(0),
                "document frequencies counted: the documents are decontaminated as they are replayed"
            ),
        }
    }
}

/// What a barrier replays in its pass.
#[derive(Debug, Clone)]
pub(in crate::runner) struct Replay {
    /// Staged JSONL.zst files, in order.
    pub(in crate::runner) files: Vec<String>,
    /// What happens to each replayed document.
    pub(in crate::runner) decision: Decision,
    /// Documents staged.
    pub(in crate::runner) documents: u64,
}

/// A barrier's global decision, applied to its documents as they are replayed.
#[derive(Debug, Clone)]
pub(in crate::runner) enum Decision {
    /// Drop the documents with these ordinals.
    RemoveDocuments {
        removed: Arc<RemoveSet>,
        /// Clusters and counts.
        report: DedupReport,
        /// The dedup work dir (signatures), for the persistent index.
        work: PathBuf,
    },
    /// Remove these units from every document.
    RemoveUnits { boilerplate: Arc<Boilerplate>, unit: LineUnit, report: LineReport },
    /// Decontaminate every document, the frequent n-grams ignored.
    Decontaminate { stage: Arc<Decontaminate>, report: docfreq::Report },
}

/// What a `line_dedup` barrier found (`report` in `stats.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::runner) struct LineReport {
    /// Distinct units (at least `min_length` long) in the collected documents.
    pub(in crate::runner) units: u64,
    /// Units in more than `max_occurrences` documents, removed from every one of them.
    pub(in crate::runner) boilerplate: u64,
}
