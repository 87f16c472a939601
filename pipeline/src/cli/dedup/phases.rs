//! Phases 1-3: signatures, buckets (edges) and clusters.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;
use tokenmill_dedup::format::{ArtifactKind, RandomReader};
use tokenmill_dedup::phases::{self, DocSignature, Partition, SignatureWriter};
use tokenmill_dedup::report::read_clusters;
use tokenmill_dedup::{DedupConfig, DedupIndex, DedupReport};

use super::input::{self, doc_id, split_id};
use super::settings::WorkConfig;
use super::{ClusterOpts, WorkArgs};
use crate::storage::InputFile;

/// Phase 1: signs input file `i` into split `i` for every `i % world == rank`, files in
/// parallel, the documents of a chunk in parallel, written in input order.
pub(super) fn signatures(
    stored: &WorkConfig,
    files: &[InputFile],
    work: &WorkArgs,
    rank: usize,
    world: usize,
) -> anyhow::Result<()> {
    let config = stored.runtime(work, false);
    let spec = stored.source_spec();
    let start = Instant::now();
    let mine: Vec<usize> = (rank..files.len()).step_by(world).collect();
    let done: Vec<Option<input::ReadCounts>> = mine
        .par_iter()
        .map(|&i| {
            let path = phases::signature_path(&work.work_dir, i as u32);
            if is_complete(&path, ArtifactKind::Signatures, &config) {
                tracing::info!(split = i, file = %files[i].url, "already signed; keeping {}", path.display());
                return Ok(None);
            }
            let mut writer = SignatureWriter::create(&work.work_dir, i as u32, &config)?;
            let counts = input::read_documents(&spec, &files[i], |first, docs| {
                let signer = writer.signer();
                let sigs: Vec<DocSignature> = docs
                    .par_iter()
                    .enumerate()
                    .map(|(k, d)| signer.sign(doc_id(i, first + k as u64), &d.text, score(d, stored.score_field.as_deref())))
                    .collect();
                for s in &sigs {
                    writer.write(s)?;
                }
                Ok(())
            })?;
            writer.finish()?;
            tracing::info!(split = i, file = %files[i].url, documents = counts.documents, bad_records = counts.bad_records, "signed");
            Ok(Some(counts))
        })
        .collect::<anyhow::Result<_>>()?;
    let signed: Vec<_> = done.iter().flatten().collect();
    let documents: u64 = signed.iter().map(|c| c.documents).sum();
    let bad: u64 = signed.iter().map(|c| c.bad_records).sum();
    println!(
        "signatures rank {rank} of {world}: {} of {} input files signed ({} already done), {documents} documents, {bad} bad records skipped, {:.1}s",
        signed.len(),
        files.len(),
        mine.len() - signed.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The numeric value of `field`, if the document has one.
fn score(doc: &crate::document::Document, field: Option<&str>) -> Option<f64> {
    field.and_then(|f| doc.metadata.get(f)).and_then(serde_json::Value::as_f64)
}

/// Whether `path` is a finished artifact of this configuration (files appear only when
/// complete; the size and header are checked, the checksum by the phase that reads it).
fn is_complete(path: &Path, kind: ArtifactKind, config: &DedupConfig) -> bool {
    let record_len = (kind == ArtifactKind::Signatures).then(|| config.record_len());
    RandomReader::open(path, kind, record_len)
        .is_ok_and(|r| r.header().param == config.fingerprint())
}

/// Checks that phase 1 finished: exactly one intact signature file per input file.
fn check_splits(stored: &WorkConfig, work_dir: &Path, config: &DedupConfig) -> anyhow::Result<()> {
    for (i, url) in stored.inputs.iter().enumerate() {
        let path = phases::signature_path(work_dir, i as u32);
        anyhow::ensure!(
            path.exists(),
            "{} is missing: phase 1 has not signed input {i} ({url}); run `tokenmill dedup signatures` for every rank first",
            path.display()
        );
        RandomReader::open(&path, ArtifactKind::Signatures, Some(config.record_len()))?;
    }
    let files = phases::signature_files(work_dir)?;
    if files.len() != stored.inputs.len() {
        anyhow::bail!(
            "{} holds {} signature files for {} inputs; remove the stale ones (or use a new --work-dir)",
            work_dir.join("signatures").display(),
            files.len(),
            stored.inputs.len()
        );
    }
    Ok(())
}

/// Phase 2: the partitions `p % world == rank`, in parallel; each gets an equal share of
/// the memory budget. Edge files that exist already are kept.
pub(super) fn buckets(
    stored: &WorkConfig,
    work: &WorkArgs,
    rank: usize,
    world: usize,
    threads: usize,
) -> anyhow::Result<()> {
    let config = stored.runtime(work, false);
    check_splits(stored, &work.work_dir, &config)?;
    let start = Instant::now();
    let mine: Vec<Partition> = Partition::all(&config)
        .into_iter()
        .enumerate()
        .filter(|(p, _)| p % world == rank)
        .map(|(_, p)| p)
        .collect();
    let parallel = mine.len().clamp(1, threads);
    let share = DedupConfig { memory_budget: config.memory_budget / parallel, ..config };
    let summaries: Vec<_> = mine
        .par_iter()
        .map(|&part| {
            if is_complete(&part.edge_path(&work.work_dir), ArtifactKind::Edges, &config) {
                tracing::info!(partition = ?part, "edges already written; keeping them");
                return Ok(None);
            }
            let s = phases::run_partition(&work.work_dir, &share, part)?;
            tracing::info!(partition = ?part, documents = s.documents, buckets = s.buckets, candidates = s.candidates, edges = s.edges, "partition done");
            Ok(Some(s))
        })
        .collect::<anyhow::Result<_>>()?;
    let edges: u64 = summaries.iter().flatten().map(|s| s.edges).sum();
    let ran = summaries.iter().flatten().count();
    println!(
        "buckets rank {rank} of {world}: {ran} of {} partitions run ({} already done), {edges} edges, {:.1}s",
        mine.len(),
        mine.len() - ran,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Records that phase 3 of this work dir was folded into an index.
const INDEX_MARKER: &str = "index-update.json";

/// Phase 3: clusters, the report, and (with `--index`) the persistent index.
pub(super) fn cluster(
    stored: &WorkConfig,
    work: &WorkArgs,
    opts: &ClusterOpts,
) -> anyhow::Result<DedupReport> {
    let config = stored.runtime(work, opts.dump_clusters);
    let work_dir = &work.work_dir;
    check_splits(stored, work_dir, &config)?;
    let marker = work_dir.join("clusters").join(INDEX_MARKER);
    let index_name = opts
        .index
        .as_ref()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()).display().to_string());
    let folded = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let report = if index_name.is_some()
        && folded.as_ref().is_some_and(|v| v["index"].as_str() == index_name.as_deref())
    {
        // The index holds this run already: clustering again would find every document in it.
        let path = phases::report_path(work_dir);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} says this run is in the index, but {} is missing; use a new --work-dir",
                marker.display(),
                path.display()
            )
        })?;
        tracing::info!(
            index = index_name.as_deref(),
            "this work dir was clustered and folded into the index already; reusing its clusters"
        );
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a dedup report", path.display()))?
    } else {
        if marker.exists() {
            std::fs::remove_file(&marker)
                .with_context(|| format!("cannot remove {}", marker.display()))?;
        }
        let index = match &opts.index {
            Some(dir) => open_index(dir, &config)?,
            None => None,
        };
        let report = phases::run_phase3(work_dir, &config, index.as_ref())?;
        if let Some(name) = &index_name {
            std::fs::write(&marker, serde_json::json!({ "index": name }).to_string())
                .with_context(|| format!("cannot write {}", marker.display()))?;
        }
        report
    };
    if let Some(dir) = &opts.index {
        // Idempotent: adding the same documents again leaves the index as it is.
        let stats = DedupIndex::update(dir, work_dir, &config)?;
        tracing::info!(index = %dir.display(), exact_hashes = stats.exact, band_keys = stats.bands, "index updated");
    }
    if opts.dump_clusters {
        dump_clusters(stored, work_dir)?;
    }
    print!("{}", summary(&report, &phases::report_path(work_dir)));
    Ok(report)
}

