//! Resumable runs: `kill -9` at any point, then the same command again, gives outputs
//! byte-identical to an uninterrupted run and redoes only the units that were not finished;
//! two runs never share a work dir (job arrays: see `scale_out.rs`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

const FILES: usize = 24;

/// The sample corpus cut into `FILES` plain JSONL files (about 200 documents each).
fn corpus(dir: &Path) -> String {
    split_sample(dir, FILES)
}

fn config(paths: &str, dedup: bool) -> String {
    let mut c = standard_config(&[paths.to_string()], "batch_docs = 16")
        .replace("path = \"out/shards\"", "path = \"out/shards\"\nshard_max_tokens = 40000");
    if dedup {
        c = c.replace("inputs = [\"length\"]", "inputs = [\"dedup\"]")
            + "\n[[stage]]\nname = \"dedup\"\ntype = \"minhash_dedup\"\ninputs = [\"length\"]\n";
    }
    c
}

/// Every output file (shards, manifest, rejects) by relative path.
fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let out = tree_bytes(dir, &["out/shards", "out/rejected"]);
    assert!(out.keys().any(|k| k.ends_with("manifest.json")), "{:?}", out.keys());
    out
}

fn reference(paths: &str, dedup: bool) -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config(paths, dedup)).expect("write");
    let (code, _, err) =
        outcome(&run_in(dir.path(), &["run", "p.toml", "-j", "1", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    let units = &stats(dir.path())["units"];
    assert_eq!(units["reused"], 0);
    assert!(!dir.path().join("out/work/ledger").exists(), "a complete run removes its ledger");
    let out = outputs(dir.path());
    (dir, out)
}

fn resume_and_compare(dir: &Path, expected: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
    let (code, _, err) = outcome(&run_in(dir, &["run", "p.toml", "-j", "1", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    let got = outputs(dir);
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (name, bytes) in expected {
        assert!(got[name] == *bytes, "{name} differs from the uninterrupted run's");
    }
    assert!(!dir.join("out/work/ledger").exists(), "the ledger is removed once the run completes");
    let stats = stats(dir);
    stats["units"].clone()
}

#[test]
fn kill_9_at_several_points_then_rerun_gives_identical_outputs() {
    let data = tempfile::tempdir().expect("tempdir");
    let paths = corpus(data.path());
    let (_ref_dir, expected) = reference(&paths, false);
    for at in [1, FILES / 3, FILES - 2] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("p.toml"), config(&paths, false)).expect("write");
        assert!(kill_after(dir.path(), "p0-", at), "the run finished before the kill at {at}");
        let finished = finished_units(dir.path(), "p0-");
        assert!(finished >= at);
        assert!(
            listing(&dir.path().join("out/shards")).iter().all(|n| n != "manifest.json"),
            "no manifest after a kill"
        );
        let units = resume_and_compare(dir.path(), &expected);
        // Only the units not finished before the kill are done again.
        assert_eq!(units["reused"].as_u64(), Some(finished as u64), "{units}");
        assert_eq!(units["processed"].as_u64(), Some((FILES - finished) as u64), "{units}");
    }
}

#[test]
fn a_run_killed_twice_and_in_its_second_pass_still_resumes_exactly() {
    let data = tempfile::tempdir().expect("tempdir");
    let paths = corpus(data.path());
    let (_ref_dir, expected) = reference(&paths, true);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config(&paths, true)).expect("write");
    // First kill in the first pass, second kill in the pass after the dedup barrier.
    assert!(kill_after(dir.path(), "p0-", FILES / 2));
    assert!(
        kill_after(dir.path(), "p1-", 1),
        "the resumed run finished before reaching its second pass"
    );
    let p0 = finished_units(dir.path(), "p0-");
    assert_eq!(p0, FILES, "the second run finished the first pass before the kill");
    let p1 = finished_units(dir.path(), "p1-");
    let units = resume_and_compare(dir.path(), &expected);
    assert_eq!(units["reused"].as_u64(), Some((p0 + p1) as u64), "{units}");
}

#[test]
fn a_second_run_on_the_same_work_dir_is_refused_and_a_stale_lock_is_taken_over() {
    let data = tempfile::tempdir().expect("tempdir");
    let paths = corpus(data.path());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config(&paths, false)).expect("write");
    // Hold the work dir's lock the way a running tokenmill does.
    std::fs::create_dir_all(dir.path().join("out/work")).expect("mkdir");
    let holder = r#"{"pid":4242,"host":"node-7","started":"2026-01-01T00:00:00Z","command":"tokenmill run p.toml"}"#;
    let lock_path = dir.path().join("out/work/tokenmill.lock");
    std::fs::write(&lock_path, holder).expect("write");
    let lock = std::fs::File::open(&lock_path).expect("open");
    lock.lock().expect("flock");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in use by a running tokenmill (pid 4242 on node-7"), "{err}");
    assert!(!dir.path().join("out/shards").exists(), "a refused run writes nothing");
    // The holder dies: the kernel drops its lock, the file stays. The next run takes over.
    drop(lock);
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "(pid 4242 on node-7, started 2026-01-01T00:00:00Z) stopped without finishing"
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&lock_path).expect("lock file"),
        "",
        "a finished run leaves the lock released"
    );
}

