//! `tokenmill report`: a run's `stats.json`, its shard manifests and the training check's
//! report as one self-contained HTML page (also written at the end of every `run`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use tokenmill_report::{DedupRow, Log2Histogram, LossCurve, NodeRow, RunReport, ShardRow};

use super::Exit;
use crate::stats::{NodeStats, RunStats, RunStatus};

/// The page's name in the work dir.
pub(crate) const REPORT_FILE: &str = "report.html";

/// `tokenmill report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run's work dir (holding `stats.json`).
    pub work_dir: PathBuf,
    /// Where to write the page [default: WORK_DIR/report.html].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The statistics to read [default: WORK_DIR/stats.json].
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// The training check's `report.json` (`tokenmill verify --train`) for the loss curve
    /// [default: `verify-report/report.json` in each token sink's directory, where present].
    #[arg(long, value_name = "FILE")]
    pub train_report: Option<PathBuf>,
}

/// Runs `tokenmill report`.
pub(super) fn report(args: ReportArgs) -> anyhow::Result<Exit> {
    let stats_path = args.stats.clone().unwrap_or_else(|| args.work_dir.join("stats.json"));
    let text = std::fs::read_to_string(&stats_path).with_context(|| {
        format!("cannot read {} (run the pipeline first)", stats_path.display())
    })?;
    let stats: RunStats = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a tokenmill stats.json", stats_path.display()))?;
    let out = args.output.clone().unwrap_or_else(|| args.work_dir.join(REPORT_FILE));
    let report = build(&stats, &args.work_dir.display().to_string(), args.train_report.as_deref())?;
    write(&out, &report)?;
    println!("report: {}", out.display());
    Ok(Exit::Ok)
}

/// Writes the report of a run that just ended to `WORK_DIR/report.html`; returns its path.
///
/// # Errors
/// A manifest or training report that exists cannot be parsed, or the page cannot be written.
pub(crate) fn write_run_report(stats: &RunStats, work_dir: &Path) -> anyhow::Result<PathBuf> {
    let out = work_dir.join(REPORT_FILE);
    write(&out, &build(stats, &work_dir.display().to_string(), None)?)?;
    Ok(out)
}

