//! Run statistics: per node counters, the end-of-run summary and `stats.json`.
//!
//! Counters are collected per batch by the workers and merged in input order by the writer, so
//! they are exact and identical at any thread count (compute time aside). For every stage,
//! `docs_in == docs_out + sum(dropped)`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::failure::{Failure, FailureKind};
use crate::sink::SinkReport;

/// Counters of one node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct NodeStats {
    /// Node name.
    pub name: String,
    /// Its `type`.
    pub kind: String,
    /// `source`, `stage` or `sink` (empty in the statistics of older versions).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// Documents received (for sources: records parsed).
    pub docs_in: u64,
    /// Text bytes received (UTF-8 bytes of the documents' text; on a token edge, of the text the
    /// tokens came from).
    pub bytes_in: u64,
    /// Documents passed on (for sinks: written).
    pub docs_out: u64,
    /// Text bytes passed on (for sinks: written).
    pub bytes_out: u64,
    /// Tokens produced or written.
    pub tokens_out: u64,
    /// Documents dropped, by rule.
    pub dropped: BTreeMap<String, u64>,
    /// What transforms did to the documents they kept, by counter (e.g. `emails` replaced,
    /// `lines_removed`); empty for other nodes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub transformed: BTreeMap<String, u64>,
    /// Bad input records and files, by kind (sources only).
    pub input_errors: BTreeMap<String, u64>,
    /// Files read (sources) or written (sinks).
    pub files: u64,
    /// Time spent in this node's work, summed over threads, in seconds.
    pub compute_secs: f64,
    /// A barrier's report (deduplication: clusters, removed per method, cluster sizes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// Documents received, by text length in characters, in power-of-two buckets: element 0
    /// counts empty texts, element `i > 0` lengths `2^(i-1) ..= 2^i - 1` (at most 65 numbers).
    /// Kept by sources (documents as read), tokenize stages and the sinks of kept documents
    /// (documents after the last filter); empty for other nodes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chars_histogram: Vec<u64>,
    /// Documents by identified language, kept and dropped (`language` stages; one entry per
    /// language the identifier knows, so bounded).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub languages: BTreeMap<String, u64>,
}

