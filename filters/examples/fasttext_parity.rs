//! Agreement and speed of our fastText predictions against the `fasttext` Python package.
//!
//! Input: the directory `scripts/fasttext-parity.py` writes (default `/tmp/ft-parity`): the
//! models, `heldout.jsonl` (`{"id", "text"}`) and `predictions.jsonl` (per document, model and
//! setting, what `fasttext`'s `predict` returned). Reports, per model, the documents whose top
//! label differs, whose label list (labels and order) differs, and the largest probability
//! difference; then the speed of `predict` on this thread (k = 1 and k = all labels, best of 3
//! passes over every document, in seconds of CPU time of the thread). Both ways of adding rows are measured: `Exact` (fastText's
//! order, what `fasttext_classifier` uses) and `PerWord` (per-word sums, what `language` uses).
//!
//! `cargo run --release -p tokenmill-filters --example fasttext_parity -- /tmp/ft-parity [MODEL]`
//! (MODEL, the file name of any model in the directory: that model only, compared with its
//! entries in `predictions.jsonl`; `FT_SPEED_ONLY=1` skips the comparison, for profiling;
//! `FT_REPEAT=N` times N passes over the documents and reports one, so that the kernel's
//! few-millisecond ticks of CPU time matter less).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use tokenmill_filters::fasttext::{FastText, Summation};

const MODELS: [&str; 3] = ["genre.bin", "genre-ova.ftz", "lang-bigram-hs.bin"];
const SETTINGS: [(&str, Option<usize>, f32); 3] =
    [("all", None, 0.0), ("top1", Some(1), 0.0), ("k2t05", Some(2), 0.05)];

/// Per model and setting, the (label, probability) list fastText returned.
type Expected = BTreeMap<String, BTreeMap<String, Vec<(String, f32)>>>;

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    raw.lines()
        .enumerate()
        .map(|(n, l)| {
            serde_json::from_str(l).with_context(|| format!("{} line {n}", path.display()))
        })
        .collect()
}

/// Documents whose top label differs, whose label lists differ, the largest difference.
fn compare(
    model: &FastText,
    name: &str,
    texts: &[String],
    expected: &[Expected],
) -> (usize, usize, f32) {
    let (mut top, mut lists, mut worst) = (0, 0, 0f32);
    for (text, want) in texts.iter().zip(expected) {
        for (setting, k, threshold) in SETTINGS {
            let want = &want[name][setting];
            let got = model.predict_with(text, k, threshold);
            if got.first().map(|p| p.0) != want.first().map(|p| p.0.as_str()) {
                top += 1;
            }
            if !got.iter().map(|p| p.0).eq(want.iter().map(|p| p.0.as_str())) {
                lists += 1;
            }
            for ((_, p), (_, q)) in got.iter().zip(want) {
                worst = worst.max((p - q).abs());
            }
        }
    }
    (top, lists, worst)
}

/// Seconds of CPU this thread has run (Linux), else wall-clock seconds since the first call:
/// on a shared, loaded machine wall time measures the scheduler more than the code.
fn cpu_seconds() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(|| START.get_or_init(Instant::now).elapsed().as_secs_f64(), |ns| ns / 1e9)
}

fn best_of_3(mut f: impl FnMut() -> usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = cpu_seconds();
        std::hint::black_box(f());
        best = best.min(cpu_seconds() - t);
    }
    best
}

fn main() -> Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "/tmp/ft-parity".into());
    let dir = Path::new(&dir);
    let texts: Vec<String> = read_jsonl::<serde_json::Value>(&dir.join("heldout.jsonl"))?
        .into_iter()
        .map(|v| v["text"].as_str().map(str::to_string).context("a document without text"))
        .collect::<Result<_>>()?;
    let expected: Vec<Expected> = read_jsonl(&dir.join("predictions.jsonl"))?;
    ensure!(texts.len() == expected.len(), "as many predictions as documents expected");
    let mb = texts.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let only = std::env::args().nth(2);
    let speed_only = std::env::var_os("FT_SPEED_ONLY").is_some();
    // Passes per timing: the kernel counts a thread's CPU time in ticks of a few milliseconds.
    let repeat: usize =
        std::env::var("FT_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(1).max(1);
    let models: Vec<&str> = only.as_deref().map_or(MODELS.to_vec(), |m| vec![m]);
    for name in models {
        let summations = [Summation::Exact, Summation::PerWord];
        let only_sum = std::env::var("FT_SUMMATION").ok();
        for summation in summations
            .into_iter()
            .filter(|s| only_sum.as_deref().is_none_or(|o| o == format!("{s:?}")))
        {
            let model = FastText::load_with(&dir.join(name), summation)?;
            if !speed_only {
                let (top, lists, worst) = compare(&model, name, &texts, &expected);
                println!(
                    "{name} ({summation:?}): {} documents × {} settings: top label differs {top}, \
                 label list differs {lists}, largest probability difference {worst:.2e}",
                    texts.len(),
                    SETTINGS.len()
                );
            }
            for k in [Some(1), None] {
                let secs = best_of_3(|| {
                    (0..repeat)
                        .map(|_| {
                            texts.iter().map(|t| model.predict_with(t, k, 0.0).len()).sum::<usize>()
                        })
                        .sum::<usize>()
                }) / repeat as f64;
                println!(
                    "tokenmill {name} ({summation:?}) k={}: {} docs {mb:.1} MB in {secs:.3} s \
                     ({:.0} docs/s, {:.1} MB/s)",
                    k.map_or(-1, |k| k as i64),
                    texts.len(),
                    texts.len() as f64 / secs,
                    mb / secs
                );
            }
        }
    }
    Ok(())
}
