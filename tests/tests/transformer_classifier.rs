//! The `transformer_classifier` stage end to end: real documents through the tokenizer and a
//! BERT (regression) and an XLM-R (two labels) checkpoint saved by `transformers`, the scores
//! in the output against what the Hugging Face tokenizer and PyTorch give
//! (`scripts/make-encoder-fixtures.py` recorded them in `text_cases.json`).

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::Value;

fn fixture(name: &str) -> String {
    root().join("engine/tests/fixtures/encoder").join(name).display().to_string()
}

/// PyTorch's logits by document id.
fn reference(model: &str) -> HashMap<String, Vec<f64>> {
    let text =
        std::fs::read_to_string(format!("{}/text_cases.json", fixture(model))).expect("read");
    let rows: Vec<Value> = serde_json::from_str(&text).expect("json");
    rows.iter()
        .map(|r| {
            let logits = r["logits"].as_array().expect("logits").iter();
            (
                r["id"].as_str().expect("id").to_string(),
                logits.map(|x| x.as_f64().expect("f")).collect(),
            )
        })
        .collect()
}

#[test]
fn scores_match_pytorch_and_thresholds_split_the_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"version = 1
[run]
work_dir = "out/work"

[[source]]
name = "docs"
type = "jsonl"
paths = [{texts:?}]
id_field = "id"

[[stage]]
name = "edu"
type = "transformer_classifier"
inputs = ["docs"]
model = {bert:?}
score_field = "edu_score"
min_score = 0.3
batch_tokens = 1024

[[stage]]
name = "xlmr"
type = "transformer_classifier"
inputs = ["docs"]
model = {xlmr:?}
label = "LABEL_1"
device = "auto"

[[sink]]
name = "kept"
type = "jsonl"
inputs = ["edu"]
path = "out/kept"

[[sink]]
name = "dropped"
type = "jsonl"
inputs = ["edu.rejected"]
path = "out/dropped"

[[sink]]
name = "xlmr_scored"
type = "jsonl"
inputs = ["xlmr"]
path = "out/xlmr"
"#,
        texts = fixture("texts.jsonl"),
        bert = fixture("bert-regression"),
        xlmr = fixture("xlmr-2labels"),
    );
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");

    let bert = reference("bert-regression");
    let (kept, dropped) =
        (read_parts(&dir.path().join("out/kept")), read_parts(&dir.path().join("out/dropped")));
    assert_eq!(kept.len() + dropped.len(), bert.len());
    assert!(
        !kept.is_empty() && !dropped.is_empty(),
        "{} kept, {} dropped",
        kept.len(),
        dropped.len()
    );
    for (docs, keep) in [(&kept, true), (&dropped, false)] {
        for d in docs {
            let score = d["edu_score"].as_f64().expect("score");
            let want = bert[d["id"].as_str().expect("id")][0];
            assert!((score - want).abs() < 1e-4, "{}: {score} vs PyTorch {want}", d["id"]);
            assert_eq!(score >= 0.3, keep, "{}", d["id"]);
        }
    }
    for d in &dropped {
        assert_eq!(d["drop_reason"], "edu:below_min_score");
    }

    let xlmr = reference("xlmr-2labels");
    let scored = read_parts(&dir.path().join("out/xlmr"));
    assert_eq!(scored.len(), xlmr.len());
    for d in &scored {
        let l = &xlmr[d["id"].as_str().expect("id")];
        let want = 1.0 / (1.0 + (l[0] - l[1]).exp()); // softmax probability of label 1
        let got = d["classifier_score"].as_f64().expect("score");
        assert!((got - want).abs() < 1e-4, "{}: {got} vs PyTorch {want}", d["id"]);
    }
}

#[test]
fn unsupported_checkpoints_are_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    std::fs::create_dir(&model).expect("mkdir");
    let config = std::fs::read_to_string(format!("{}/config.json", fixture("bert-regression")))
        .expect("read")
        .replace("\"bert\"", "\"deberta-v2\"");
    std::fs::write(model.join("config.json"), config).expect("write");
    std::fs::write(dir.path().join("in.jsonl"), doc_line("a", "some text")).expect("write");
    let pipeline = r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "docs"
type = "jsonl"
paths = ["in.jsonl"]
id_field = "id"
[[stage]]
name = "edu"
type = "transformer_classifier"
inputs = ["docs"]
model = "model"
[[sink]]
name = "kept"
type = "jsonl"
inputs = ["edu"]
path = "out/kept"
"#;
    std::fs::write(dir.path().join("p.toml"), pipeline).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("deberta-v2") && err.contains("xlm-roberta"), "{err}");
}