impl NodeStats {
    /// Adds `other`'s counters to these.
    pub fn merge(&mut self, other: &NodeStats) {
        self.docs_in += other.docs_in;
        self.bytes_in += other.bytes_in;
        self.docs_out += other.docs_out;
        self.bytes_out += other.bytes_out;
        self.tokens_out += other.tokens_out;
        for (k, v) in &other.dropped {
            *self.dropped.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.transformed {
            *self.transformed.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.input_errors {
            *self.input_errors.entry(k.clone()).or_default() += v;
        }
        self.files += other.files;
        self.compute_secs += other.compute_secs;
        if self.chars_histogram.len() < other.chars_histogram.len() {
            self.chars_histogram.resize(other.chars_histogram.len(), 0);
        }
        for (mine, theirs) in self.chars_histogram.iter_mut().zip(&other.chars_histogram) {
            *mine += theirs;
        }
        for (k, v) in &other.languages {
            *self.languages.entry(k.clone()).or_default() += v;
        }
    }

    /// Counts a document of `chars` characters in [`chars_histogram`](Self::chars_histogram).
    pub fn count_length(&mut self, chars: usize) {
        let bucket = (usize::BITS - chars.leading_zeros()) as usize;
        if self.chars_histogram.len() <= bucket {
            self.chars_histogram.resize(bucket + 1, 0);
        }
        self.chars_histogram[bucket] += 1;
    }

    /// Documents dropped, all rules together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Input errors, all kinds together.
    pub fn errors_total(&self) -> u64 {
        self.input_errors.values().sum()
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum RunStatus {
    /// Every input was processed and every output completed.
    Complete,
    /// Stopped by Ctrl-C / SIGTERM; nothing incomplete was left looking complete.
    Interrupted,
    /// Stopped by an error.
    Failed {
        /// What kind of failure (decides the exit code).
        #[serde(default)]
        kind: FailureKind,
        /// What failed, where, and what to do.
        reason: String,
    },
}

impl RunStatus {
    /// A failed run.
    pub fn failed(f: Failure) -> Self {
        Self::Failed { kind: f.kind, reason: f.message }
    }
}

/// Everything `stats.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStats {
    /// How the run ended.
    #[serde(flatten)]
    pub status: RunStatus,
    /// Tool version.
    pub tool_version: String,
    /// Hash of the pipeline config.
    pub config_hash: String,
    /// Worker threads.
    pub threads: usize,
    /// Wall time in seconds.
    pub elapsed_secs: f64,
    /// Input files and their total stored size.
    pub input_files: u64,
    /// Bytes read from storage (compressed size for compressed inputs).
    pub input_bytes: u64,
    /// Bytes of input after decompression (JSON lines, or Parquet text).
    pub decoded_bytes: u64,
    /// Peak resident memory of the process (Linux), in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Per node, in pipeline order.
    pub nodes: Vec<NodeStats>,
    /// What each sink wrote, by sink name.
    pub sinks: BTreeMap<String, SinkReport>,
    /// Work units (input files of a pass): processed by this run, or replayed from the ledger
    /// of an interrupted one.
    pub units: UnitCounts,
    /// Inputs left out because an earlier run processed them (`--incremental`).
    pub seen_inputs_skipped: u64,
    /// Inputs that could not be read (network, permissions, gone): counted as input errors,
    /// not recorded as processed, so the next run (incremental or resumed) tries them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs_to_retry: Vec<String>,
    /// A job array's steps (`tokenmill plan`): each task's CPU seconds, wall time and peak
    /// memory; empty for a single-process run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
}

/// What the tasks of one job-array step cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepReport {
    /// Step name, as `tokenmill plan` prints it.
    pub name: String,
    /// Each task, by rank.
    pub tasks: Vec<TaskCost>,
}

/// What one task of a step cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TaskCost {
    /// Its rank in the step.
    pub rank: usize,
    /// User plus system CPU seconds of the process (Linux; 0 elsewhere).
    pub cpu_secs: f64,
    /// Wall time in seconds.
    pub elapsed_secs: f64,
    /// Peak resident memory of the process (Linux), in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Input bytes the task read (map steps).
    pub input_bytes: u64,
}

/// Work units done by a run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnitCounts {
    /// Read and processed.
    pub processed: u64,
    /// Finished by an earlier, interrupted run and replayed from the ledger.
    pub reused: u64,
}

impl RunStats {
    /// The stats of an incremental run that found no new input.
    pub fn nothing_new(
        plan: &crate::config::Plan,
        threads: usize,
        skipped: u64,
        elapsed_secs: f64,
    ) -> Self {
        RunStats {
            status: RunStatus::Complete,
            tool_version: crate::LONG_VERSION.into(),
            config_hash: plan.config_hash.clone(),
            threads,
            elapsed_secs,
            input_files: 0,
            input_bytes: 0,
            decoded_bytes: 0,
            peak_rss_bytes: peak_rss_bytes(),
            nodes: plan
                .nodes
                .iter()
                .map(|n| NodeStats {
                    name: n.name.clone(),
                    kind: n.kind.into(),
                    role: n.role.label().into(),
                    ..NodeStats::default()
                })
                .collect(),
            sinks: BTreeMap::new(),
            units: UnitCounts::default(),
            seen_inputs_skipped: skipped,
            inputs_to_retry: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Bad input records and files over all sources.
    pub fn input_errors(&self) -> u64 {
        self.nodes.iter().map(NodeStats::errors_total).sum()
    }

    /// A readable table of the run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let status = match &self.status {
            RunStatus::Complete => "complete".to_string(),
            RunStatus::Interrupted => {
                "interrupted (outputs not completed were removed)".to_string()
            }
            RunStatus::Failed { .. } => "FAILED".to_string(),
        };
        let secs = self.elapsed_secs.max(1e-9);
        let _ = writeln!(
            s,
            "run {status} in {:.1}s: {} input files, {:.1} MB read, {:.1} MB decoded ({:.1} MB/s), {} threads, peak RSS {}",
            self.elapsed_secs,
            self.input_files,
            self.input_bytes as f64 / 1e6,
            self.decoded_bytes as f64 / 1e6,
            self.decoded_bytes as f64 / 1e6 / secs,
            self.threads,
            self.peak_rss_bytes.map_or("unknown".to_string(), |b| format!(
                "{:.0} MiB",
                b as f64 / (1 << 20) as f64
            )),
        );
        let _ = writeln!(
            s,
            "{:<16} {:<18} {:>10} {:>10} {:>10} {:>12} {:>8}  details",
            "node", "type", "docs in", "docs out", "dropped", "tokens", "cpu s"
        );
        for n in &self.nodes {
            let mut details: Vec<String> =
                n.dropped.iter().map(|(k, v)| format!("{k}={v}")).collect();
            details.extend(n.transformed.iter().map(|(k, v)| format!("{k}:{v}")));
            details.extend(n.input_errors.iter().map(|(k, v)| format!("error:{k}={v}")));
            let _ = writeln!(
                s,
                "{:<16} {:<18} {:>10} {:>10} {:>10} {:>12} {:>8.1}  {}",
                n.name,
                n.kind,
                n.docs_in,
                n.docs_out,
                n.dropped_total(),
                n.tokens_out,
                n.compute_secs,
                details.join(" ")
            );
        }
        for (name, r) in &self.sinks {
            // Where the files went: the directory (or URL prefix) of the first one.
            let place = r.files.first().and_then(|f| f.rsplit_once('/')).map(|(dir, _)| dir);
            let _ = writeln!(
                s,
                "sink {name}: {} documents, {} tokens, {} files{}",
                r.documents,
                r.tokens,
                r.files.len(),
                place.map_or(String::new(), |d| format!(" in {d}"))
            );
        }
        if let RunStatus::Failed { reason, .. } = &self.status {
            let _ = writeln!(s, "error: {reason}");
        }
        s
    }
}

