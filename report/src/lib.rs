//! A run's statistics as one self-contained HTML page: no scripts, no network, every chart an
//! inline SVG and every number also written as text.
//!
//! The caller fills a [`RunReport`] (the pipeline does so from `stats.json`, the shard
//! manifests and the training check's report) and [`render`]s it. The page shows the funnel of
//! documents and bytes through every node with the drops by rule, the languages found, document
//! length histograms before and after filtering, what deduplication removed (cluster sizes),
//! tokens per shard, throughput per node, peak memory and the training check's loss curve;
//! parts without data are left out. This crate does no I/O.
//!
//! # Example
//!
//! ```
//! use tokenmill_report::{Log2Histogram, NodeRow, RunReport, render};
//!
//! let mut lengths = Log2Histogram::default();
//! for chars in [5, 120, 130, 4000] {
//!     lengths.add(chars);
//! }
//! let report = RunReport {
//!     title: "out/work".into(),
//!     status: "complete".into(),
//!     nodes: vec![NodeRow {
//!         name: "length".into(),
//!         kind: "length".into(),
//!         docs_in: 1200,
//!         docs_out: 1000,
//!         dropped: vec![("too_short".into(), 200)],
//!         ..NodeRow::default()
//!     }],
//!     lengths_before: Some(lengths),
//!     ..RunReport::default()
//! };
//! let html = render(&report);
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! assert!(html.contains("<td>1,200</td>") && html.contains("too_short"));
//! ```
#![warn(missing_docs)]

mod fmt;
mod html;
mod model;
mod svg;

pub use fmt::{bytes, escape, num, pct};
pub use model::{DedupRow, Log2Histogram, LossCurve, NodeRow, RunReport, ShardRow};