#[test]
fn a_changed_input_is_processed_again_and_restart_discards_the_ledger() {
    let data = tempfile::tempdir().expect("tempdir");
    let paths = corpus(data.path());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config(&paths, false)).expect("write");
    assert!(kill_after(dir.path(), "p0-", 4));
    let finished = finished_units(dir.path(), "p0-");
    // Change a finished unit's input: it must not be replayed.
    let first: PathBuf = data.path().join("in/part-00.jsonl");
    let mut text = std::fs::read_to_string(&first).expect("read");
    text.push_str(&doc_line("added", &"a new document that was not there before. ".repeat(5)));
    text.push('\n');
    std::fs::write(&first, text).expect("write");
    let (code, _, err) =
        outcome(&run_in(dir.path(), &["run", "p.toml", "-j", "1", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    let units = stats(dir.path())["units"].clone();
    assert_eq!(units["reused"].as_u64(), Some(finished as u64 - 1), "{units}");
    let (_ref_dir, expected) = reference(&paths, false);
    assert_eq!(outputs(dir.path()), expected);
    // --restart ignores a ledger.
    assert!(kill_after(dir.path(), "p0-", 4));
    let (code, _, err) =
        outcome(&run_in(dir.path(), &["run", "p.toml", "--restart", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(stats(dir.path())["units"]["reused"], 0);
    assert_eq!(outputs(dir.path()), expected);
}

#[test]
fn without_a_ledger_a_run_records_nothing_and_writes_the_same_outputs() {
    let data = tempfile::tempdir().expect("tempdir");
    let paths = corpus(data.path());
    let (_ref_dir, expected) = reference(&paths, false);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("p.toml"),
        config(&paths, false).replace("batch_docs = 16", "batch_docs = 16\nledger = false"),
    )
    .expect("write");
    assert!(
        !kill_after(dir.path(), "p0-", 1),
        "no unit is ever recorded, so the run is never killed"
    );
    assert!(!dir.path().join("out/work/ledger").exists());
    // The same files; the manifests differ only in the config hash (the config differs).
    let mut got = outputs(dir.path());
    let mut expected = expected;
    let manifests =
        (got.remove("out/shards/manifest.json"), expected.remove("out/shards/manifest.json"));
    assert!(got == expected, "outputs differ with the ledger off");
    let shards = |m: Option<Vec<u8>>| {
        serde_json::from_slice::<serde_json::Value>(&m.expect("manifest")).expect("json")["shards"]
            .clone()
    };
    assert_eq!(shards(manifests.0), shards(manifests.1));
}