/// Peak resident set size of this process (`VmHWM`), where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User plus system CPU seconds this process has used so far (Linux; 0 elsewhere).
pub fn cpu_secs() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second on Linux).
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return 0.0 };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // After the command name, field 3 of the line is index 0 here: utime is 14, stime 15.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Seconds of a duration, for counters.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The current time as RFC 3339 UTC (`2026-01-31T12:00:00Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: u64) -> String {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default();
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A label value as the Prometheus text format writes it: backslash, double quote and line feed
/// escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes the run's counters in the Prometheus text exposition format (atomically, as
/// node_exporter's textfile collector expects).
///
/// # Errors
/// The file cannot be written.
pub fn write_metrics(path: &std::path::Path, stats: &RunStats) -> anyhow::Result<()> {
    let dir =
        path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("tokenmill.prom");
    let mut file = crate::sink::AtomicFile::create(dir, name)?;
    std::io::Write::write_all(&mut file, metrics_text(stats).as_bytes())?;
    file.commit()?;
    Ok(())
}

/// The run's counters as Prometheus text.
pub fn metrics_text(stats: &RunStats) -> String {
    let mut s = String::new();
    run_metrics(stats, &mut |name, help, kind, samples| metric(&mut s, name, help, kind, samples));
    node_metrics(stats, &mut |name, help, kind, samples| metric(&mut s, name, help, kind, samples));
    s
}

/// Appends one metric, its help and type lines, then its samples (labels, value).
fn metric(s: &mut String, name: &str, help: &str, kind: &str, samples: &[(String, f64)]) {
    let _ = writeln!(s, "# HELP tokenmill_{name} {help}\n# TYPE tokenmill_{name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(s, "tokenmill_{name}{labels} {v}");
    }
}

/// A label set, `{k="v",...}`, its values escaped.
fn label(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
    format!("{{{}}}", inner.join(","))
}

/// Where a metric goes: name, help, type, samples.
type MetricSink<'a> = dyn FnMut(&str, &str, &str, &[(String, f64)]) + 'a;

