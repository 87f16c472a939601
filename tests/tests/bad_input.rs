//! Bad input: each case is reported with file and line (or offset), counted under its kind in
//! stats.json, and the run goes on (`on_error = "skip"`) or stops with exit 3 (`"fail"`)
//! without leaving a dataset that looks complete.

mod common;

use std::path::Path;

use common::*;

const GOOD: usize = 30;

/// Writes `good.jsonl` with GOOD valid documents.
fn good_file(dir: &Path) -> String {
    let lines: Vec<String> = (0..GOOD)
        .map(|i| doc_line(&format!("g{i}"), &format!("good document number {i} with enough text")))
        .collect();
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    std::fs::write(dir.join("in/good.jsonl"), lines.join("\n") + "\n").expect("write");
    dir.join("in/good.jsonl").display().to_string()
}

/// Runs the standard pipeline over `good.jsonl` and `bad`; returns (code, stderr, stats).
fn run_case(dir: &Path, bad: &str, on_error: &str) -> (i32, String, Option<serde_json::Value>) {
    let good = good_file(dir);
    let config = standard_config(&[good, bad.to_string()], &format!("on_error = {on_error:?}"));
    std::fs::write(dir.join("p.toml"), config).expect("write config");
    let (code, stdout, stderr) = outcome(&run_in(dir, &["run", "p.toml", "--progress", "off"]));
    let stats = std::fs::read_to_string(dir.join("out/work/stats.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).expect("stats json"));
    (code, format!("{stdout}{stderr}"), stats)
}

/// Asserts the skip-mode outcome: exit 0 (4, partial, for an input that could not be read at
/// all: the next run tries it again), the error counted and logged, every good doc kept.
fn assert_skipped(dir: &Path, bad: &str, kind: &str, expect_in_log: &str, extra_docs: usize) {
    let (code, log, stats) = run_case(dir, bad, "skip");
    assert_eq!(code, if kind == "unreadable" { 4 } else { 0 }, "{log}");
    let stats = stats.expect("stats");
    assert!(errors(&stats, "in", kind) >= 1, "{kind} not counted: {}", stats["nodes"][0]);
    assert!(log.contains(expect_in_log), "log lacks {expect_in_log:?}:\n{log}");
    let docs = tokenmill_shards::read_dataset_tokens(&dir.join("out/shards")).expect("shards");
    assert_eq!(docs.len(), GOOD + extra_docs);
}

/// Asserts the fail-mode outcome: exit 3, no manifest, no temporary files.
fn assert_fails(bad_name: &str, make: impl Fn(&Path) -> String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = make(dir.path());
    let (code, log, stats) = run_case(dir.path(), &bad, "fail");
    assert_eq!(code, 3, "{bad_name}: {log}");
    assert!(log.contains("bad input"), "{log}");
    assert!(
        !dir.path().join("out/shards/manifest.json").exists(),
        "{bad_name}: a failed run must not look complete"
    );
    let left: Vec<String> = listing(&dir.path().join("out/shards"))
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let stats = stats.expect("stats");
    assert_eq!(stats["status"], "failed");
    // Nothing counts as written by a sink whose files were discarded, and the summary line does
    // not carry the error text: it gets a line of its own.
    let shards = common::node(&stats, "shards");
    assert_eq!((shards["docs_out"].as_u64(), shards["tokens_out"].as_u64()), (Some(0), Some(0)));
    let summary = log.lines().find(|l| l.starts_with("run FAILED in ")).expect("summary line");
    assert!(!summary.contains("bad input"), "{summary}");
    assert!(log.lines().any(|l| l.starts_with("error: bad input")), "{log}");
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    std::fs::write(dir.join(name), data).expect("write");
    dir.join(name).display().to_string()
}

#[test]
fn malformed_json_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(
        dir.path(),
        "bad.jsonl",
        format!(
            "{}\n{{\"id\": \"x\", \"text\": oops}}\n{}\n",
            doc_line("a", "first fine document here"),
            doc_line("b", "third line is fine too ok")
        )
        .as_bytes(),
    );
    assert_skipped(dir.path(), &bad, "malformed_json", "bad.jsonl:2 (byte 45): malformed_json", 2);
    assert_fails("malformed", |d| write(d, "bad.jsonl", b"{nope\n"));
}

#[test]
fn invalid_utf8() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut data =
        format!("{}\n", doc_line("a", "a valid document before the bad one")).into_bytes();
    data.extend_from_slice(b"{\"id\":\"b\",\"text\":\"caf\xe9 au lait, latin-1 bytes\"}\n");
    let bad = write(dir.path(), "latin1.jsonl", &data);
    assert_skipped(
        dir.path(),
        &bad,
        "invalid_utf8",
        "latin1.jsonl:2 (byte 56): invalid_utf8: invalid UTF-8 at byte 77",
        1,
    );
}