/// Renders a report as a complete HTML document (UTF-8, inline CSS and SVG, no scripts, no
/// external resources).
pub fn render(report: &RunReport) -> String {
    html::page(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunReport {
        let mut before = Log2Histogram::default();
        let mut after = Log2Histogram::default();
        for v in [0, 3, 17, 17, 300, 5000] {
            before.add(v);
        }
        for v in [17, 300, 5000] {
            after.add(v);
        }
        RunReport {
            title: "work <dir>".into(),
            status: "complete".into(),
            tool_version: "0.1.0".into(),
            elapsed_secs: 2.5,
            threads: 2,
            input_files: 3,
            input_bytes: 1 << 20,
            decoded_bytes: 3 << 20,
            peak_rss_bytes: Some(200 << 20),
            nodes: vec![
                NodeRow {
                    name: "web".into(),
                    kind: "jsonl".into(),
                    is_source: true,
                    docs_in: 6,
                    docs_out: 6,
                    bytes_in: 5337,
                    bytes_out: 5337,
                    compute_secs: 0.01,
                    ..NodeRow::default()
                },
                NodeRow {
                    name: "quality".into(),
                    kind: "gopher_quality".into(),
                    docs_in: 6,
                    docs_out: 3,
                    bytes_in: 5337,
                    bytes_out: 5317,
                    dropped: vec![("gopher_short_doc".into(), 3)],
                    compute_secs: 0.02,
                    ..NodeRow::default()
                },
                NodeRow {
                    name: "out".into(),
                    kind: "megatron".into(),
                    is_sink: true,
                    docs_in: 3,
                    docs_out: 3,
                    compute_secs: 0.0001,
                    ..NodeRow::default()
                },
            ],
            languages: vec![("zh".into(), 4), ("en".into(), 2)],
            lengths_before: Some(before),
            lengths_after: Some(after),
            dedup: vec![DedupRow {
                name: "dedup".into(),
                documents: 3,
                removed: 1,
                clusters: 1,
                largest_cluster: 2,
                cluster_sizes: vec![("2".into(), 1)],
            }],
            shards: vec![
                ShardRow { name: "train_00000".into(), tokens: 123_456, documents: 2 },
                ShardRow { name: "train_00001".into(), tokens: 7, documents: 1 },
            ],
            loss: Some(LossCurve {
                losses: vec![9.0, 7.5, 6.0, 5.2],
                unigram_entropy: Some(6.5),
                heldout_loss: Some(5.4),
                passed: Some(true),
            }),
        }
    }

    #[test]
    fn every_section_shows_its_numbers_as_text() {
        let html = render(&sample());
        for id in [
            "funnel",
            "drops",
            "languages",
            "lengths",
            "dedup-dedup",
            "shards",
            "throughput",
            "loss",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "section {id} missing");
        }
        assert!(
            html.contains("<td>web</td><td>jsonl</td><td>6</td><td>6</td><td>0</td><td>5,337</td>")
        );
        assert!(html.contains("gopher_short_doc"));
        assert!(html.contains("3 (50.0% of its input)"), "drop share");
        assert!(html.contains("4 (66.7%)"), "language share");
        assert!(html.contains("1 of 3 documents removed (<b>33.3%</b>)"), "dedup share");
        assert!(html.contains("123,463 tokens and 3 documents in 2 shards"));
        assert!(html.contains("200.0 MiB"), "peak memory");
        assert!(html.contains("held-out loss 5.400"));
        assert!(html.contains("work &lt;dir&gt;"), "the title is escaped");
    }

    #[test]
    fn throughput_leaves_out_sinks() {
        let html = render(&sample());
        let start = html.find("id=\"throughput\"").expect("throughput section");
        let section = &html[start..html[start..].find("<h2").map_or(html.len(), |i| start + i)];
        assert!(section.contains(">quality<") && !section.contains(">out<"), "{section}");
    }

    #[test]
    fn length_histograms_start_at_the_first_filled_bucket() {
        let html = render(&sample());
        // Buckets: 0, 2-3, 16-31 (twice before, once after), 256-511, 4096-8191.
        assert!(html.contains("<tr><td>0</td><td>1</td><td>0</td></tr>"), "{html}");
        assert!(html.contains("<tr><td>16-31</td><td>2</td><td>1</td></tr>"));
        assert!(html.contains("<tr><td>4096-8191</td><td>1</td><td>1</td></tr>"));
        let mut late = Log2Histogram::default();
        late.add(1000);
        let html = render(&RunReport { lengths_after: Some(late), ..RunReport::default() });
        assert!(html.contains("<tr><td>512-1023</td><td>0</td><td>1</td></tr>"), "{html}");
        assert!(!html.contains("<tr><td>0</td>"), "empty leading buckets are left out");
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&sample());
        assert!(!html.contains("<script"), "no scripts");
        assert!(!html.contains("src=") && !html.contains("href="), "no external resources");
        // The only URL is the SVG namespace, which browsers never fetch.
        assert_eq!(
            html.matches("http").count(),
            html.matches("http://www.w3.org/2000/svg").count()
        );
        assert!(!html.contains("NaN") && !html.contains("inf"));
    }

    #[test]
    fn empty_parts_are_left_out() {
        let html = render(&RunReport { status: "interrupted".into(), ..RunReport::default() });
        assert!(html.contains("class=\"bad\">interrupted"));
        for id in ["funnel", "languages", "lengths", "shards", "loss", "throughput"] {
            assert!(!html.contains(&format!("id=\"{id}\"")), "{id} shown without data");
        }
    }

    #[test]
    fn log2_buckets() {
        assert_eq!(Log2Histogram::bucket_of(0), 0);
        assert_eq!(Log2Histogram::bucket_of(1), 1);
        assert_eq!(Log2Histogram::bucket_of(3), 2);
        assert_eq!(Log2Histogram::bucket_of(4), 3);
        assert_eq!(Log2Histogram::bucket_of(u64::MAX), 64);
        assert_eq!(Log2Histogram::bounds(3), (4, 7));
        assert_eq!(Log2Histogram::bounds(64), (1 << 63, u64::MAX));
        for v in [0, 1, 2, 5, 1000, u64::MAX] {
            let (lo, hi) = Log2Histogram::bounds(Log2Histogram::bucket_of(v));
            assert!(lo <= v && v <= hi, "{v}");
        }
    }
}
