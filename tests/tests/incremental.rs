//! Incremental runs: `--incremental` processes only new inputs, deduplicates them against the
//! persistent index of earlier runs, and appends shards plus an updated manifest without
//! touching old shards; the result equals one full run over everything.

mod common;

use std::path::Path;

use common::*;

/// The sample corpus cut into 16 files.
fn parts() -> Vec<String> {
    let mut lines = Vec::new();
    for name in ["sample-00.jsonl.zst", "sample-01.jsonl.zst"] {
        let bytes = zstd::decode_all(
            std::fs::File::open(root().join("data/sample").join(name)).expect("sample"),
        )
        .expect("zstd");
        lines.extend(String::from_utf8(bytes).expect("utf8").lines().map(str::to_string));
    }
    lines.chunks(lines.len().div_ceil(16)).map(|c| c.join("\n") + "\n").collect()
}

fn config(dir: &Path) -> String {
    standard_config(&[format!("{}/in/", dir.display())], "")
        .replace("path = \"out/shards\"", "path = \"out/shards\"\nshard_max_tokens = 60000")
        .replace("inputs = [\"length\"]\ntokenizer", "inputs = [\"dedup\"]\ntokenizer")
        + "\n[[stage]]\nname = \"dedup\"\ntype = \"exact_dedup\"\ninputs = [\"length\"]\nindex = \"out/index\"\n"
}

/// All tokens of a dataset, shard after shard.
fn token_stream(shards: &Path) -> Vec<u8> {
    let manifest = tokenmill_shards::Manifest::read(shards).expect("manifest");
    manifest
        .shards
        .iter()
        .flat_map(|s| std::fs::read(shards.join(format!("{}.bin", s.name))).expect("bin"))
        .collect()
}

fn run(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", "p.toml", "--progress", "off"];
    args.extend_from_slice(extra);
    let (code, _, err) = outcome(&run_in(dir, &args));
    assert_eq!(code, 0, "{err}");
    stats(dir)
}