#[test]
fn truncated_zstd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = String::new();
    let mut x: u64 = 7;
    for i in 0..3000 {
        let words: Vec<String> = (0..30)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                format!("w{:x}", x >> 44)
            })
            .collect();
        text.push_str(&doc_line(&format!("z{i}"), &words.join(" ")));
        text.push('\n');
    }
    let full = zstd::encode_all(text.as_bytes(), 3).expect("zstd");
    let bad = write(dir.path(), "cut.jsonl.zst", &full[..full.len() * 2 / 3]);
    let (code, log, stats) = run_case(dir.path(), &bad, "skip");
    assert_eq!(code, 0, "{log}");
    assert_eq!(errors(&stats.expect("stats"), "in", "truncated"), 1);
    assert!(log.contains("cut.jsonl.zst:") && log.contains("truncated or corrupt"), "{log}");
    let docs =
        tokenmill_shards::read_dataset_tokens(&dir.path().join("out/shards")).expect("shards");
    assert!(
        docs.len() > GOOD && docs.len() < GOOD + 3000,
        "records before the cut are kept: {}",
        docs.len()
    );
}

#[test]
fn truncated_gzip() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..2000 {
        writeln!(enc, "{}", doc_line(&format!("z{i}"), &format!("gzip document {i} {}", i * 7919)))
            .expect("write");
    }
    let full = enc.finish().expect("gzip");
    let bad = write(dir.path(), "cut.jsonl.gz", &full[..full.len() - 100]);
    let (code, log, stats) = run_case(dir.path(), &bad, "skip");
    assert_eq!(code, 0, "{log}");
    assert_eq!(errors(&stats.expect("stats"), "in", "truncated"), 1, "{log}");
    assert!(log.contains("cut.jsonl.gz:"), "{log}");
    assert_fails("gz", |d| write(d, "cut.jsonl.gz", &full[..full.len() / 2]));
}

#[test]
fn missing_or_non_string_text_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = "{\"id\":\"a\",\"body\":\"no text field here\"}\n{\"id\":\"b\",\"text\":42}\n{\"id\":\"c\",\"text\":null}\n";
    let bad = write(dir.path(), "fields.jsonl", data.as_bytes());
    let (code, log, stats) = run_case(dir.path(), &bad, "skip");
    assert_eq!(code, 0, "{log}");
    let stats = stats.expect("stats");
    assert_eq!(errors(&stats, "in", "missing_text"), 2);
    assert_eq!(errors(&stats, "in", "text_not_string"), 1);
    assert!(log.contains("fields.jsonl:1 (byte 0): missing_text: no `text` field"), "{log}");
    assert!(log.contains("fields.jsonl:2 (byte 39): text_not_string"), "{log}");
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "empty.jsonl", b"");
    assert_skipped(dir.path(), &bad, "empty_file", "empty.jsonl: empty_file", 0);
}

#[test]
fn missing_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("no/such/file.jsonl").display().to_string();
    assert_skipped(dir.path(), &bad, "not_found", "file.jsonl: not_found", 0);
    assert_fails("missing", |d| d.join("nope.jsonl").display().to_string());
}

#[test]
fn unreadable_object() {
    // A dangling link matched by a glob: listed, then unreadable (root ignores permission bits).
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("more")).expect("mkdir");
    std::os::unix::fs::symlink(
        dir.path().join("gone.jsonl"),
        dir.path().join("more/dangling.jsonl"),
    )
    .expect("symlink");
    std::fs::write(
        dir.path().join("more/ok.jsonl"),
        doc_line("ok", "a readable document beside it") + "\n",
    )
    .expect("write");
    let bad = format!("{}/more/*.jsonl", dir.path().display());
    assert_skipped(dir.path(), &bad, "unreadable", "dangling.jsonl: unreadable", 1);
}

#[test]
fn fifty_megabyte_document_streams_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 50 MB of text in one line (no tokenization: the length filter reads and passes it on).
    let big = "lorem ipsum dolor sit amet ".repeat(50 * 1024 * 1024 / 27);
    let line = doc_line("huge", &big) + "\n";
    std::fs::write(dir.path().join("huge.jsonl"), &line).expect("write");
    let config = "version = 1\n[run]\nwork_dir = \"out/work\"\n[[source]]\nname = \"in\"\ntype = \"jsonl\"\npaths = [\"huge.jsonl\"]\n\
         [[stage]]\nname = \"length\"\ntype = \"length\"\ninputs = [\"in\"]\nmax_chars = 1000\n\
         [[sink]]\nname = \"kept\"\ntype = \"jsonl\"\ninputs = [\"length\"]\npath = \"out/kept\"\n\
         [[sink]]\nname = \"rejected\"\ntype = \"jsonl\"\ninputs = [\"length.rejected\"]\npath = \"out/rejected\"\n";
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let rejected = read_parts(&dir.path().join("out/rejected"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["text"].as_str().map(str::len), Some(big.len()));
    assert_eq!(rejected[0]["drop_reason"], "length:too_long");
    // Over run.max_doc_bytes it is skipped as bad input, without being held in memory.
    let config = std::fs::read_to_string(dir.path().join("p.toml"))
        .expect("read")
        .replace("[run]\n", "[run]\nmax_doc_bytes = \"10MiB\"\n");
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("huge.jsonl:1 (byte 0): too_large"), "{err}");
    assert_eq!(errors(&stats(dir.path()), "in", "too_large"), 1);
}
