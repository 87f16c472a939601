//! Quality on the near-duplicate set (`tests/fixtures/neardup`, a copy of
//! `shared/data/neardup`): 4,000 documents, 2,000 originals each with one edited copy, and the
//! ground-truth Jaccard of word 5-gram sets for every similar pair (see
//! `shared/bench/eval_dedup.py`).
//!
//! Predicted pairs are the distinct edges of phase 2 (verified LSH candidates and exact
//! duplicates); a pair is positive when its true Jaccard is at least the threshold.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use tokenmill_dedup::format::{ArtifactKind, ArtifactReader};
use tokenmill_dedup::phases::{self, DedupConfig, Partition, RemoveSet, SignatureWriter};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/neardup")
}

fn load_docs() -> Vec<(String, String)> {
    let file =
        std::fs::File::open(fixtures().join("docs.jsonl.zst")).expect("fixture docs.jsonl.zst");
    let reader = std::io::BufReader::new(zstd::Decoder::new(file).expect("zstd"));
    reader
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.expect("line")).expect("json");
            (
                v["id"].as_str().expect("id").to_string(),
                v["text"].as_str().expect("text").to_string(),
            )
        })
        .collect()
}

fn load_pairs() -> HashMap<(String, String), f64> {
    let text =
        std::fs::read_to_string(fixtures().join("pairs.jsonl")).expect("fixture pairs.jsonl");
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let (a, b) =
                (v["a"].as_str().expect("a").to_string(), v["b"].as_str().expect("b").to_string());
            (if a < b { (a, b) } else { (b, a) }, v["jaccard_5gram"].as_f64().expect("jaccard"))
        })
        .collect()
}

/// Phases 1-3 over `docs` cut into `splits` splits, phase 2 as `world` ranks.
fn run(
    work: &Path,
    docs: &[(String, String)],
    config: &DedupConfig,
    splits: usize,
    world: usize,
) -> tokenmill_dedup::DedupReport {
    let per = docs.len().div_ceil(splits);
    for (s, chunk) in docs.chunks(per).enumerate() {
        let mut w = SignatureWriter::create(work, s as u32, config).expect("create");
        for (i, (_, text)) in chunk.iter().enumerate() {
            w.add((s * per + i) as u64, text, None).expect("add");
        }
        w.finish().expect("finish");
    }
    for rank in 0..world {
        phases::run_phase2(work, config, rank, world).expect("phase 2");
    }
    phases::run_phase3(work, config, None).expect("phase 3")
}

fn edges(work: &Path, config: &DedupConfig) -> HashSet<(u64, u64)> {
    let mut out = HashSet::new();
    for part in Partition::all(config) {
        let mut r = ArtifactReader::open(&part.edge_path(work), ArtifactKind::Edges, Some(16))
            .expect("edges");
        let mut rec = [0u8; 16];
        while r.next_record(&mut rec).expect("edge") {
            let a = u64::from_le_bytes(rec[..8].try_into().expect("8"));
            let b = u64::from_le_bytes(rec[8..].try_into().expect("8"));
            out.insert((a.min(b), a.max(b)));
        }
    }
    out
}

fn artifacts(work: &Path, config: &DedupConfig) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> =
        Partition::all(config).iter().map(|p| p.edge_path(work)).collect();
    paths.push(phases::remove_path(work));
    paths.push(phases::report_path(work));
    paths.iter().map(|p| std::fs::read(p).expect("artifact")).collect()
}

#[test]
fn neardup_quality_at_threshold_0_8() {
    let docs = load_docs();
    let truth = load_pairs();
    assert_eq!(docs.len(), 4000);
    let config = DedupConfig::default();
    let work = tempfile::tempdir().expect("tempdir");
    let report = run(work.path(), &docs, &config, 4, 1);

    let pred: HashSet<(String, String)> = edges(work.path(), &config)
        .into_iter()
        .map(|(a, b)| {
            let (a, b) = (docs[a as usize].0.clone(), docs[b as usize].0.clone());
            if a < b { (a, b) } else { (b, a) }
        })
        .collect();
    let positives: HashSet<&(String, String)> =
        truth.iter().filter(|(_, j)| **j >= 0.8).map(|(k, _)| k).collect();
    let tp = pred.iter().filter(|p| positives.contains(p)).count() as f64;
    let precision = tp / pred.len() as f64;
    let recall = tp / positives.len() as f64;
    let f1 = 2.0 * precision * recall / (precision + recall);
    let high: Vec<_> = truth.iter().filter(|(_, j)| **j >= 0.9).map(|(k, _)| k).collect();
    let recall_high = high.iter().filter(|k| pred.contains(**k)).count() as f64 / high.len() as f64;

    // Removal view (eval_dedup.py `eval_removed`): a pair is caught if one member is removed.
    let remove = RemoveSet::open(work.path(), &config).expect("remove set");
    let removed: HashSet<&str> =
        remove.ids().iter().map(|&i| docs[i as usize].0.as_str()).collect();
    let caught = positives
        .iter()
        .filter(|(a, b)| removed.contains(a.as_str()) || removed.contains(b.as_str()))
        .count() as f64;
    eprintln!(
        "neardup t=0.8: predicted {} pairs, positives {}, precision {precision:.4}, recall {recall:.4}, F1 {f1:.4}, \
         recall(J>=0.9) {recall_high:.4} over {}; removed {} (exact {}, fuzzy {}), clusters {}, pair_recall(removal) {:.4}",
        pred.len(),
        positives.len(),
        high.len(),
        report.removed.total,
        report.removed.exact,
        report.removed.fuzzy,
        report.clusters,
        caught / positives.len() as f64,
    );
    assert!(f1 >= 0.95, "F1 {f1}");
    assert!(recall_high >= 0.98, "recall(J>=0.9) {recall_high}");
    assert_eq!(report.documents, 4000);
    assert_eq!(report.kept + report.removed.total, report.documents);

    // Same artifacts whatever the split count and rank count.
    let other = tempfile::tempdir().expect("tempdir");
    let report2 = run(other.path(), &docs, &config, 7, 3);
    assert_eq!(report, report2);
    assert_eq!(artifacts(work.path(), &config), artifacts(other.path(), &config));
}
