//! The engine from the command line: training a classifier, filtering with it, and proving that
//! shards train (`verify --train`).

mod common;

use common::*;

fn link_repo(dir: &std::path::Path) {
    for d in ["data", "tokenizers", "models"] {
        std::os::unix::fs::symlink(root().join(d), dir.join(d)).expect("link");
    }
}

#[test]
fn quality_model_stage_scores_and_filters_with_the_shipped_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    link_repo(dir.path());
    let (code, out, err) =
        outcome(&run_in(dir.path(), &["run", &root().join("examples/quality.toml").display().to_string(), "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let kept = read_parts(&dir.path().join("out/quality/kept"));
    let dropped = read_parts(&dir.path().join("out/quality/dropped"));
    assert_eq!(kept.len() + dropped.len(), 4785);
    assert!(kept.len() > 500 && dropped.len() > 3000, "{} kept, {} dropped", kept.len(), dropped.len());
    for d in &kept {
        assert!(d["quality_score"].as_f64().expect("score") >= 0.5);
    }
    for d in &dropped {
        assert!(d["quality_score"].as_f64().expect("score") < 0.5);
        assert_eq!(d["drop_reason"], "docs_only:below_min_score");
    }
    // The model learned what it was trained for: Debian documentation scores high, poetry low.
    let doc_share = kept.iter().filter(|d| d["source"].as_str().is_some_and(|s| s.contains("-doc") || s.contains("-help"))).count() as f64
        / kept.len() as f64;
    let poetry_kept = kept.iter().filter(|d| d["source"] == "npm:chinese-poetry").count();
    assert!(doc_share > 0.8, "share of documentation among kept: {doc_share}");
    assert!(poetry_kept < 10, "{poetry_kept} poems kept");
}

#[test]
fn train_classifier_reports_held_out_metrics_and_saves_a_model_that_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = Vec::new();
    for i in 0..400 {
        let (label, text) = if i % 2 == 0 {
            ("code", format!("fn main() {{ let x{i} = vec![1, 2, 3]; println!(\"{{:?}}\", x{i}); }}"))
        } else {
            ("prose", format!("The river wound slowly through the valley as evening number {i} fell over the quiet town."))
        };
        lines.push(serde_json::json!({"text": text, "kind": label}).to_string());
    }
    std::fs::write(dir.path().join("labelled.jsonl"), lines.join("\n")).expect("write");
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &["train-classifier", "labelled.jsonl", "-o", "m.tmcls", "--label-field", "kind", "--holdout", "0.25"],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("held out:"), "{out}");
    let accuracy: f64 =
        out.split("accuracy ").nth(1).and_then(|s| s.split(',').next()).and_then(|s| s.parse().ok()).expect("accuracy printed");
    assert!(accuracy > 0.95, "{out}");
    assert!(out.contains("2 labels: code, prose"), "{out}");
    // The model works in a pipeline.
    let config = r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "in"
type = "jsonl"
paths = ["labelled.jsonl"]
[[stage]]
name = "q"
type = "quality_model"
inputs = ["in"]
model = "m.tmcls"
label = "prose"
min_score = 0.5
[[sink]]
name = "out"
type = "jsonl"
inputs = ["q"]
path = "out/kept"
"#;
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let kept = read_parts(&dir.path().join("out/kept"));
    let prose = kept.iter().filter(|d| d["kind"] == "prose").count();
    assert!(prose as f64 / kept.len() as f64 > 0.95 && kept.len() > 180, "{} kept, {prose} prose", kept.len());
    // An unknown label is a clear pre-flight error.
    std::fs::write(dir.path().join("p.toml"), config.replace("label = \"prose\"", "label = \"poetry\"")).expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml"]));
    assert_eq!(code, 1);
    assert!(err.contains("has no label `poetry` (labels: code, prose)"), "{err}");
}

/// Writes a copy of a dataset whose tokens are globally shuffled: nothing left to learn.
fn shuffled_copy(src: &std::path::Path, dst: &std::path::Path) {
    let docs = tokenmill_shards::read_dataset_tokens(src).expect("read");
    let mut all: Vec<u32> = docs.concat();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for i in (1..all.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        all.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut manifest = tokenmill_shards::Manifest::read(src).expect("manifest");
    let dtype = tokenmill_shards::DType::for_vocab(manifest.vocab_size as usize);
    let mut w = tokenmill_shards::ShardSetWriter::new(dst, "train", dtype, tokenmill_shards::ShardTarget::default()).expect("writer");
    let mut at = 0;
    for d in &docs {
        w.add_document(&all[at..at + d.len()]).expect("add");
        at += d.len();
    }
    manifest.shards = w.finish().expect("finish");
    manifest.eos_id = None;
    manifest.write(dst).expect("manifest");
}

#[test]
fn verify_train_passes_on_quickstart_shards_and_fails_on_shuffled_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    link_repo(dir.path());
    let (code, out, err) =
        outcome(&run_in(dir.path(), &["run", &root().join("examples/quickstart.toml").display().to_string(), "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let tok = tokenizer_path().display().to_string();
    let (code, out, err) = outcome(&run_in(dir.path(), &["verify", "out/shards", "--train", "--tokenizer", &tok, "--device", "auto"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("train check ok"), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/shards/verify-report/report.json")).expect("report"))
            .expect("json");
    assert!(report["heldout_loss"].as_f64().expect("loss") < 0.95 * report["unigram_entropy"].as_f64().expect("entropy"));
    assert_eq!(report["losses"].as_array().map(Vec::len), Some(300));
    assert!(!report["generated"].as_str().expect("generated").is_empty());
    let svg = std::fs::read_to_string(dir.path().join("out/shards/verify-report/loss.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));

    // The same check on shuffled tokens must fail: it can tell learnable data from noise.
    shuffled_copy(&dir.path().join("out/shards"), &dir.path().join("shuffled"));
    let (code, out, err) = outcome(&run_in(dir.path(), &["verify", "shuffled", "--train", "--steps", "150"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("train check FAILED"), "{out}");

    // cuda without a GPU is a clear error.
    let (code, _, err) = outcome(&run_in(dir.path(), &["verify", "out/shards", "--train", "--device", "cuda"]));
    if code != 0 {
        assert!(err.to_lowercase().contains("cuda"), "{err}");
    }
}
