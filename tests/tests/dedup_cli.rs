//! `tokenmill dedup`: the single-machine run, the same phases spread over three ranks, errors
//! on damaged artifacts or disagreeing flags, and incremental runs with a persistent index.
//! Input: the near-duplicate fixture (4,000 documents, 2,000 originals each with one edited
//! copy), cut into three files so that phases see several splits.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Output;

use common::{outcome, read_parts, root, tokenmill, write_zst};
use serde_json::Value;

/// Runs `tokenmill dedup ARGS...` in `dir`, with no scheduler variables to pick ranks from.
fn dedup(dir: &Path, args: &[&str]) -> Output {
    let mut c = tokenmill();
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
    ] {
        c.env_remove(var);
    }
    c.current_dir(dir).arg("dedup").args(args).output().expect("tokenmill runs")
}

/// Runs and checks it succeeded; returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = outcome(&dedup(dir, args));
    assert_eq!(code, 0, "tokenmill dedup {}\nstdout:\n{out}\nstderr:\n{err}", args.join(" "));
    out
}

/// The fixture's lines, cut into `in/docs-{0,1,2}.jsonl.zst` under `dir`.
fn split_fixture(dir: &Path) -> Vec<String> {
    let bytes = zstd::decode_all(
        std::fs::File::open(root().join("tests/fixtures/neardup/docs.jsonl.zst")).expect("fixture"),
    )
    .expect("zstd");
    let lines: Vec<String> =
        String::from_utf8(bytes).expect("utf8").lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4000);
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    for (i, chunk) in lines.chunks(1334).enumerate() {
        write_zst(
            &dir.join(format!("in/docs-{i}.jsonl.zst")),
            (chunk.join("\n") + "\n").as_bytes(),
        );
    }
    lines
}

/// Where the dedup stage of a work dir run as `world` ranks keeps its artifacts (signatures,
/// edges, clusters).
fn dedup_dir(world: usize) -> String {
    format!("barriers/dedup/w{world}/dedup")
}

/// The report of a work dir run as one process (`dedup run`).
fn report(dir: &Path, work: &str) -> Value {
    report_of(dir, work, 1)
}

fn report_of(dir: &Path, work: &str, world: usize) -> Value {
    let path = dir.join(work).join(dedup_dir(world)).join("clusters/report.json");
    serde_json::from_slice(&std::fs::read(path).expect("report.json")).expect("json")
}

fn texts(docs: &[Value]) -> HashSet<String> {
    docs.iter().map(|d| d["text"].as_str().expect("text").to_string()).collect()
}