/// The index in `dir`, or `None` when there is none yet (this run starts it).
fn open_index(dir: &Path, config: &DedupConfig) -> anyhow::Result<Option<DedupIndex>> {
    match DedupIndex::open(dir, config) {
        Ok(index) => {
            let s = index.stats();
            tracing::info!(index = %dir.display(), exact_hashes = s.exact, band_keys = s.bands, "dropping documents seen by earlier runs");
            Ok(Some(index))
        }
        Err(tokenmill_dedup::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            tracing::info!(index = %dir.display(), "no index yet: this run starts it");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes `clusters/clusters.jsonl`: per cluster, its size, the kept member and every member
/// as `INPUT#RECORD` (record index in the file, from 0).
fn dump_clusters(stored: &WorkConfig, work_dir: &Path) -> anyhow::Result<()> {
    let name = |id: u64| {
        let (file, record) = split_id(id);
        format!("{}#{record}", stored.inputs.get(file).map_or("?", String::as_str))
    };
    let path = work_dir.join("clusters").join("clusters.jsonl");
    let tmp = path.with_extension("jsonl.tmp");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    for c in read_clusters(&phases::clusters_path(work_dir))? {
        let members: Vec<String> = c.members.iter().map(|&m| name(m)).collect();
        let line =
            ClusterLine { size: members.len(), representative: name(c.representative), members };
        writeln!(out, "{}", serde_json::to_string(&line)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot rename {} into place", tmp.display()))?;
    println!("clusters: {}", path.display());
    Ok(())
}

/// One line of `clusters.jsonl`.
#[derive(serde::Serialize)]
struct ClusterLine {
    size: usize,
    representative: String,
    members: Vec<String>,
}

/// The report for people: totals, removals by method, the cluster size histogram.
fn summary(r: &DedupReport, path: &Path) -> String {
    let pct = |n: u64| if r.documents == 0 { 0.0 } else { 100.0 * n as f64 / r.documents as f64 };
    let mut s = format!(
        "dedup: {} documents, {} kept, {} removed ({:.2}%)\n  removed: {} exact duplicates, {} near duplicates, {} seen by earlier runs (index)\n  \
         clusters: {} with {} documents, largest {}, {} edges\n",
        r.documents,
        r.kept,
        r.removed.total,
        pct(r.removed.total),
        r.removed.exact,
        r.removed.fuzzy,
        r.removed.index,
        r.clusters,
        r.documents_in_clusters,
        r.largest_cluster,
        r.edges
    );
    if !r.cluster_size_histogram.is_empty() {
        s.push_str("  cluster size  clusters\n");
        for (label, n) in histogram_rows(&r.cluster_size_histogram) {
            s.push_str(&format!("  {label:>12}  {n}\n"));
        }
    }
    s.push_str(&format!("  report: {}\n", path.display()));
    s
}

/// Exact sizes when there are few, else power-of-two ranges (2, 3-4, 5-8, ...).
pub(in crate::cli) fn histogram_rows(h: &BTreeMap<u64, u64>) -> Vec<(String, u64)> {
    if h.len() <= 12 {
        return h.iter().map(|(size, n)| (size.to_string(), *n)).collect();
    }
    let mut rows: BTreeMap<u32, u64> = BTreeMap::new();
    for (&size, &n) in h {
        *rows.entry((size.max(2) - 1).ilog2()).or_insert(0) += n;
    }
    rows.into_iter()
        .map(|(k, n)| {
            let (lo, hi) = ((1u64 << k) + 1, 1u64 << (k + 1));
            (if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }, n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_rows_group_many_sizes_by_powers_of_two() {
        let few: BTreeMap<u64, u64> = [(2, 5), (3, 1)].into();
        assert_eq!(histogram_rows(&few), [("2".to_string(), 5), ("3".to_string(), 1)]);
        let many: BTreeMap<u64, u64> = (2..=20).map(|s| (s, 1)).collect();
        let rows = histogram_rows(&many);
        assert_eq!(rows[0], ("2".to_string(), 1));
        assert_eq!(rows[1], ("3-4".to_string(), 2));
        assert_eq!(rows[2], ("5-8".to_string(), 4));
        assert_eq!(rows.last(), Some(&("17-32".to_string(), 4)));
        assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 19);
    }
}