fn write(out: &Path, report: &RunReport) -> anyhow::Result<()> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or(REPORT_FILE);
    let mut file = crate::sink::AtomicFile::create(dir, name)
        .with_context(|| format!("cannot write {}", out.display()))?;
    std::io::Write::write_all(&mut file, tokenmill_report::render(report).as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    file.commit().with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// The report's numbers, from the statistics, the local shard manifests they name and the
/// training check's report (`train_report`, or found beside the shards).
///
/// # Errors
/// A manifest or training report that exists cannot be read or parsed.
pub(crate) fn build(
    stats: &RunStats,
    title: &str,
    train_report: Option<&Path>,
) -> anyhow::Result<RunReport> {
    let status = match &stats.status {
        RunStatus::Complete => "complete".to_string(),
        RunStatus::Interrupted => "interrupted".to_string(),
        RunStatus::Failed { reason, .. } => format!("failed: {reason}"),
    };
    let (shards, shard_dirs) = shards(stats)?;
    let train_report = match train_report {
        Some(p) => Some(p.to_path_buf()),
        None => shard_dirs
            .iter()
            .map(|d| d.join("verify-report").join("report.json"))
            .find(|p| p.is_file()),
    };
    Ok(RunReport {
        title: title.to_string(),
        status,
        tool_version: stats.tool_version.clone(),
        elapsed_secs: stats.elapsed_secs,
        threads: stats.threads,
        input_files: stats.input_files,
        input_bytes: stats.input_bytes,
        decoded_bytes: stats.decoded_bytes,
        peak_rss_bytes: stats.peak_rss_bytes,
        nodes: stats.nodes.iter().map(node_row).collect(),
        languages: languages(&stats.nodes),
        lengths_before: histogram(stats.nodes.iter().filter(|n| n.role == "source")),
        lengths_after: lengths_after(&stats.nodes),
        dedup: stats.nodes.iter().filter_map(dedup_row).collect(),
        shards,
        loss: train_report.as_deref().map(loss_curve).transpose()?,
    })
}

fn node_row(n: &NodeStats) -> NodeRow {
    NodeRow {
        name: n.name.clone(),
        kind: n.kind.clone(),
        is_source: n.role == "source",
        is_sink: n.role == "sink",
        docs_in: n.docs_in,
        docs_out: n.docs_out,
        bytes_in: n.bytes_in,
        // A sink passes on nothing but writes all it receives: the funnel shows it kept.
        bytes_out: if n.role == "sink" { n.bytes_in } else { n.bytes_out },
        tokens_out: n.tokens_out,
        dropped: n.dropped.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        compute_secs: n.compute_secs,
    }
}

/// Documents per language over every `language` stage, most frequent first.
fn languages(nodes: &[NodeStats]) -> Vec<(String, u64)> {
    let mut all: BTreeMap<&str, u64> = BTreeMap::new();
    for n in nodes {
        for (lang, count) in &n.languages {
            *all.entry(lang).or_default() += count;
        }
    }
    let mut v: Vec<(String, u64)> = all.into_iter().map(|(l, n)| (l.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The lengths after the last filter: what the tokenize stages received, or without any, what
/// the sinks of kept documents received.
fn lengths_after(nodes: &[NodeStats]) -> Option<Log2Histogram> {
    let tokenized = histogram(nodes.iter().filter(|n| n.kind == "tokenize"));
    tokenized.or_else(|| histogram(nodes.iter().filter(|n| n.role == "sink")))
}

/// The nodes' length histograms summed; `None` when none of them kept one.
fn histogram<'a>(nodes: impl Iterator<Item = &'a NodeStats>) -> Option<Log2Histogram> {
    let mut sum = Log2Histogram::default();
    for n in nodes.filter(|n| !n.chars_histogram.is_empty()) {
        if sum.buckets.len() < n.chars_histogram.len() {
            sum.buckets.resize(n.chars_histogram.len(), 0);
        }
        for (s, v) in sum.buckets.iter_mut().zip(&n.chars_histogram) {
            *s += v;
        }
    }
    (!sum.buckets.is_empty()).then_some(sum)
}

/// A document dedup barrier's report (`exact_dedup`, `minhash_dedup`); `None` for other nodes.
fn dedup_row(n: &NodeStats) -> Option<DedupRow> {
    let r: tokenmill_dedup::DedupReport = serde_json::from_value(n.report.clone()?).ok()?;
    Some(DedupRow {
        name: n.name.clone(),
        documents: r.documents,
        removed: r.removed.total,
        clusters: r.clusters,
        largest_cluster: r.largest_cluster,
        cluster_sizes: super::dedup::summary::histogram_rows(&r.cluster_size_histogram),
    })
}

/// Every shard of the token sinks whose manifest is on a local disk, and their directories.
fn shards(stats: &RunStats) -> anyhow::Result<(Vec<ShardRow>, Vec<PathBuf>)> {
    let (mut rows, mut dirs) = (Vec::new(), Vec::new());
    let several = stats.sinks.values().filter(|r| r.tokens > 0).count() > 1;
    for (sink, r) in &stats.sinks {
        let manifest = r.files.iter().find(|f| f.ends_with(tokenmill_shards::MANIFEST_FILE));
        let Some(path) = manifest.and_then(|m| local_path(m)) else { continue };
        let Some(dir) = path.parent().map(Path::to_path_buf) else { continue };
        if !path.is_file() {
            tracing::warn!(path = %path.display(), "the report leaves out a manifest it cannot find");
            continue;
        }
        let m = tokenmill_shards::Manifest::read(&dir)?;
        rows.extend(m.shards.iter().map(|s| ShardRow {
            name: if several { format!("{sink}/{}", s.name) } else { s.name.clone() },
            tokens: s.tokens,
            documents: s.documents,
        }));
        dirs.push(dir);
    }
    Ok((rows, dirs))
}

/// The local path of a file a sink reported (a path, or a `file://` URL); `None` for object
/// storage.
fn local_path(url: &str) -> Option<PathBuf> {
    match url.strip_prefix("file://") {
        Some(p) => Some(PathBuf::from(p)),
        None if crate::storage::is_url(url) => None,
        None => Some(PathBuf::from(url)),
    }
}

/// What the loss curve needs from `verify --train`'s `report.json`.
#[derive(Debug, Deserialize)]
struct TrainReport {
    losses: Vec<f64>,
    unigram_entropy: Option<f64>,
    heldout_loss: Option<f64>,
    passed: Option<bool>,
}

fn loss_curve(path: &Path) -> anyhow::Result<LossCurve> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let r: TrainReport = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a `verify --train` report.json", path.display()))?;
    Ok(LossCurve {
        losses: r.losses,
        unigram_entropy: r.unigram_entropy,
        heldout_loss: r.heldout_loss,
        passed: r.passed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, kind: &str, role: &str, hist: &[u64]) -> NodeStats {
        NodeStats {
            name: name.into(),
            kind: kind.into(),
            role: role.into(),
            chars_histogram: hist.to_vec(),
            ..NodeStats::default()
        }
    }

    #[test]
    fn lengths_before_are_the_sources_and_after_the_tokenizers_or_sinks() {
        let nodes = [
            node("a", "jsonl", "source", &[1, 2]),
            node("b", "jsonl", "source", &[0, 1, 5]),
            node("tok", "tokenize", "stage", &[0, 0, 3]),
            node("out", "jsonl", "sink", &[0, 0, 4]),
        ];
        let before = histogram(nodes.iter().filter(|n| n.role == "source")).expect("before");
        assert_eq!(before.buckets, [1, 3, 5]);
        assert_eq!(lengths_after(&nodes).expect("after").buckets, [0, 0, 3]);
        assert_eq!(lengths_after(&nodes[..2]), None);
        assert_eq!(
            lengths_after(&[nodes[0].clone(), nodes[3].clone()]).expect("sink").buckets,
            [0, 0, 4]
        );
    }

    #[test]
    fn languages_are_summed_most_frequent_first() {
        let lang = |pairs: &[(&str, u64)]| NodeStats {
            languages: pairs.iter().map(|(l, n)| (l.to_string(), *n)).collect(),
            ..NodeStats::default()
        };
        let (a, b) = (lang(&[("en", 2), ("zh", 5)]), lang(&[("en", 4), ("de", 1)]));
        assert_eq!(
            languages(&[a, b]),
            [("en".to_string(), 6), ("zh".to_string(), 5), ("de".to_string(), 1)]
        );
    }

    #[test]
    fn dedup_reports_become_rows_with_cluster_sizes() {
        let report = tokenmill_dedup::DedupReport {
            documents: 100,
            kept: 93,
            clusters: 3,
            largest_cluster: 4,
            cluster_size_histogram: [(2, 2), (4, 1)].into(),
            removed: tokenmill_dedup::report::RemovedCounts {
                exact: 5,
                fuzzy: 2,
                index: 0,
                total: 7,
            },
            ..Default::default()
        };
        let n = NodeStats {
            name: "dedup".into(),
            report: Some(serde_json::to_value(&report).expect("json")),
            ..NodeStats::default()
        };
        let row = dedup_row(&n).expect("a dedup row");
        assert_eq!((row.documents, row.removed, row.clusters, row.largest_cluster), (100, 7, 3, 4));
        assert_eq!(row.cluster_sizes, [("2".to_string(), 2), ("4".to_string(), 1)]);
        // A tokenize node's report is no dedup report.
        let tok = NodeStats {
            report: Some(serde_json::json!({"encode_path": "fast"})),
            ..NodeStats::default()
        };
        assert_eq!(dedup_row(&tok), None);
    }

    #[test]
    fn sink_files_on_object_storage_are_not_local() {
        assert_eq!(local_path("out/shards/manifest.json"), Some("out/shards/manifest.json".into()));
        assert_eq!(local_path("file:///data/manifest.json"), Some("/data/manifest.json".into()));
        assert_eq!(local_path("s3://bucket/shards/manifest.json"), None);
    }
}
