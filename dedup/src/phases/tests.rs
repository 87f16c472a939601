//! Tests of the four phases together.

use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::index::DedupIndex;
use crate::report::read_clusters;

const BASE: &str = "the quick brown fox jumps over the lazy dog while the cat sleeps on a warm mat and the birds \
                    sing in the tall trees near the quiet river bank at dawn every single day of the year";

fn small_config() -> DedupConfig {
    // A budget of a few records forces every sort to spill and merge in passes.
    DedupConfig { memory_budget: 64, ..DedupConfig::default() }
}

/// Phases 1-3 with `splits` contiguous splits and `world` ranks for phase 2.
pub(super) fn dedup(
    work: &Path,
    docs: &[String],
    config: &DedupConfig,
    splits: usize,
    world: usize,
) -> Result<crate::DedupReport> {
    let per = docs.len().div_ceil(splits.max(1)).max(1);
    for (s, chunk) in docs.chunks(per).enumerate() {
        let mut w = SignatureWriter::create(work, s as u32, config)?;
        for (i, text) in chunk.iter().enumerate() {
            w.add(
                (s * per + i) as u64,
                text,
                Some(text.len() as f64 * if i % 2 == 0 { 1.0 } else { -1.0 }),
            )?;
        }
        w.finish()?;
    }
    for rank in 0..world {
        run_phase2(work, config, rank, world)?;
    }
    run_phase3(work, config, None)
}

fn corpus() -> Vec<String> {
    vec![
        BASE.to_string(),                                      // 0
        "an unrelated document about rust compilers".into(),   // 1
        BASE.replace("dawn", "dusk"),                          // 2: near dup of 0
        format!("{BASE} and then some more words at the end"), // 3: near dup of 0, longest
        "an unrelated document about rust compilers".into(),   // 4: exact dup of 1
        "   ".into(),                                          // 5: no tokens
        "   ".into(),                                          // 6: exact dup of 5
    ]
}

#[test]
fn keep_first_removes_later_members() {
    let dir = tempfile::tempdir().unwrap();
    let config = DedupConfig { dump_clusters: true, ..small_config() };
    let report = dedup(dir.path(), &corpus(), &config, 3, 2).unwrap();
    let remove = RemoveSet::open(dir.path(), &config).unwrap();
    assert_eq!(remove.ids(), [2, 3, 4, 6]);
    assert_eq!((report.documents, report.kept, report.clusters), (7, 3, 3));
    assert_eq!((report.removed.exact, report.removed.fuzzy, report.removed.index), (2, 2, 0));
    assert_eq!(report.cluster_size_histogram.into_iter().collect::<Vec<_>>(), [(2, 2), (3, 1)]);
    let clusters = read_clusters(&clusters_path(dir.path())).unwrap();
    assert_eq!(clusters.len(), 3);
    assert_eq!((clusters[0].representative, clusters[0].members.clone()), (0, vec![0, 2, 3]));
    // The report is also on disk.
    let json: crate::DedupReport =
        serde_json::from_slice(&std::fs::read(report_path(dir.path())).unwrap()).unwrap();
    assert_eq!(json.removed.total, 4);
}

#[test]
fn keep_longest_and_highest_score() {
    let dir = tempfile::tempdir().unwrap();
    let config = DedupConfig { keep: KeepRule::Longest, ..small_config() };
    dedup(dir.path(), &corpus(), &config, 1, 1).unwrap();
    assert_eq!(RemoveSet::open(dir.path(), &config).unwrap().ids(), [0, 2, 4, 6]);

    // Scores: +len for even positions in a split, -len for odd ones (one split here). In
    // {0, 2, 3}, 0 and 2 tie (same length), so the smaller id wins; {1, 4} keeps 4, {5, 6} 6.
    let dir = tempfile::tempdir().unwrap();
    let config = DedupConfig { keep: KeepRule::HighestScore, ..small_config() };
    dedup(dir.path(), &corpus(), &config, 1, 1).unwrap();
    assert_eq!(RemoveSet::open(dir.path(), &config).unwrap().ids(), [1, 2, 3, 5]);
}

