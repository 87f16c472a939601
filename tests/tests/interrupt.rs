//! Ctrl-C: the run stops cleanly, exits 130, and leaves no shard or manifest that looks
//! complete, nor temporary files.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;

#[test]
fn sigint_stops_cleanly_without_complete_looking_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
    // Enough text that the run is still busy when interrupted (about 40 MB of documents).
    for f in 0..8 {
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&doc_line(
                &format!("d{f}-{i}"),
                &format!(
                    "document {i} of file {f}: {}",
                    "several plain words repeated here ".repeat(15)
                ),
            ));
            text.push('\n');
        }
        write_zst(&dir.path().join(format!("in/part{f}.jsonl.zst")), text.as_bytes());
    }
    let config =
        standard_config(&[format!("{}/in/*.jsonl.zst", dir.path().display())], "batch_docs = 256")
            .replace("path = \"out/shards\"", "path = \"out/shards\"\nshard_max_tokens = 50000");
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let mut child = tokenmill()
        .current_dir(dir.path())
        .args(["run", "p.toml", "--progress", "jsonl", "-j", "2"])
        .env("TOKENMILL_PROGRESS_INTERVAL_MS", "50")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    // Wait until a shard has been committed (its `.idx` is in place: progress lines come while
    // the run goes, and the first may come before the first shard is full), then interrupt.
    let mut seen = Vec::new();
    let committed = |dir: &std::path::Path| {
        listing(&dir.join("out/shards")).iter().any(|n| n.ends_with(".idx"))
    };
    for line in lines.by_ref() {
        let line = line.expect("line");
        seen.push(line.clone());
        if line.contains("\"event\":\"progress\"") && committed(dir.path()) {
            break;
        }
    }
    let shards_before =
        listing(&dir.path().join("out/shards")).into_iter().filter(|n| n.ends_with(".idx")).count();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let code = child.wait().expect("wait").code();
    assert_eq!(code, Some(130), "{seen:?}\n{rest:?}");
    assert!(
        shards_before >= 1,
        "the interrupt should come after some shards were committed: {seen:?}"
    );
    let left = listing(&dir.path().join("out/shards"));
    assert!(!left.iter().any(|n| n == "manifest.json"), "{left:?}");
    assert!(
        !left.iter().any(|n| n.ends_with(".tmp") || n.ends_with(".idx") || n.ends_with(".bin")),
        "{left:?}"
    );
    let stats = stats(dir.path());
    assert_eq!(stats["status"], "interrupted");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
}