#[test]
fn single_run_and_three_ranks_agree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    split_fixture(dir);

    // (a) Everything in one process.
    let out = ok(dir, &["run", "in", "--work-dir", "w1", "--output", "out1", "--memory", "1MiB"]);
    assert!(out.contains("dedup: 4000 documents"), "{out}");
    let r1 = report(dir, "w1");
    let removed = r1["removed"]["total"].as_u64().expect("total");
    assert!((1100..=1250).contains(&removed), "removed {removed}: {r1}");
    assert_eq!(r1["kept"].as_u64(), Some(4000 - removed));
    let fuzzy_exact =
        r1["removed"]["exact"].as_u64().unwrap_or(0) + r1["removed"]["fuzzy"].as_u64().unwrap_or(0);
    assert_eq!(fuzzy_exact, removed);
    let kept1 = read_parts(&dir.join("out1"));
    assert_eq!(kept1.len() as u64, 4000 - removed);

    // (b) The same phases as separate processes, three ranks each, with rejects.
    let ranked = |phase: &[&str]| {
        for rank in ["0", "1", "2"] {
            let rank = ["--work-dir", "w2", "--rank", rank, "--world-size", "3"];
            ok(dir, &[phase, &rank[..]].concat());
        }
    };
    ranked(&["signatures", "in"]);
    ranked(&["buckets", "--memory", "64KiB"]);
    let out = ok(dir, &["cluster", "--work-dir", "w2", "--dump-clusters"]);
    assert!(out.contains("cluster size"), "the histogram is printed: {out}");
    ranked(&["filter", "in", "--output", "out2", "--rejects", "rej2"]);
    assert_eq!(report(dir, "w1"), report_of(dir, "w2", 3), "reports differ");
    // Each rank wrote its own files; in name order they are the same documents, in order.
    let kept2 = read_parts(&dir.join("out2"));
    assert_eq!(kept1, kept2, "the kept documents differ");
    assert!(std::fs::read_dir(dir.join("out2")).expect("out2").count() >= 3, "one file per rank");
    let rejected = read_parts(&dir.join("rej2"));
    assert_eq!(rejected.len() as u64, removed);
    assert!(rejected.iter().all(|d| d["drop_reason"] == "dedup:duplicate"));
    let ids: HashSet<&str> =
        kept1.iter().chain(&rejected).map(|d| d["id"].as_str().expect("id")).collect();
    assert_eq!(ids.len(), 4000, "every document is kept or rejected, once");
    let dump = dir.join("w2").join(dedup_dir(3)).join("clusters/clusters.jsonl");
    let clusters = std::fs::read_to_string(dump).expect("cluster dump");
    let first: Value =
        serde_json::from_str(clusters.lines().next().expect("a cluster")).expect("json");
    let members = first["members"].as_array().expect("members");
    assert!(
        members.iter().all(|m| ids.contains(m.as_str().expect("id"))),
        "clusters name their members by document id: {first}"
    );
    assert_eq!(clusters.lines().count() as u64, r1["clusters"].as_u64().expect("clusters"));

    // Rerunning a phase keeps finished work: the task's completion marker stands.
    let marker = dir.join("w2/steps/w3/dedup-buckets/task-00001.json");
    let before = std::fs::read(&marker).expect("marker");
    let (code, _, err) =
        outcome(&dedup(dir, &["buckets", "--work-dir", "w2", "--rank", "1", "--world-size", "3"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already complete"), "{err}");
    assert_eq!(std::fs::read(&marker).expect("marker"), before);
}

#[test]
fn phases_refuse_disagreeing_flags_missing_ranks_and_damaged_artifacts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    split_fixture(dir);
    // A later phase refuses to start before every rank of the one before it finished.
    ok(dir, &["signatures", "in", "--work-dir", "w", "--rank", "0", "--world-size", "2"]);
    let (code, _, err) =
        outcome(&dedup(dir, &["buckets", "--work-dir", "w", "--rank", "0", "--world-size", "2"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("task 1 has no completion marker"), "{err}");
    ok(dir, &["signatures", "in", "--work-dir", "w", "--rank", "1", "--world-size", "2"]);

    // Flags that disagree with the work dir.
    let (code, _, err) =
        outcome(&dedup(dir, &["cluster", "--work-dir", "w", "--threshold", "0.5"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("threshold") && err.contains("dedup-config.json"), "{err}");
    let (code, _, err) = outcome(&dedup(
        dir,
        &[
            "filter",
            "in/docs-0.jsonl.zst",
            "--work-dir",
            "w",
            "--output",
            "o",
            "--rank",
            "0",
            "--world-size",
            "2",
        ],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("inputs"), "{err}");
    let (code, _, err) =
        outcome(&dedup(dir, &["buckets", "--work-dir", "w", "--rank", "0", "--world-size", "3"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("world size") && err.contains("dedup-config.json"), "{err}");

    let (code, _, err) = outcome(&dedup(dir, &["cluster", "--work-dir", "w", "--keep", "longest"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("keep"), "{err}");

    // A damaged signature file.
    let sig = dir.join("w").join(dedup_dir(2)).join("signatures/split_00001.sig");
    let bytes = std::fs::read(&sig).expect("signatures");
    std::fs::write(&sig, &bytes[..bytes.len() - 100]).expect("truncate");
    let (code, _, err) =
        outcome(&dedup(dir, &["buckets", "--work-dir", "w", "--rank", "1", "--world-size", "2"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("split_00001.sig") && err.contains("truncated"), "{err}");
}

#[test]
fn an_index_drops_what_earlier_runs_saw() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let lines = split_fixture(dir);

    // Run 1: file 0 alone.
    ok(
        dir,
        &["run", "in/docs-0.jsonl.zst", "--work-dir", "wa", "--output", "oa", "--index", "idx"],
    );
    assert_eq!(report(dir, "wa")["removed"]["index"].as_u64(), Some(0));
    let kept_a = read_parts(&dir.join("oa"));

    // Run 2: file 1, plus copies (new ids) of 50 documents run 1 kept.
    let mut b: Vec<String> = kept_a[..50]
        .iter()
        .map(|d| serde_json::json!({ "id": format!("copy-{}", d["id"].as_str().unwrap_or("")), "text": d["text"] }).to_string())
        .collect();
    b.extend_from_slice(&lines[1334..2668]);
    std::fs::create_dir_all(dir.join("b")).expect("mkdir");
    write_zst(&dir.join("b/docs.jsonl.zst"), (b.join("\n") + "\n").as_bytes());
    ok(dir, &["run", "b", "--work-dir", "wb", "--output", "ob", "--index", "idx"]);
    let rb = report(dir, "wb");
    assert!(rb["removed"]["index"].as_u64().unwrap_or(0) >= 50, "{rb}");
    let kept_b = read_parts(&dir.join("ob"));
    assert!(
        kept_b.iter().all(|d| !d["id"].as_str().unwrap_or("").starts_with("copy-")),
        "copies survived"
    );
    let run1: Vec<Value> =
        lines[..1334].iter().map(|l| serde_json::from_str(l).expect("json")).collect();
    let seen = texts(&run1);
    assert!(texts(&kept_b).is_disjoint(&seen), "a text of run 1 was kept again");

    // Without the index, run 2 keeps the copies.
    ok(dir, &["run", "b", "--work-dir", "wc", "--output", "oc"]);
    let kept_c = read_parts(&dir.join("oc"));
    assert_eq!(
        kept_c.iter().filter(|d| d["id"].as_str().unwrap_or("").starts_with("copy-")).count(),
        50
    );

    // Clustering run 2 again (a resumed run) reuses its clusters rather than finding all of
    // run 2 in the index it was folded into.
    ok(dir, &["cluster", "--work-dir", "wb", "--index", "idx"]);
    assert_eq!(report(dir, "wb"), rb);
}
