//! Line dedup (`line_dedup`) as a barrier stage: lines repeated across documents are removed
//! from every document, unique lines stay, documents left empty are dropped; the output is
//! the same at any thread count and after `kill -9` and a rerun.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

const DOCS: usize = 600;
const FILES: usize = 3;

/// A number spelled with letters, so that normalization (digits to 0) keeps lines distinct.
fn letters(i: usize) -> String {
    i.to_string().bytes().map(|b| char::from(b'a' + (b - b'0'))).collect()
}

/// One synthetic document: its lines, each marked boilerplate or not.
fn document(i: usize) -> Vec<(String, bool)> {
    if i % 50 == 7 {
        // Nothing but boilerplate: dropped once it is removed.
        return vec![
            ("Subscribe to our newsletter for weekly updates!".into(), true),
            (String::new(), false),
        ];
    }
    let mut lines = Vec::new();
    // The same line in every document, in varying case and punctuation.
    let subscribe = if i.is_multiple_of(2) {
        "Subscribe to our newsletter for weekly updates!"
    } else {
        "SUBSCRIBE to our newsletter, for weekly updates"
    };
    if !i.is_multiple_of(3) {
        lines.push((subscribe.to_string(), true));
    }
    lines.push((format!("This body line is about topic {} and nothing else.", letters(i)), false));
    // Shorter than `min_length`: repeated everywhere but never counted.
    lines.push(("Share this".into(), false));
    if i % 10 == 3 {
        // Repeated within one document only: counted once, kept (both copies).
        let line = format!("A point worth making twice, point {}.", letters(i));
        lines.push((line.clone(), false));
        lines.push((line, false));
    }
    if (110..130).contains(&i) {
        // Shared by exactly two documents: more than `max_occurrences = 1`, removed from both.
        lines.push((
            format!("Quoted in both halves of pair {} of the corpus.", letters(i / 2)),
            true,
        ));
    }
    if i.is_multiple_of(4) {
        // Digits are normalized: every year is the same line.
        lines.push((
            format!("Copyright {} Example Media. All rights reserved.", 1990 + i % 30),
            true,
        ));
    }
    lines
}

fn text(lines: &[(String, bool)]) -> String {
    lines.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join("\n")
}

fn expected(lines: &[(String, bool)]) -> String {
    lines.iter().filter(|(_, b)| !b).map(|(l, _)| l.as_str()).collect::<Vec<_>>().join("\n")
}

fn write_corpus(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    for f in 0..FILES {
        let part: Vec<String> = (f * DOCS / FILES..(f + 1) * DOCS / FILES)
            .map(|i| doc_line(&format!("d{i:04}"), &text(&document(i))))
            .collect();
        std::fs::write(dir.join(format!("in/part-{f}.jsonl")), part.join("\n") + "\n")
            .expect("write");
    }
    format!("{}/in/*.jsonl", dir.display())
}

fn config(paths: &str) -> String {
    format!(
        r#"version = 1
[run]
work_dir = "out/work"
batch_docs = 50

[[source]]
name = "docs"
type = "jsonl"
paths = [{paths:?}]
id_field = "id"

[[stage]]
name = "lines"
type = "line_dedup"
inputs = ["docs"]
min_length = 20

[[sink]]
name = "kept"
type = "jsonl"
inputs = ["lines"]
path = "out/kept"

[[sink]]
name = "empty"
type = "jsonl"
inputs = ["lines.rejected"]
path = "out/empty"
"#
    )
}

