//! `fasttext_classifier` end to end: a pipeline scores 300 held-out documents with a fastText
//! model trained by the `fasttext` PyPI package (`tests/fixtures/fasttext/`, made by
//! `scripts/fasttext-parity.py`), writes each label's probability into the metadata and keeps
//! the documents whose `docs` probability reaches 0.5. Scores and decisions are checked against
//! what `fasttext`'s own `predict` said about the same documents.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

const DOCS: usize = 300;

fn fixture_lines(name: &str) -> Vec<String> {
    let path = root().join("tests/fixtures/fasttext").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .take(DOCS)
        .map(str::to_string)
        .collect()
}

fn config(model: &str) -> String {
    format!(
        r#"version = 1
[run]
work_dir = "out/work"

[[source]]
name = "in"
type = "jsonl"
paths = ["docs.jsonl.zst"]
id_field = "id"

[[stage]]
name = "genre"
type = "fasttext_classifier"
inputs = ["in"]
model = {model:?}
keep_labels = {{ docs = 0.5 }}

[[sink]]
name = "kept"
type = "jsonl"
inputs = ["genre"]
path = "out/kept"

[[sink]]
name = "dropped"
type = "jsonl"
inputs = ["genre.rejected"]
path = "out/dropped"
"#
    )
}

#[test]
fn scores_into_metadata_and_keeps_by_label_as_fasttext_predicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs = fixture_lines("heldout.jsonl");
    write_zst(&dir.path().join("docs.jsonl.zst"), docs.join("\n").as_bytes());
    let model = root().join("tests/fixtures/fasttext/genre.bin");
    std::fs::write(dir.path().join("p.toml"), config(&model.display().to_string())).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");

    // fastText's probabilities per document id (k = -1: every label).
    let mut expected: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (doc, pred) in docs.iter().zip(fixture_lines("predictions.jsonl")) {
        let doc: Value = serde_json::from_str(doc).expect("json");
        let pred: Value = serde_json::from_str(&pred).expect("json");
        let all: Vec<(String, f64)> =
            serde_json::from_value(pred["genre.bin"]["all"].clone()).expect("label list");
        expected.insert(doc["id"].as_str().expect("id").to_string(), all);
    }
    let kept = read_parts(&dir.path().join("out/kept"));
    let dropped = read_parts(&dir.path().join("out/dropped"));
    assert_eq!(kept.len() + dropped.len(), DOCS);
    assert!(
        kept.len() > 20 && dropped.len() > 20,
        "{} kept, {} dropped",
        kept.len(),
        dropped.len()
    );
    for (doc, was_kept) in kept.iter().map(|d| (d, true)).chain(dropped.iter().map(|d| (d, false)))
    {
        let id = doc["id"].as_str().expect("id");
        let want = &expected[id];
        for (label, p) in want {
            let got = doc[label.as_str()].as_f64().unwrap_or_else(|| panic!("{id}: no {label}"));
            assert!((got - p).abs() <= 1e-4, "{id} {label}: {got} here, {p} in fastText");
        }
        let docs_p = want.iter().find(|(l, _)| l == "__label__docs").map_or(0.0, |(_, p)| *p);
        if (docs_p - 0.5).abs() > 1e-4 {
            assert_eq!(was_kept, docs_p >= 0.5, "{id}: P(docs) = {docs_p}");
        }
        if !was_kept {
            assert_eq!(doc["drop_reason"], "genre:fasttext_low_score");
        }
    }
    let stats = stats(dir.path());
    let genre = node(&stats, "genre");
    assert_eq!(genre["docs_in"], DOCS as u64, "{genre}");
    assert_eq!(genre["docs_out"], kept.len() as u64, "{genre}");
}
