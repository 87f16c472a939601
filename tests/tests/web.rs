//! Starting from a web crawl: `warc`, `wet` and `html` sources and the `html_extract` stage,
//! end to end through the binary, on the real Common Crawl sample in `data/web/`.

mod common;

use std::io::Write;
use std::path::Path;

use common::{errors, outcome, read_parts, root, run_in};
use serde_json::Value;

fn link_data(dir: &Path) {
    for d in ["data", "tokenizers", "web"] {
        std::os::unix::fs::symlink(root().join(d), dir.join(d)).expect("link");
    }
}

fn stats(dir: &Path, work: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(work).join("stats.json")).expect("stats.json"))
        .expect("json")
}

fn node<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("no node {name}"))
}

#[test]
fn common_crawl_example_runs_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    link_data(dir.path());
    std::fs::copy(root().join("examples/common-crawl.toml"), dir.path().join("cc.toml"))
        .expect("copy");
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "cc.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let stats = stats(dir.path(), "out/common-crawl/work");
    assert_eq!(
        node(&stats, "crawl")["docs_out"].as_u64(),
        Some(16),
        "the sample's 16 HTML responses"
    );
    assert!(node(&stats, "shards")["tokens_out"].as_u64().is_some_and(|t| t > 0));
    let kept = read_parts(&dir.path().join("out/common-crawl/kept"));
    assert!(!kept.is_empty());
    for doc in &kept {
        for key in [
            "url",
            "date",
            "content_type",
            "warc_record_id",
            "encoding",
            "encoding_source",
            "language",
        ] {
            assert!(doc[key].is_string(), "`{key}` missing: {doc}");
        }
        assert!(
            !doc["text"].as_str().unwrap_or("<").contains('<'),
            "markup left in the text: {doc}"
        );
    }
}

/// Every page of the sample comes out as text without replacement characters; the Chinese ones
/// (UTF-8 and GB2312/GBK, declared in the HTTP header or only in `<meta>`) as Chinese.
#[test]
fn chinese_pages_decode_to_chinese_with_their_encoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    link_data(dir.path());
    let config = r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "crawl"
type = "warc"
paths = ["data/web/commoncrawl-sample.warc.gz"]
[[stage]]
name = "extract"
type = "html_extract"
inputs = ["crawl"]
include_title = true
min_text_chars = 0
[[sink]]
name = "pages"
type = "jsonl"
inputs = ["extract"]
path = "out/pages"
"#;
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let pages = read_parts(&dir.path().join("out/pages"));
    assert_eq!(pages.len(), 16);
    let mut chinese_encodings = std::collections::BTreeSet::new();
    let mut chinese = 0;
    for p in &pages {
        let text = p["text"].as_str().expect("text");
        assert!(!text.contains('\u{FFFD}'), "mojibake in {}: {text}", p["url"]);
        let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
        let han = letters.iter().filter(|&&c| ('\u{4E00}'..='\u{9FFF}').contains(&c)).count();
        if han * 2 > letters.len() {
            chinese += 1;
            chinese_encodings.insert(format!(
                "{}/{}",
                p["encoding"].as_str().unwrap_or(""),
                p["encoding_source"].as_str().unwrap_or("")
            ));
        }
    }
    assert!(chinese >= 8, "only {chinese} pages read as Chinese");
    let seen: Vec<&str> = chinese_encodings.iter().map(String::as_str).collect();
    for want in ["GBK/http", "UTF-8/meta"] {
        assert!(seen.contains(&want), "no Chinese page decoded as {want}: {seen:?}");
    }
}

fn member(record: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(record).expect("gzip");
    gz.finish().expect("gzip")
}

fn response(uri: &str, content_type: &str, body: &str) -> Vec<u8> {
    let http = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n{body}");
    format!(
        "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n\
         WARC-Record-ID: <urn:uuid:{uri}>\r\nContent-Length: {}\r\n\r\n{http}\r\n\r\n",
        http.len()
    )
    .into_bytes()
}