fn run(dir: &Path, threads: &str) -> BTreeMap<String, Vec<u8>> {
    let (code, out, err) =
        outcome(&run_in(dir, &["run", "p.toml", "-j", threads, "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    tree_bytes(dir, &["out/kept", "out/empty"])
}

#[test]
fn boilerplate_lines_are_removed_everywhere_and_unique_lines_stay() {
    let data = tempfile::tempdir().expect("tempdir");
    let paths = write_corpus(data.path());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config(&paths)).expect("write");
    let bytes2 = run(dir.path(), "2");

    let docs: Vec<Vec<(String, bool)>> = (0..DOCS).map(document).collect();
    let empty: Vec<usize> = (0..DOCS).filter(|i| i % 50 == 7).collect();
    let kept = read_parts(&dir.path().join("out/kept"));
    let want: Vec<(String, String)> = (0..DOCS)
        .filter(|i| !empty.contains(i))
        .map(|i| (format!("d{i:04}"), expected(&docs[i])))
        .collect();
    let got: Vec<(String, String)> = kept
        .iter()
        .map(|d| {
            (
                d["id"].as_str().expect("id").to_string(),
                d["text"].as_str().expect("text").to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "kept documents, in input order, without their boilerplate lines");
    }
    assert!(
        kept.iter().all(|d| d.as_object().expect("object").keys().all(|k| !k.starts_with("__"))),
        "no bookkeeping leaks"
    );
    let dropped = read_parts(&dir.path().join("out/empty"));
    assert_eq!(dropped.len(), empty.len());
    assert!(
        dropped.iter().all(|d| d["drop_reason"] == "lines:empty_after_line_dedup"),
        "{:?}",
        dropped[0]
    );

    // Counters: in = out + dropped, and the bytes removed account for the difference.
    let stats = stats(dir.path());
    let n = node(&stats, "lines");
    let kept_docs: Vec<&Vec<(String, bool)>> =
        docs.iter().enumerate().filter(|(i, _)| !empty.contains(i)).map(|(_, d)| d).collect();
    let lines_removed: usize = kept_docs.iter().map(|d| d.iter().filter(|(_, b)| *b).count()).sum();
    let bytes_removed: usize = kept_docs.iter().map(|d| text(d).len() - expected(d).len()).sum();
    let changed = kept_docs.iter().filter(|d| d.iter().any(|(_, b)| *b)).count();
    let dropped_bytes: usize = empty.iter().map(|&i| text(&docs[i]).len()).sum();
    assert_eq!(n["docs_in"].as_u64(), Some(DOCS as u64));
    assert_eq!(n["docs_out"].as_u64(), Some(want.len() as u64));
    assert_eq!(n["dropped"]["empty_after_line_dedup"].as_u64(), Some(empty.len() as u64));
    assert_eq!(n["transformed"]["lines_removed"].as_u64(), Some(lines_removed as u64));
    assert_eq!(n["transformed"]["bytes_removed"].as_u64(), Some(bytes_removed as u64));
    assert_eq!(n["transformed"]["documents_changed"].as_u64(), Some(changed as u64));
    let (bytes_in, bytes_out) =
        (n["bytes_in"].as_u64().expect("in"), n["bytes_out"].as_u64().expect("out"));
    assert_eq!(bytes_in, bytes_out + (bytes_removed + dropped_bytes) as u64);
    // Boilerplate: the newsletter line, the copyright line, ten pair lines. Distinct units:
    // those, every body line and every twice-made point.
    let points = (0..DOCS).filter(|i| i % 10 == 3 && i % 50 != 7).count();
    assert_eq!(n["report"]["boilerplate"].as_u64(), Some(12));
    assert_eq!(n["report"]["units"].as_u64(), Some((12 + want.len() + points) as u64));

    // Byte-identical output with one thread.
    let dir1 = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir1.path().join("p.toml"), config(&paths)).expect("write");
    assert!(run(dir1.path(), "1") == bytes2, "1 thread and 2 threads give the same bytes");
}

#[test]
fn max_occurrences_and_paragraphs() {
    let data = tempfile::tempdir().expect("tempdir");
    let docs = [
        "Accept all cookies to continue reading.\n\nFirst article body, long enough.",
        "Accept all cookies to continue reading.\n\nSecond article body, long enough.",
        "Accept all cookies to continue reading.\n\nThird article body, long enough.",
        "A line shared by two documents only.\nFourth body line.",
        "A line shared by two documents only.\nFifth body line.",
    ];
    let lines: Vec<String> =
        docs.iter().enumerate().map(|(i, t)| doc_line(&format!("d{i}"), t)).collect();
    std::fs::create_dir_all(data.path().join("in")).expect("mkdir");
    std::fs::write(data.path().join("in/a.jsonl"), lines.join("\n") + "\n").expect("write");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&format!("{}/in/*.jsonl", data.path().display()))
        .replace("min_length = 20", "min_length = 20\nunit = \"paragraph\"\nmax_occurrences = 2");
    std::fs::write(dir.path().join("p.toml"), cfg).expect("write");
    run(dir.path(), "2");
    let kept: Vec<String> = read_parts(&dir.path().join("out/kept"))
        .iter()
        .map(|d| d["text"].as_str().expect("text").to_string())
        .collect();
    // The cookie paragraph is in three documents (> 2): removed; the shared line is in two
    // documents and, as a paragraph, not even the same unit as anything else: kept.
    assert_eq!(
        kept,
        [
            "First article body, long enough.",
            "Second article body, long enough.",
            "Third article body, long enough.",
            docs[3],
            docs[4]
        ]
    );
    let stats = stats(dir.path());
    assert_eq!(node(&stats, "lines")["transformed"]["paragraphs_removed"].as_u64(), Some(3));
}

// Resuming: the sample corpus (with a boilerplate line added to every third document) in many
// files, a line_dedup barrier before tokenization, killed in each pass.

const RESUME_FILES: usize = 16;

fn resume_config(paths: &str) -> String {
    standard_config(&[paths.to_string()], "batch_docs = 16")
        .replace("inputs = [\"length\"]", "inputs = [\"lines\"]")
        + "\n[[stage]]\nname = \"lines\"\ntype = \"line_dedup\"\ninputs = [\"length\"]\n"
}

fn boilerplate_sample(dir: &Path) -> String {
    let glob = split_sample(dir, RESUME_FILES);
    for f in 0..RESUME_FILES {
        let path = dir.join(format!("in/part-{f:02}.jsonl"));
        let lines: Vec<String> = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
                if i % 3 == 0
                    && let Some(t) = v["text"].as_str()
                {
                    v["text"] =
                        format!("{t}\nFollow us on social media for more stories like this one.")
                            .into();
                }
                v.to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    }
    glob
}

#[test]
fn a_line_dedup_run_killed_in_its_passes_resumes_exactly() {
    let data = tempfile::tempdir().expect("tempdir");
    let paths = boilerplate_sample(data.path());
    let reference = tempfile::tempdir().expect("tempdir");
    std::fs::write(reference.path().join("p.toml"), resume_config(&paths)).expect("write");
    let (code, _, err) =
        outcome(&run_in(reference.path(), &["run", "p.toml", "-j", "1", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    let expected = tree_bytes(reference.path(), &["out/shards", "out/rejected"]);
    let removed = node(&stats(reference.path()), "lines")["transformed"]["lines_removed"]
        .as_u64()
        .unwrap_or(0);
    assert!(removed > 300, "the added line is removed from every document that has it: {removed}");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), resume_config(&paths)).expect("write");
    assert!(
        kill_after(dir.path(), "p0-", RESUME_FILES / 2),
        "the run finished before the kill in its first pass"
    );
    // The second run may finish before it can be killed in the replay pass; either way the
    // third run must give the reference's bytes, reusing every unit finished before.
    kill_after(dir.path(), "p1-", 1);
    let reused = finished_units(dir.path(), "p0-") + finished_units(dir.path(), "p1-");
    if dir.path().join("out/work/ledger").exists() {
        let (code, _, err) =
            outcome(&run_in(dir.path(), &["run", "p.toml", "-j", "1", "--progress", "off"]));
        assert_eq!(code, 0, "{err}");
        assert_eq!(stats(dir.path())["units"]["reused"].as_u64(), Some(reused as u64));
    }
    let got = tree_bytes(dir.path(), &["out/shards", "out/rejected"]);
    assert!(got.keys().any(|k| k.ends_with("manifest.json")), "{:?}", got.keys());
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (name, bytes) in &expected {
        assert!(got[name] == *bytes, "{name} differs from the uninterrupted run's");
    }
    assert!(
        !dir.path().join("out/work/ledger").exists(),
        "the ledger is removed once the run completes"
    );
}
