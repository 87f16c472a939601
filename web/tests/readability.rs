//! Extraction quality regression: bag-of-tokens F1 against the readability test pages.
//!
//! `tests/fixtures/readability/` holds the pages under 400 KB (gzipped); the full set is used
//! too when `TOKENMILL_READABILITY_DIR` is set or the shared copy exists. The metric is the one
//! of `examples/extract_eval.rs` and `scripts/bench-web-extract.py`.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use tokenmill_web::extract::{ExtractOptions, Extractor, html_to_text};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/readability");
const SHARED: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/web/readability-pages");

fn f1(got: Option<&str>, expected: &str) -> f64 {
    let mut want: HashMap<&str, i64> = HashMap::new();
    for token in expected.split_whitespace() {
        *want.entry(token).or_default() += 1;
    }
    let want_total: i64 = want.values().sum();
    let got = match got {
        Some(got) => got,
        None => return if want_total == 0 { 1.0 } else { 0.0 },
    };
    let got_total = got.split_whitespace().count() as i64;
    let mut common = 0;
    for token in got.split_whitespace() {
        if let Some(n) = want.get_mut(token).filter(|n| **n > 0) {
            *n -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return if want_total == 0 && got_total == 0 { 1.0 } else { 0.0 };
    }
    let (p, r) = (common as f64 / got_total as f64, common as f64 / want_total as f64);
    2.0 * p * r / (p + r)
}

fn gunzip(path: &Path) -> String {
    let file = std::fs::File::open(path).expect("fixture opens");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).expect("fixture decompresses");
    String::from_utf8_lossy(&bytes).into_owned()
}

fn mean_f1(pages: &[(String, String)]) -> f64 {
    let extractor = Extractor::new(ExtractOptions::default());
    let total: f64 = pages
        .iter()
        .map(|(source, expected)| {
            let got = extractor.extract(source, None).map(|e| e.text);
            f1(got.as_deref(), &html_to_text(expected))
        })
        .sum();
    total / pages.len() as f64
}

#[test]
fn fixture_pages_keep_their_f1() {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("fixtures present")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".source.html.gz").map(String::from))
        .collect();
    names.sort();
    assert!(names.len() >= 70, "{} fixture pages", names.len());
    let dir = Path::new(FIXTURES);
    let pages: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            let source = gunzip(&dir.join(format!("{n}.source.html.gz")));
            (source, gunzip(&dir.join(format!("{n}.expected.html.gz"))))
        })
        .collect();
    let score = mean_f1(&pages);
    // Measured 0.9735 on the 79 fixture pages when this test was written.
    assert!(score > 0.96, "mean F1 fell to {score:.4}");
}

#[test]
fn full_page_set_keeps_its_f1() {
    let dir = std::env::var("TOKENMILL_READABILITY_DIR").unwrap_or_else(|_| SHARED.to_string());
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    let mut dirs: Vec<_> =
        entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).expect("page reads")).into_owned();
    let pages: Vec<(String, String)> = dirs
        .iter()
        .map(|d| (read(&d.join("source.html")), read(&d.join("expected.html"))))
        .collect();
    let score = mean_f1(&pages);
    // Measured 0.9748 on the 91 pages when this test was written.
    assert!(score > 0.96, "mean F1 fell to {score:.4}");
}