/// A damaged file: good, corrupt gzip member, an image, good, then a record cut short. The good
/// pages are read, the rest counted by kind; with `on_error = "fail"` the run stops (exit 3).
#[test]
fn damaged_warc_records_are_counted_and_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = |n: u32| {
        format!(
            "<html><body><p>Page {n} has a paragraph of text that is long enough.</p></body></html>"
        )
    };
    let mut warc = member(&response("http://a.example/1", "text/html", &page(1)));
    let mut broken = member(&response("http://a.example/x", "text/html", &page(9)));
    broken[12] ^= 0xff;
    broken[20] ^= 0xff;
    warc.extend(broken);
    warc.extend(member(&response("http://a.example/img", "image/png", "\u{89}PNG")));
    warc.extend(member(&response("http://a.example/2", "text/html; charset=utf-8", &page(2))));
    let cut = member(&response("http://a.example/3", "text/html", &page(3)));
    warc.extend(&cut[..cut.len() / 2]);
    std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
    std::fs::write(dir.path().join("in/crawl.warc.gz"), &warc).expect("write");
    let config = |on_error: &str| {
        format!(
            "version = 1\n[run]\nwork_dir = \"out/work\"\non_error = \"{on_error}\"\n[[source]]\nname = \"in\"\ntype = \"warc\"\n\
             paths = [\"in/*.warc.gz\"]\n[[sink]]\nname = \"docs\"\ntype = \"jsonl\"\ninputs = [\"in\"]\npath = \"out/docs\"\n"
        )
    };
    std::fs::write(dir.path().join("skip.toml"), config("skip")).expect("write");
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "skip.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let urls: Vec<String> = read_parts(&dir.path().join("out/docs"))
        .iter()
        .map(|d| d["url"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(urls, ["http://a.example/1", "http://a.example/2"]);
    let s = stats(dir.path(), "out/work");
    assert_eq!(errors(&s, "in", "not_html"), 1, "{}", node(&s, "in"));
    assert!(
        errors(&s, "in", "truncated") >= 2,
        "the corrupt member and the cut record: {}",
        node(&s, "in")
    );
    assert!(
        stderr.contains("crawl.warc.gz") && stderr.contains("byte"),
        "errors name the file and offset: {stderr}"
    );
    std::fs::write(dir.path().join("fail.toml"), config("fail")).expect("write");
    let (code, _, stderr) =
        outcome(&run_in(dir.path(), &["run", "fail.toml", "--progress", "off"]));
    assert_eq!(code, 3, "{stderr}");
}

/// `wet` reads Common Crawl's extracted text; `html` reads one page per file, named by file.
#[test]
fn wet_records_and_html_pages_are_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "这是一段中文文本。\nSecond line.";
    let conversion = |uri: &str| {
        format!(
            "WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: {uri}\r\nWARC-Record-ID: <urn:uuid:{uri}>\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}\r\n\r\n",
            text.len()
        )
    };
    let info = "WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 4\r\n\r\ninfo\r\n\r\n";
    std::fs::create_dir_all(dir.path().join("in/pages")).expect("mkdir");
    std::fs::write(
        dir.path().join("in/x.warc.wet"),
        format!("{info}{}{}", conversion("http://b/1"), conversion("http://b/2")),
    )
    .expect("write");
    for name in ["arxiv", "bbc-1"] {
        let from = root().join(format!("web/tests/fixtures/readability/{name}.source.html.gz"));
        std::fs::copy(from, dir.path().join(format!("in/pages/{name}.html.gz")))
            .expect("copy page");
    }
    let config = r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "wet"
type = "wet"
paths = ["in/*.wet"]
[[source]]
name = "pages"
type = "html"
paths = ["in/pages/*.html.gz"]
[[stage]]
name = "extract"
type = "html_extract"
inputs = ["pages"]
[[sink]]
name = "text"
type = "jsonl"
inputs = ["wet"]
path = "out/text"
[[sink]]
name = "articles"
type = "jsonl"
inputs = ["extract"]
path = "out/articles"
"#;
    std::fs::write(dir.path().join("w.toml"), config).expect("write");
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "w.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let wet = read_parts(&dir.path().join("out/text"));
    assert_eq!(wet.len(), 2);
    assert_eq!(wet[0]["text"], text);
    assert_eq!(wet[1]["url"], "http://b/2");
    let articles = read_parts(&dir.path().join("out/articles"));
    let ids: Vec<&str> = articles.iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, ["arxiv", "bbc-1"]);
    assert!(
        articles
            .iter()
            .all(|a| a["text"].as_str().is_some_and(|t| t.len() > 500 && !t.contains('<'))),
        "{articles:?}"
    );
}
