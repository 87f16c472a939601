//! One worker and many workers give byte-identical shards.

mod common;

use common::*;

fn run_with_threads(threads: &str) -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = vec![root().join("data/sample/*.jsonl.zst").display().to_string()];
    // Small batches and shards: many chunks in flight, several shards to roll over.
    let config = standard_config(&paths, "batch_docs = 37\nbatch_bytes = \"64KiB\"")
        .replace("path = \"out/shards\"", "path = \"out/shards\"\nshard_max_tokens = 300000");
    std::fs::write(dir.path().join("p.toml"), config).expect("write config");
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "p.toml", "-j", threads, "--progress", "off"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let shard_dir = dir.path().join("out/shards");
    let files = listing(&shard_dir)
        .into_iter()
        .filter(|n| n.ends_with(".bin") || n.ends_with(".idx"))
        .map(|n| {
            let bytes = std::fs::read(shard_dir.join(&n)).expect("read");
            (n, bytes)
        })
        .collect();
    (dir, files)
}

#[test]
fn one_and_four_threads_write_identical_shards() {
    let (_a, one) = run_with_threads("1");
    let (_b, four) = run_with_threads("4");
    assert!(one.len() >= 6, "expected several shards, got {}", one.len());
    assert_eq!(one.len(), four.len());
    for ((na, a), (nb, b)) in one.iter().zip(&four) {
        assert_eq!(na, nb);
        assert!(a == b, "{na} differs between 1 and 4 threads");
    }
}
