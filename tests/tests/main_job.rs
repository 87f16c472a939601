//! The README's quickstart (examples/quickstart.toml): the whole job on the sample corpus —
//! cleaning, language id, FineWeb-2's repetition and quality rules, PII, boilerplate lines, near duplicates,
//! tokens, verified Megatron shards and the run report.

mod common;

use common::*;

#[test]
fn the_quickstart_runs_the_whole_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root().join("examples/quickstart.toml"), dir.path().join("quickstart.toml"))
        .expect("copy config");
    for linked in ["data", "tokenizers", "models"] {
        std::os::unix::fs::symlink(root().join(linked), dir.path().join(linked)).expect("link");
    }
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "quickstart.toml", "--progress", "off"]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    // The summary names the outputs and the report.
    assert!(stdout.contains("run complete"), "{stdout}");
    assert!(stdout.contains("out/shards"), "{stdout}");
    assert!(stdout.contains("report: out/work/report.html"), "{stdout}");
    assert!(dir.path().join("out/work/report.html").exists());

    let stats = stats(dir.path());
    assert_eq!(stats["status"], "complete");
    let stages =
        ["normalize", "language", "repetition", "fineweb", "pii", "boilerplate", "dedup", "tokens"];
    let mut dropped_total = 0;
    for name in stages {
        dropped_total += checked_drops(node(&stats, name));
    }
    // Every stage did its work on the sample: language id, the quality rules, PII redaction,
    // boilerplate lines.
    for (name, counter) in
        [("language", "dropped"), ("repetition", "dropped"), ("fineweb", "dropped")]
    {
        assert!(!node(&stats, name)[counter].as_object().expect(counter).is_empty(), "{name}");
    }
    assert!(node(&stats, "pii")["transformed"]["emails"].as_u64().unwrap_or(0) > 0);
    assert!(node(&stats, "boilerplate")["transformed"]["lines_removed"].as_u64().unwrap_or(0) > 0);
    let sample = node(&stats, "sample")["docs_out"].as_u64().expect("read");
    let kept = node(&stats, "tokens")["docs_out"].as_u64().expect("kept");
    assert_eq!(sample, kept + dropped_total, "every document is kept or dropped once");
    assert!(kept > 1000, "the job keeps a dataset: {kept}");

    // Every drop is written with its reason; the shards verify and hold the kept documents.
    let rejects = read_parts(&dir.path().join("out/rejected"));
    assert_eq!(rejects.len() as u64, dropped_total);
    assert!(rejects.iter().all(|r| r["drop_reason"].as_str().is_some_and(|s| s.contains(':'))));
    let shards =
        tokenmill_shards::read_dataset_tokens(&dir.path().join("out/shards")).expect("shards");
    assert_eq!(shards.len() as u64, kept);
    let (code, stdout, _) = outcome(&run_in(dir.path(), &["verify", "out/shards"]));
    assert_eq!(code, 0, "{stdout}");
}
