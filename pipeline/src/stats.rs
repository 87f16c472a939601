//! Run statistics: per node counters, the end-of-run summary and `stats.json`.
//!
//! Counters are collected per batch by the workers and merged in input order by the writer, so
//! they are exact and identical at any thread count (compute time aside). For every stage,
//! `docs_in == docs_out + sum(dropped)`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::sink::SinkReport;

/// Counters of one node.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct NodeStats {
    /// Node name.
    pub name: String,
    /// Its `type`.
    pub kind: String,
    /// Documents received (for sources: records parsed).
    pub docs_in: u64,
    /// Text bytes received.
    pub bytes_in: u64,
    /// Documents passed on (for sinks: written).
    pub docs_out: u64,
    /// Text bytes passed on.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum RunStatus {
    /// Every input was processed and every output completed.
    Complete,
    /// Stopped by Ctrl-C / SIGTERM; nothing incomplete was left looking complete.
    Interrupted,
    /// Stopped by an error.
    Failed(String),
}

/// Everything `stats.json` holds.
#[derive(Debug, Clone, Serialize)]
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
}

impl RunStats {
    /// Bad input records and files over all sources.
    pub fn input_errors(&self) -> u64 {
        self.nodes.iter().map(NodeStats::errors_total).sum()
    }

    /// A readable table of the run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let status = match &self.status {
            RunStatus::Complete => "complete".to_string(),
            RunStatus::Interrupted => "interrupted (outputs not completed were removed)".to_string(),
            RunStatus::Failed(e) => format!("FAILED: {e}"),
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
            self.peak_rss_bytes.map_or("unknown".to_string(), |b| format!("{:.0} MiB", b as f64 / (1 << 20) as f64)),
        );
        let _ = writeln!(
            s,
            "{:<16} {:<18} {:>10} {:>10} {:>10} {:>12} {:>8}  details",
            "node", "type", "docs in", "docs out", "dropped", "tokens", "cpu s"
        );
        for n in &self.nodes {
            let mut details: Vec<String> = n.dropped.iter().map(|(k, v)| format!("{k}={v}")).collect();
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
            let _ = writeln!(s, "sink {name}: {} documents, {} tokens, {} files", r.documents, r.tokens, r.files.len());
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

/// Seconds of a duration, for counters.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
