//! Quality and speed of the extractor on the readability test pages.
//!
//! ```text
//! cargo run --release --example extract_eval -- [PAGES_DIR] [--repeat N] [--verbose]
//! ```
//!
//! For each `PAGES_DIR/NAME/source.html`, the extracted text is compared with the text of
//! `expected.html` as bags of whitespace-separated tokens: precision, recall and F1 per page,
//! averaged over all pages and over each half of the sorted names (the first half is the one
//! the heuristics were tuned on). A page with no extraction scores 0 unless nothing was
//! expected. `scripts/bench-web-extract.py` computes the same metric for trafilatura.

use std::collections::HashMap;
use std::time::Instant;

use tokenmill_web::extract::{ExtractOptions, Extractor, html_to_text};

const DEFAULT_PAGES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/web/readability-pages");

/// Precision, recall and F1 of `got` against `expected`, as bags of whitespace tokens.
fn score(got: Option<&str>, expected: &str) -> [f64; 3] {
    let mut want: HashMap<&str, i64> = HashMap::new();
    for token in expected.split_whitespace() {
        *want.entry(token).or_default() += 1;
    }
    let want_total: i64 = want.values().sum();
    let Some(got) = got else {
        return if want_total == 0 { [1.0; 3] } else { [0.0; 3] };
    };
    let got_total = got.split_whitespace().count() as i64;
    if want_total == 0 && got_total == 0 {
        return [1.0; 3];
    }
    let mut common = 0;
    for token in got.split_whitespace() {
        if let Some(n) = want.get_mut(token)
            && *n > 0
        {
            *n -= 1;
            common += 1;
        }
    }
    let p = if got_total > 0 { common as f64 / got_total as f64 } else { 0.0 };
    let r = if want_total > 0 { common as f64 / want_total as f64 } else { 0.0 };
    let f = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    [p, r, f]
}

fn mean(scores: &[[f64; 3]], i: usize) -> f64 {
    scores.iter().map(|s| s[i]).sum::<f64>() / scores.len().max(1) as f64
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let repeat: usize = args
        .iter()
        .position(|a| a == "--repeat")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let dir = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--repeat"))
        .map_or(DEFAULT_PAGES.to_string(), |(_, a)| a.clone());
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut pages = Vec::new();
    for name in &names {
        let read = |file: &str| -> std::io::Result<String> {
            let bytes = std::fs::read(format!("{dir}/{name}/{file}"))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        pages.push((name.clone(), read("source.html")?, html_to_text(&read("expected.html")?)));
    }
    let extractor = Extractor::new(ExtractOptions::default());
    let mut outputs = Vec::new();
    let start = Instant::now();
    for round in 0..repeat {
        for (_, source, _) in &pages {
            let out = extractor.extract(source, None);
            if round == 0 {
                outputs.push(out.map(|e| e.text));
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let scores: Vec<[f64; 3]> =
        outputs.iter().zip(&pages).map(|(out, page)| score(out.as_deref(), &page.2)).collect();
    if verbose {
        for ((name, ..), s) in pages.iter().zip(&scores) {
            println!("  {name:40} P {:.3} R {:.3} F1 {:.3}", s[0], s[1], s[2]);
        }
    }
    let half = pages.len() / 2;
    let expected_tokens: usize = pages.iter().map(|p| p.2.split_whitespace().count()).sum();
    println!(
        "tokenmill-web; {} pages; first half = {half} pages; expected tokens = {expected_tokens}",
        pages.len()
    );
    for (part, subset) in
        [("all", &scores[..]), ("first half", &scores[..half]), ("second half", &scores[half..])]
    {
        println!(
            "  {part:12} P {:.4}  R {:.4}  F1 {:.4}",
            mean(subset, 0),
            mean(subset, 1),
            mean(subset, 2)
        );
    }
    let pages_done = (pages.len() * repeat) as f64;
    println!(
        "  speed: {:.1} pages/s ({elapsed:.2} s for {pages_done} pages)",
        pages_done / elapsed
    );
    Ok(())
}
