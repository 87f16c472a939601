//! Agreement of the `fineweb2` preset's Chinese filters with datatrove 0.10.1 configured as
//! FineWeb-2 configures it for `cmn_Hani`.
//!
//! Input: the JSON lines `scripts/fineweb2-parity.py` writes (`{"id", "text", "keep", "filter",
//! "reason"}`). Applies `gopher_repetition`, `fineweb_quality` and `gopher_quality` with the
//! table's `cmn_Hani` values in FineWeb-2's order, and reports the share of documents with the
//! same decision (keep, or drop by the same filter and rule), the decisions on both sides by
//! rule, and the documents that differ.
//!
//! `cargo run --release -p tokenmill-filters --example fineweb2_parity -- /tmp/fw2-cmn-decisions.jsonl`

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use tokenmill_filters::fineweb2::{Fineweb2Filters, language};

#[derive(serde::Deserialize)]
struct Reference {
    id: String,
    text: String,
    filter: Option<String>,
    reason: Option<String>,
}

fn label(d: Option<(&str, &str)>) -> String {
    d.map_or_else(|| "keep".to_string(), |(f, r)| format!("{f}/{r}"))
}

fn main() -> Result<()> {
    let path = std::env::args().nth(1).context("usage: fineweb2_parity DECISIONS.jsonl")?;
    let show: usize = std::env::args().nth(2).map_or(Ok(20), |s| s.parse())?;
    let raw = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let docs = raw
        .lines()
        .enumerate()
        .map(|(n, l)| serde_json::from_str(l).with_context(|| format!("{path}:{}", n + 1)))
        .collect::<Result<Vec<Reference>>>()?;
    let filters = Fineweb2Filters::new(language("cmn_Hani").context("cmn_Hani in the table")?)?;
    let t = Instant::now();
    let ours: Vec<_> = docs.iter().map(|d| filters.check(&d.text)).collect();
    let secs = t.elapsed().as_secs_f64();
    let mut by_rule: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut agree, mut errors, mut differ) = (0usize, 0usize, Vec::new());
    for (d, ours) in docs.iter().zip(&ours) {
        if d.reason.as_deref() == Some("error_zero_division") {
            errors += 1;
            continue;
        }
        let theirs = d.filter.as_deref().zip(d.reason.as_deref());
        by_rule.entry(label(*ours)).or_default().0 += 1;
        by_rule.entry(label(theirs)).or_default().1 += 1;
        if *ours == theirs {
            agree += 1;
        } else {
            differ.push(format!("{}: ours {}, datatrove {}", d.id, label(*ours), label(theirs)));
        }
    }
    let n = docs.len() - errors;
    let mb = docs.iter().map(|d| d.text.len()).sum::<usize>() as f64 / 1e6;
    println!("{} documents ({mb:.2} MB), {errors} on which datatrove raised (skipped)", docs.len());
    println!("same decision: {agree}/{n} = {:.3}%", 100.0 * agree as f64 / n.max(1) as f64);
    println!("{:<45} {:>8} {:>10}", "decision", "ours", "datatrove");
    for (rule, (o, t)) in &by_rule {
        println!("{rule:<45} {o:>8} {t:>10}");
    }
    for d in differ.iter().take(show) {
        println!("  {d}");
    }
    println!("filters: {:.2} s, {:.2} MB/s on one thread", secs, mb / secs);
    Ok(())
}
