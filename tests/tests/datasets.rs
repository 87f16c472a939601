//! Shard datasets after the run: global shuffle (sink option and command), merge, export.

mod common;

use common::*;

fn sorted(mut docs: Vec<Vec<u32>>) -> Vec<Vec<u32>> {
    docs.sort();
    docs
}

#[test]
fn shuffle_sink_option_merge_and_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = vec![root().join("data/sample/*.jsonl.zst").display().to_string()];
    let plain = standard_config(&paths, "");
    let shuffled = plain
        .replace("path = \"out/shards\"", "path = \"out/shuffled\"\nshuffle_seed = 7\nshuffle_memory = \"1MiB\"\nshard_max_tokens = 400000")
        .replace("path = \"out/rejected\"", "path = \"out/rejected2\"");
    std::fs::write(dir.path().join("plain.toml"), plain).expect("write");
    std::fs::write(dir.path().join("shuffled.toml"), shuffled).expect("write");
    for cfg in ["plain.toml", "shuffled.toml"] {
        let (code, out, err) = outcome(&run_in(dir.path(), &["run", cfg, "--progress", "off"]));
        assert_eq!(code, 0, "{out}{err}");
    }
    let a = tokenmill_shards::read_dataset_tokens(&dir.path().join("out/shards")).expect("plain");
    let b =
        tokenmill_shards::read_dataset_tokens(&dir.path().join("out/shuffled")).expect("shuffled");
    assert_ne!(a, b, "order changed");
    assert_eq!(sorted(a.clone()), sorted(b.clone()), "same documents");
    assert!(
        listing(&dir.path().join("out/shuffled")).iter().filter(|n| n.ends_with(".bin")).count()
            >= 3
    );
    assert!(!dir.path().join("out/work/unshuffled").join("shards").exists());
    let (code, out, _) = outcome(&run_in(dir.path(), &["verify", "out/shuffled"]));
    assert_eq!(code, 0, "{out}");

    // The command gives the same permutation for the same seed, whatever the memory.
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &["shuffle", "out/shards", "out/cmd", "--seed", "7", "--memory", "64KiB"],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let c = tokenmill_shards::read_dataset_tokens(&dir.path().join("out/cmd")).expect("cmd");
    assert_eq!(b, c);

    // Merge: documents of both inputs, in order.
    let (code, out, err) =
        outcome(&run_in(dir.path(), &["merge", "out/shards", "out/cmd", "-o", "out/merged"]));
    assert_eq!(code, 0, "{out}{err}");
    let m = tokenmill_shards::read_dataset_tokens(&dir.path().join("out/merged")).expect("merged");
    assert_eq!(m, [a.clone(), c].concat());

    // Export to llm.c's flat format: the tokens back to back.
    let (code, out, err) = outcome(&run_in(dir.path(), &["export", "out/shards", "out/flat.bin"]));
    assert_eq!(code, 0, "{out}{err}");
    let (_, flat) = tokenmill_shards::read_flat(&dir.path().join("out/flat.bin")).expect("flat");
    assert_eq!(flat, a.concat());

    // The same file straight from the pipeline, as an `llmc` sink beside the megatron one.
    let both = std::fs::read_to_string(dir.path().join("plain.toml")).expect("config")
        + "\n[[sink]]\nname = \"flat\"\ntype = \"llmc\"\ninputs = [\"tokens\"]\npath = \"out/llmc\"\n";
    std::fs::write(dir.path().join("both.toml"), both).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "both.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let (_, direct) =
        tokenmill_shards::read_flat(&dir.path().join("out/llmc/train.bin")).expect("llmc sink");
    assert_eq!(direct, flat);
}
