//! What phase 3 found, for people: the report printed, and the clusters as readable JSON lines.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;
use tokenmill_dedup::DedupReport;
use tokenmill_dedup::phases;
use tokenmill_dedup::report::read_clusters;

/// Reads the report the clusters step wrote in the dedup stage's directory and prints it.
///
/// # Errors
/// The report is missing or unreadable.
pub(super) fn print_report(dedup_dir: &Path) -> anyhow::Result<DedupReport> {
    let path = phases::report_path(dedup_dir);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let report: DedupReport = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a dedup report", path.display()))?;
    print!("{}", summary(&report, &path));
    Ok(report)
}

/// Writes `clusters/clusters.jsonl` beside `clusters.bin`: per cluster, its size, the kept
/// member and every member, by document id (read back from the documents the stage staged
/// under `barriers_dir`, which carry their ordinal).
///
/// # Errors
/// The cluster dump or a staged file cannot be read, or the output cannot be written.
pub(super) fn dump_clusters(dedup_dir: &Path, barrier_dir: &Path) -> anyhow::Result<()> {
    let clusters = read_clusters(&phases::clusters_path(dedup_dir))?;
    let mut ids: HashMap<u64, String> =
        clusters.iter().flat_map(|c| &c.members).map(|&m| (m, String::new())).collect();
    for entry in walkdir::WalkDir::new(barrier_dir).sort_by_file_name() {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().ends_with(".jsonl.zst") {
            continue;
        }
        let file = std::fs::File::open(entry.path())
            .with_context(|| format!("cannot open {}", entry.path().display()))?;
        for line in std::io::BufReader::new(zstd::Decoder::new(file)?).lines() {
            let doc: serde_json::Value = serde_json::from_str(&line?)?;
            let ordinal = doc[crate::runner::STAGED_ORDINAL].as_u64();
            if let Some(slot) = ordinal.and_then(|o| ids.get_mut(&o)) {
                *slot = doc["id"].as_str().unwrap_or_default().to_string();
            }
        }
    }
    let name = |m: u64| ids.get(&m).cloned().unwrap_or_default();
    let path = dedup_dir.join("clusters").join("clusters.jsonl");
    let tmp = path.with_extension("jsonl.tmp");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    for c in &clusters {
        let members: Vec<String> = c.members.iter().map(|&m| name(m)).collect();
        let line = serde_json::json!({
            "size": members.len(),
            "representative": name(c.representative),
            "members": members,
        });
        writeln!(out, "{line}").with_context(|| format!("cannot write {}", tmp.display()))?;
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