#[test]
fn arrivals_appended_incrementally_equal_one_full_run() {
    let parts = parts();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
    std::fs::write(dir.path().join("p.toml"), config(dir.path())).expect("write");
    let put = |name: &str, text: &str| {
        std::fs::write(dir.path().join("in").join(name), text).expect("write")
    };

    // First arrival.
    for (i, p) in parts.iter().enumerate().take(8) {
        put(&format!("part-{i:02}.jsonl"), p);
    }
    let first = run(dir.path(), &["--incremental"]);
    assert_eq!(first["input_files"], 8);
    let shards = dir.path().join("out/shards");
    let m1 = tokenmill_shards::Manifest::read(&shards).expect("manifest");
    assert!(m1.shards.len() >= 2, "the first arrival should fill several shards");
    let old: Vec<(String, Vec<u8>, std::time::SystemTime)> = listing(&shards)
        .into_iter()
        .filter(|n| n.ends_with(".bin") || n.ends_with(".idx"))
        .map(|n| {
            let p = shards.join(&n);
            (
                n,
                std::fs::read(&p).expect("read"),
                std::fs::metadata(&p).expect("meta").modified().expect("mtime"),
            )
        })
        .collect();

    // Second arrival: the rest, plus a file repeating documents of the first arrival.
    for (i, p) in parts.iter().enumerate().skip(8) {
        put(&format!("part-{i:02}.jsonl"), p);
    }
    put("part-99-repeat.jsonl", &parts[3]);
    let second = run(dir.path(), &["--incremental", "--metrics", "out/metrics.prom"]);
    assert_eq!(second["input_files"], 9, "only the new files are read");
    assert_eq!(second["seen_inputs_skipped"], 8);
    // Every repeated document that passes the length filter (20 characters) was in the output.
    let repeated = parts[3]
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["text"]
                .as_str()
                .expect("text")
                .chars()
                .count()
                >= 20
        })
        .count() as u64;
    let dropped = node(&second, "dedup")["dropped"]["duplicate"].as_u64().unwrap_or(0);
    // (The corpus has a few exact duplicates of its own, hence at least.)
    assert!(
        dropped >= repeated,
        "documents seen by the first run are dropped as duplicates: {dropped} < {repeated}"
    );

    // Old shards untouched; the manifest lists old and new.
    for (name, bytes, mtime) in &old {
        let p = shards.join(name);
        assert_eq!(&std::fs::read(&p).expect("read"), bytes, "{name} was rewritten");
        assert_eq!(
            std::fs::metadata(&p).expect("meta").modified().expect("mtime"),
            *mtime,
            "{name} was touched"
        );
    }
    let m2 = tokenmill_shards::Manifest::read(&shards).expect("manifest");
    assert_eq!(m2.shards[..m1.shards.len()], m1.shards[..]);
    assert!(m2.shards.len() > m1.shards.len());
    assert_eq!(m2.documents, m2.shards.iter().map(|s| s.documents).sum::<u64>());
    let (code, out, err) = outcome(&run_in(dir.path(), &["verify", "out/shards"]));
    assert_eq!(code, 0, "{out}{err}");

    // A full run over the same files gives the same documents, in the same order.
    let full = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        full.path().join("p.toml"),
        config(dir.path()).replace("out/", &format!("{}/out/", full.path().display())),
    )
    .expect("write");
    run(full.path(), &[]);
    let full_manifest =
        tokenmill_shards::Manifest::read(&full.path().join("out/shards")).expect("manifest");
    assert_eq!((m2.documents, m2.tokens), (full_manifest.documents, full_manifest.tokens));
    assert!(
        token_stream(&shards) == token_stream(&full.path().join("out/shards")),
        "incremental and full token streams differ"
    );

    // Nothing new: nothing is read, nothing changes.
    let before = std::fs::read(shards.join("manifest.json")).expect("manifest");
    let third = run(dir.path(), &["--incremental"]);
    assert_eq!(third["input_files"], 0);
    assert_eq!(third["seen_inputs_skipped"], 17);
    assert_eq!(tokenmill_shards::Manifest::read(&shards).expect("manifest").shards, m2.shards);
    assert_eq!(std::fs::read(shards.join("manifest.json")).expect("manifest").len(), before.len());

    // A changed file is new input again.
    put(
        "part-00.jsonl",
        &(parts[0].clone()
            + &doc_line("late", &"a late correction to the first file. ".repeat(4))
            + "\n"),
    );
    let fourth = run(dir.path(), &["--incremental"]);
    assert_eq!(fourth["input_files"], 1);
    assert_eq!(
        node(&fourth, "shards")["docs_in"],
        1,
        "only the new document survives dedup against the index"
    );

    let metrics = std::fs::read_to_string(dir.path().join("out/metrics.prom")).expect("metrics");
    assert!(metrics.contains("tokenmill_run_status{status=\"complete\"} 1"), "{metrics}");
    assert!(
        metrics.contains("tokenmill_documents_dropped{node=\"dedup\",rule=\"duplicate\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("tokenmill_seen_inputs_skipped 8"), "{metrics}");
}

#[test]
fn appending_with_another_tokenizer_is_refused_and_changes_nothing() {
    let parts = parts();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
    std::fs::write(dir.path().join("in/a.jsonl"), &parts[0]).expect("write");
    std::fs::write(dir.path().join("p.toml"), config(dir.path())).expect("write");
    run(dir.path(), &["--incremental"]);
    let before = std::fs::read(dir.path().join("out/shards/manifest.json")).expect("manifest");
    std::fs::write(dir.path().join("in/b.jsonl"), &parts[1]).expect("write");
    let other = root().join("tests/fixtures/tokenizers/gpt2.json");
    let text = config(dir.path())
        .replace(&tokenizer_path().display().to_string(), &other.display().to_string());
    std::fs::write(dir.path().join("p.toml"), text).expect("write");
    let (code, _, err) =
        outcome(&run_in(dir.path(), &["run", "p.toml", "--incremental", "--progress", "off"]));
    assert_ne!(code, 0);
    assert!(err.contains("cannot append to") && err.contains("tokenized differently"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("out/shards/manifest.json")).expect("manifest"),
        before
    );
}

/// Repeat runs load the tokenizer from its cached binary form (what keeps a small incremental
/// run's start-up short) and write the same shards as without the cache.
#[test]
fn tokenizer_cache_is_written_once_and_changes_nothing() {
    let parts = parts();
    let cache = tempfile::tempdir().expect("tempdir");
    let mut streams = Vec::new();
    let mut mtime = None;
    for cache_dir in
        ["off".to_string(), cache.path().display().to_string(), cache.path().display().to_string()]
    {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
        std::fs::write(dir.path().join("in/part.jsonl"), parts[..4].concat()).expect("write");
        std::fs::write(dir.path().join("p.toml"), config(dir.path())).expect("write");
        let out = tokenmill()
            .current_dir(dir.path())
            .env("TOKENMILL_CACHE_DIR", &cache_dir)
            .args(["run", "p.toml", "--progress", "off"])
            .output();
        let (code, _, err) = outcome(&out.expect("runs"));
        assert_eq!(code, 0, "{err}");
        streams.push(token_stream(&dir.path().join("out/shards")));
        if cache_dir == "off" {
            assert!(listing(cache.path()).is_empty(), "TOKENMILL_CACHE_DIR=off writes nothing");
            continue;
        }
        // The first cached run writes one file (under `tokenizers/`); the second reads it.
        let files = listing(&cache.path().join("tokenizers"));
        assert_eq!(files.len(), 1, "{files:?}");
        let m = std::fs::metadata(cache.path().join("tokenizers").join(&files[0]))
            .expect("meta")
            .modified()
            .expect("mtime");
        assert!(mtime.is_none_or(|t| t == m), "the second run rewrote the cache");
        mtime = Some(m);
    }
    assert!(!streams[0].is_empty());
    assert!(streams.iter().all(|s| *s == streams[0]), "the cache changed the shards");
}