/// The run's metrics: status, times, inputs, work units.
fn run_metrics(stats: &RunStats, metric: &mut MetricSink<'_>) {
    let status = match &stats.status {
        RunStatus::Complete => "complete",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Failed { .. } => "failed",
    };
    let states: Vec<(String, f64)> = ["complete", "interrupted", "failed"]
        .iter()
        .map(|st| (label(&[("status", st)]), f64::from(u8::from(*st == status))))
        .collect();
    metric("run_status", "How the last run ended (1 for its status).", "gauge", &states);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metric(
        "run_end_timestamp_seconds",
        "When the last run ended.",
        "gauge",
        &[(String::new(), now.floor())],
    );
    metric(
        "run_duration_seconds",
        "Wall time of the last run.",
        "gauge",
        &[(String::new(), stats.elapsed_secs)],
    );
    metric(
        "input_files",
        "Input files of the last run.",
        "gauge",
        &[(String::new(), stats.input_files as f64)],
    );
    metric(
        "input_bytes",
        "Bytes read from storage.",
        "gauge",
        &[(String::new(), stats.input_bytes as f64)],
    );
    metric(
        "seen_inputs_skipped",
        "Inputs skipped as already processed (incremental).",
        "gauge",
        &[(String::new(), stats.seen_inputs_skipped as f64)],
    );
    let units = [
        (label(&[("how", "processed")]), stats.units.processed as f64),
        (label(&[("how", "reused")]), stats.units.reused as f64),
    ];
    metric(
        "work_units",
        "Work units processed, or replayed from an interrupted run's ledger.",
        "gauge",
        &units,
    );
}

/// Each node's and sink's metrics: documents, bytes, tokens, drops by rule, input errors.
fn node_metrics(stats: &RunStats, metric: &mut MetricSink<'_>) {
    let per_node = |f: &dyn Fn(&NodeStats) -> u64| -> Vec<(String, f64)> {
        stats
            .nodes
            .iter()
            .map(|n| (label(&[("node", &n.name), ("type", &n.kind)]), f(n) as f64))
            .collect()
    };
    metric("documents_in", "Documents into each node.", "gauge", &per_node(&|n| n.docs_in));
    metric("documents_out", "Documents out of each node.", "gauge", &per_node(&|n| n.docs_out));
    metric("bytes_in", "Text bytes into each node.", "gauge", &per_node(&|n| n.bytes_in));
    metric(
        "tokens_out",
        "Tokens produced or written by each node.",
        "gauge",
        &per_node(&|n| n.tokens_out),
    );
    let mut drops = Vec::new();
    let mut errors = Vec::new();
    for n in &stats.nodes {
        drops.extend(
            n.dropped.iter().map(|(r, v)| (label(&[("node", &n.name), ("rule", r)]), *v as f64)),
        );
        errors.extend(
            n.input_errors
                .iter()
                .map(|(k, v)| (label(&[("node", &n.name), ("kind", k)]), *v as f64)),
        );
    }
    metric("documents_dropped", "Documents dropped, by node and rule.", "gauge", &drops);
    metric("input_errors", "Bad input records and files, by source and kind.", "gauge", &errors);
    let sinks: Vec<(String, f64)> =
        stats.sinks.iter().map(|(k, r)| (label(&[("sink", k)]), r.tokens as f64)).collect();
    metric("sink_tokens", "Tokens written by each sink.", "gauge", &sinks);
}

#[cfg(test)]
mod time_tests {
    use super::NodeStats;

    #[test]
    fn length_histograms_and_languages_merge() {
        let mut a = NodeStats::default();
        for chars in [0, 1, 3, 4, 1000] {
            a.count_length(chars);
        }
        assert_eq!(a.chars_histogram, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1]);
        a.languages.insert("zh".into(), 2);
        let mut b = NodeStats::default();
        b.count_length(2);
        b.languages.insert("zh".into(), 1);
        b.languages.insert("en".into(), 4);
        b.merge(&a);
        assert_eq!(b.chars_histogram, [1, 1, 2, 1, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(b.languages, [("en".to_string(), 4), ("zh".to_string(), 3)].into());
        let json = serde_json::to_value(&b).expect("json");
        assert_eq!(json["chars_histogram"][3], 1);
        let back: NodeStats = serde_json::from_value(json).expect("back");
        assert_eq!(back, b);
    }

    #[test]
    fn prometheus_label_values_are_escaped() {
        assert_eq!(super::escape_label("a\\b \"c\"\nd"), "a\\\\b \\\"c\\\"\\nd");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_796_083_199), "2026-11-30T23:59:59Z");
    }
}
