//! The run report: its counters in `stats.json`, the page `run` writes and `tokenmill report`
//! rewrites, and the page rendered by a real browser (headless Chromium: the DOM it builds shows
//! the funnel's numbers, the console stays silent, a screenshot is taken).
//!
//! The browser part skips with a message where no Chromium is installed (`apt-get install
//! chromium`; scripts/test.sh installs it when run as root, and then sets
//! `TOKENMILL_TEST_BROWSER=required` so that it cannot skip).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// Runs examples/filters.toml (normalize, language, quality filters, PII, MinHash dedup,
/// tokenize, shards) in a temporary dir; returns it and the run's stdout.
fn filters_run() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root().join("examples/filters.toml"), dir.path().join("filters.toml"))
        .expect("copy config");
    std::os::unix::fs::symlink(root().join("data"), dir.path().join("data")).expect("link data");
    std::os::unix::fs::symlink(root().join("tokenizers"), dir.path().join("tokenizers"))
        .expect("link tokenizers");
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "filters.toml", "--progress", "off"]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    (dir, stdout)
}

/// The work dir's `stats.json`.
fn read_stats(work: &Path) -> Value {
    let text = std::fs::read_to_string(work.join("stats.json")).expect("stats.json exists");
    serde_json::from_str(&text).expect("stats.json parses")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn sum(v: &Value) -> u64 {
    match v {
        Value::Array(a) => a.iter().map(u).sum(),
        Value::Object(o) => o.values().map(u).sum(),
        _ => 0,
    }
}

/// `1234567` as the page writes it: `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The funnel table's row of every node, as the page writes it.
fn funnel_rows(stats: &Value) -> Vec<String> {
    let nodes = stats["nodes"].as_array().expect("nodes");
    nodes
        .iter()
        .map(|n| {
            format!(
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                n["name"].as_str().expect("name"),
                n["kind"].as_str().expect("kind"),
                grouped(u(&n["docs_in"])),
                grouped(u(&n["docs_out"])),
                grouped(sum(&n["dropped"]))
            )
        })
        .collect()
}

#[test]
fn stats_count_lengths_and_languages_and_the_run_writes_its_report() {
    let (dir, stdout) = filters_run();
    let work = dir.path().join("out/filters/work");
    assert!(stdout.contains("report: out/filters/work/report.html"), "{stdout}");
    let stats = read_stats(&work);
    for n in stats["nodes"].as_array().expect("nodes") {
        let dropped = sum(&n["dropped"]);
        assert_eq!(u(&n["docs_in"]), u(&n["docs_out"]) + dropped, "in = out + dropped: {n}");
    }
    // Lengths: every document a source read, and every one the tokenizer received.
    let source = node(&stats, "sample");
    assert_eq!(sum(&source["chars_histogram"]), u(&source["docs_in"]));
    assert!(sum(&source["chars_histogram"]) > 100, "{source}");
    let tokens = node(&stats, "tokens");
    assert_eq!(sum(&tokens["chars_histogram"]), u(&tokens["docs_in"]));
    assert!(node(&stats, "gopher").get("chars_histogram").is_none(), "only where measured");
    // Languages: every document the language stage saw, kept or dropped.
    let lang = node(&stats, "language");
    assert_eq!(sum(&lang["languages"]), u(&lang["docs_in"]));
    assert!(u(&lang["languages"]["en"]) > 0 && u(&lang["languages"]["zh"]) > 0, "{lang}");

    let page = std::fs::read_to_string(work.join("report.html")).expect("report.html");
    for row in funnel_rows(&stats) {
        assert!(page.contains(&row), "{row} missing from the page");
    }
    for section in ["funnel", "drops", "languages", "lengths", "dedup-dedup", "shards"] {
        assert!(page.contains(&format!("id=\"{section}\"")), "section {section}");
    }
    // Tokens per shard come from the manifest; the dedup stage's share from its report.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/filters/shards/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let total = format!("{} tokens and", grouped(u(&manifest["tokens"])));
    assert!(page.contains(&total), "{total} missing");
    let dedup = node(&stats, "dedup");
    let removed = format!(
        "{} of {} documents removed",
        grouped(sum(&dedup["dropped"])),
        grouped(u(&dedup["report"]["documents"]))
    );
    assert!(page.contains(&removed), "{removed} missing");
    // `tokenmill report` rebuilds the same page from stats.json.
    let (code, out, err) =
        outcome(&run_in(dir.path(), &["report", "out/filters/work", "-o", "again.html"]));
    assert_eq!(code, 0, "{out}{err}");
    let again = std::fs::read_to_string(dir.path().join("again.html")).expect("again.html");
    assert_eq!(again, page);
    // A work dir without statistics is an error that names the file.
    let (code, out, err) = outcome(&run_in(dir.path(), &["report", "out/nothing"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("cannot read out/nothing/stats.json (run the pipeline first)"), "{err}");
    // --no-report writes none.
    std::fs::remove_file(work.join("report.html")).expect("rm");
    let (code, out, err) =
        outcome(&run_in(dir.path(), &["run", "filters.toml", "--progress", "off", "--no-report"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!work.join("report.html").exists() && !out.contains("report:"), "{out}");
}

#[test]
fn the_report_shows_the_training_checks_loss_curve() {
    let (dir, _) = filters_run();
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &["verify", "out/filters/shards", "--train", "--steps", "40", "--device", "cpu"],
    ));
    let json = dir.path().join("out/filters/shards/verify-report/report.json");
    assert!(json.is_file(), "verify --train wrote no report.json ({code}): {out}{err}");
    let curve: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("read")).expect("json");
    let (code, out, err) = outcome(&run_in(dir.path(), &["report", "out/filters/work"]));
    assert_eq!(code, 0, "{out}{err}");
    let page = std::fs::read_to_string(dir.path().join("out/filters/work/report.html"))
        .expect("report.html");
    assert!(page.contains("id=\"loss\""), "no loss section");
    let steps = curve["losses"].as_array().expect("losses").len();
    assert!(page.contains(&format!("{steps} logged steps")), "{page}");
    let heldout = curve["heldout_loss"].as_f64().expect("heldout_loss");
    assert!(page.contains(&format!("held-out loss {heldout:.3}")), "{page}");
}

/// Debian's Chromium, or the one `TOKENMILL_CHROMIUM` names; `None` (after saying why) where
/// there is none and the test may skip.
fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("TOKENMILL_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["chromium", "chromium-browser", "google-chrome"].map(PathBuf::from));
    for c in candidates {
        if Command::new(&c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Some(c);
        }
    }
    assert!(
        std::env::var("TOKENMILL_TEST_BROWSER").as_deref() != Ok("required"),
        "no Chromium, but TOKENMILL_TEST_BROWSER=required"
    );
    eprintln!(
        "SKIPPED: the report's browser test needs Chromium (`apt-get install chromium` on \
         Debian, or TOKENMILL_CHROMIUM=/path/to/chrome)"
    );
    None
}

/// Runs headless Chromium on `page` with `args`, its console logged to stderr; returns
/// (stdout, stderr).
fn headless(browser: &Path, profile: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let (code, stdout, stderr) = outcome(&out);
    assert_eq!(code, 0, "chromium failed: {stderr}");
    (stdout, stderr)
}

/// The browser's console messages in its log.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).collect()
}

#[test]
fn chromium_renders_the_report_with_the_funnels_numbers_and_no_console_errors() {
    let Some(browser) = chromium() else { return };
    let (dir, _) = filters_run();
    let profile = dir.path().join("chromium-profile");
    // The console capture works: a page that logs an error shows it in the log.
    let probe = dir.path().join("probe.html");
    std::fs::write(&probe, "<!DOCTYPE html><script>console.error('probe-error-42')</script>")
        .expect("probe");
    let (_, stderr) = headless(&browser, &profile, &probe, &["--dump-dom"]);
    assert!(
        console_lines(&stderr).iter().any(|l| l.contains("probe-error-42")),
        "console messages are not captured: {stderr}"
    );

    let work = dir.path().join("out/filters/work");
    let page = work.join("report.html");
    let (dom, stderr) = headless(&browser, &profile, &page, &["--dump-dom"]);
    assert!(console_lines(&stderr).is_empty(), "console messages: {stderr}");
    let stats = read_stats(&work);
    assert!(dom.contains("id=\"funnel-table\""), "{dom}");
    for row in funnel_rows(&stats) {
        assert!(dom.contains(&row), "{row} not in the rendered page");
    }
    // The funnel chart's labels: what each node passed on and what it dropped.
    let lang = node(&stats, "language");
    let (kept, dropped) = (u(&lang["docs_out"]), sum(&lang["dropped"]));
    assert!(dropped > 0, "{lang}");
    let label = format!("{} \u{2212}{}", grouped(kept), grouped(dropped));
    assert!(dom.contains(&label), "{label} not in the rendered funnel");

    let png = dir.path().join("report.png");
    let shot = format!("--screenshot={}", png.display());
    let (_, stderr) = headless(&browser, &profile, &page, &[&shot, "--window-size=900,2400"]);
    assert!(console_lines(&stderr).is_empty(), "console messages: {stderr}");
    let bytes = std::fs::read(&png).expect("screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
    assert_eq!((width, height), (900, 2400));
    // A blank page compresses to a few KB; charts and text do not.
    assert!(bytes.len() > 40_000, "the screenshot looks blank: {} bytes", bytes.len());
}