#[test]
fn without_verification_or_exact() {
    let dir = tempfile::tempdir().unwrap();
    let config = DedupConfig { verify: false, exact: false, ..small_config() };
    let report = dedup(dir.path(), &corpus(), &config, 2, 1).unwrap();
    // Docs without tokens are never fuzzy duplicates; exact is off.
    assert_eq!(RemoveSet::open(dir.path(), &config).unwrap().ids(), [2, 3, 4]);
    assert_eq!(report.removed.exact, 0);
}

#[test]
fn corrupt_or_truncated_signatures_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    dedup(dir.path(), &corpus(), &config, 2, 1).unwrap();
    let path = signature_path(dir.path(), 1);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let e = run_partition(dir.path(), &config, Partition::Band(0)).unwrap_err().to_string();
    assert!(e.contains("split_00001.sig") && e.contains("truncated"), "{e}");
    let mut flipped = bytes.clone();
    flipped[60] ^= 0x40;
    std::fs::write(&path, &flipped).unwrap();
    let e = run_partition(dir.path(), &config, Partition::Exact).unwrap_err().to_string();
    assert!(e.contains("split_00001.sig") && e.contains("checksum"), "{e}");
}

#[test]
fn phases_refuse_mixed_configs_and_missing_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    dedup(dir.path(), &corpus(), &config, 1, 1).unwrap();
    let other =
        DedupConfig { minhash: crate::MinHashConfig { seed: 9, ..config.minhash }, ..config };
    let e = run_partition(dir.path(), &other, Partition::Band(0)).unwrap_err().to_string();
    assert!(e.contains("split_00000.sig") && e.contains("fingerprint"), "{e}");
    std::fs::remove_file(Partition::Band(3).edge_path(dir.path())).unwrap();
    let e = run_phase3(dir.path(), &config, None).unwrap_err().to_string();
    assert!(e.contains("band_003.edges") && e.contains("phase 2"), "{e}");
    assert!(run_phase2(dir.path(), &config, 2, 2).is_err());
}

#[test]
fn incremental_index_drops_what_earlier_runs_saw() {
    let (index_dir, run1, run2) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = small_config();
    dedup(run1.path(), &corpus()[..2], &config, 1, 1).unwrap();
    let stats = DedupIndex::update(index_dir.path(), run1.path(), &config).unwrap();
    assert_eq!((stats.exact, stats.bands), (2, 28));

    let docs = [
        "a brand new document with enough words to shingle".to_string(), // 0: new
        BASE.replace("dawn", "noon"),                                    // 1: near dup of old doc
        "an unrelated document about rust compilers".to_string(),        // 2: exact dup of old doc
        BASE.replace("dawn", "noon"),                                    // 3: exact dup of 1
    ];
    for (s, chunk) in docs.chunks(2).enumerate() {
        let mut w = SignatureWriter::create(run2.path(), s as u32, &config).unwrap();
        for (i, t) in chunk.iter().enumerate() {
            w.add((s * 2 + i) as u64, t, None).unwrap();
        }
        w.finish().unwrap();
    }
    run_phase2(run2.path(), &config, 0, 1).unwrap();
    let index = DedupIndex::open(index_dir.path(), &config).unwrap();
    let report = run_phase3(run2.path(), &config, Some(&index)).unwrap();
    assert_eq!(RemoveSet::open(run2.path(), &config).unwrap().ids(), [1, 2, 3]);
    assert_eq!((report.removed.exact, report.removed.fuzzy, report.removed.index), (1, 0, 2));

    // Folding run 2 in grows the index; on-disk lookups (budget 0) agree with in-memory ones.
    let stats = DedupIndex::update(index_dir.path(), run2.path(), &config).unwrap();
    assert_eq!(stats.exact, 4);
    let on_disk =
        DedupIndex::open(index_dir.path(), &DedupConfig { memory_budget: 0, ..config }).unwrap();
    let h = crate::exact_hash(&docs[0], &config.normalize);
    assert!(on_disk.contains_exact(h).unwrap());
    assert!(!on_disk.contains_exact(h ^ 1).unwrap());
}

/// Small corpora with exact and near duplicates.
pub(super) fn corpus_strategy() -> impl Strategy<Value = Vec<String>> {
    let words = [
        "alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa",
        "lambda", "mu",
    ];
    prop::collection::vec(
        (0usize..4, prop::collection::vec(0usize..12, 12..30), 0usize..40, 0usize..12),
        1..24,
    )
    .prop_map(move |specs| {
        let mut docs: Vec<String> = Vec::new();
        for (kind, ws, pick, word) in specs {
            let fresh = ws.iter().map(|&w| words[w]).collect::<Vec<_>>().join(" ");
            let doc = match kind {
                0 | 1 if !docs.is_empty() => {
                    let src = docs[pick % docs.len()].clone();
                    if kind == 0 { src } else { format!("{src} {}", words[word]) }
                }
                _ => fresh,
            };
            docs.push(doc);
        }
        docs
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Outputs do not depend on how the input is split or how many ranks run phase 2, and
    /// deduplicating the kept documents again removes nothing.
    #[test]
    fn split_and_rank_independent_and_idempotent(docs in corpus_strategy(), splits in 1usize..5, world in 1usize..4) {
        let config = small_config();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ra = dedup(a.path(), &docs, &config, 1, 1).unwrap();
        let rb = dedup(b.path(), &docs, &config, splits, world).unwrap();
        prop_assert_eq!(&ra, &rb);
        prop_assert_eq!(std::fs::read(remove_path(a.path())).unwrap(), std::fs::read(remove_path(b.path())).unwrap());
        prop_assert_eq!(ra.kept + ra.removed.total, docs.len() as u64);

        let remove = RemoveSet::open(a.path(), &config).unwrap();
        let kept: Vec<String> = docs.iter().enumerate().filter(|(i, _)| !remove.is_duplicate(*i as u64)).map(|(_, d)| d.clone()).collect();
        let c = tempfile::tempdir().unwrap();
        let rc = dedup(c.path(), &kept, &config, splits, 1).unwrap();
        prop_assert_eq!(rc.removed.total, 0);
    }
}

/// Phases 1-3 with band keys routed to `shards` key shards, phase 2 run shard by shard.
fn dedup_sharded(
    work: &Path,
    docs: &[String],
    config: &DedupConfig,
    splits: usize,
    shards: usize,
) -> Result<crate::DedupReport> {
    let per = docs.len().div_ceil(splits.max(1)).max(1);
    for (s, chunk) in docs.chunks(per).enumerate() {
        let mut w = SignatureWriter::create(work, s as u32, config)?;
        let mut keys = KeyShardWriter::create(work, s as u32, config, shards)?;
        for (i, text) in chunk.iter().enumerate() {
            let sig = w.signer().sign((s * per + i) as u64, text, Some(text.len() as f64));
            w.write(&sig)?;
            keys.write(&sig)?;
        }
        w.finish()?;
        keys.finish()?;
    }
    for p in Partition::all(config) {
        for shard in 0..shards {
            run_partition_shard(work, config, p, shard)?;
        }
    }
    run_phase3(work, config, None)
}

#[test]
fn phase_two_over_key_shards_finds_the_same_duplicates() {
    let mut docs = corpus();
    for i in 0..16 {
        docs.push(format!("{BASE} variant {} {}", i % 7, i % 3));
        docs.push(format!("document number {i} about something else entirely, with its own words"));
    }
    for shards in [1, 2, 5] {
        let (one, many) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let config = small_config();
        let expected = dedup(one.path(), &docs, &config, 3, 1).unwrap();
        let got = dedup_sharded(many.path(), &docs, &config, 3, shards).unwrap();
        assert_eq!(got, expected, "{shards} shards");
        assert_eq!(
            RemoveSet::open(many.path(), &config).unwrap().ids(),
            RemoveSet::open(one.path(), &config).unwrap().ids()
        );
    }
}
