//! Deduplication as a barrier stage of the pipeline: everything upstream runs first, the
//! barrier decides over the whole corpus, and the survivors flow on.

mod common;

use common::*;

fn neardup() -> String {
    root().join("tests/fixtures/neardup/docs.jsonl.zst").display().to_string()
}

fn config(extra_stage: &str) -> String {
    format!(
        r#"version = 1
[run]
work_dir = "out/work"
batch_docs = 200

[[source]]
name = "docs"
type = "jsonl"
paths = [{src:?}]
id_field = "id"

[[stage]]
name = "short"
type = "length"
inputs = ["docs"]
min_chars = 50

[[stage]]
name = "fuzzy"
type = "minhash_dedup"
inputs = ["short"]
threshold = 0.8
{extra_stage}

[[sink]]
name = "kept"
type = "jsonl"
inputs = ["fuzzy"]
path = "out/kept"

[[sink]]
name = "dups"
type = "jsonl"
inputs = ["fuzzy.rejected", "short.rejected"]
path = "out/dups"
"#,
        src = neardup()
    )
}

fn run(dir: &std::path::Path, threads: &str) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let (code, out, err) =
        outcome(&run_in(dir, &["run", "p.toml", "-j", threads, "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    (read_parts(&dir.join("out/kept")), read_parts(&dir.join("out/dups")))
}

#[test]
fn minhash_dedup_barrier_removes_near_duplicates_deterministically() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config("")).expect("write");
    let (kept, dups) = run(dir.path(), "2");
    let fuzzy_dups = dups.iter().filter(|d| d["drop_reason"] == "fuzzy:duplicate").count();
    assert_eq!(kept.len() + dups.len(), 4000, "nothing lost");
    assert!((1000..1300).contains(&fuzzy_dups), "{fuzzy_dups} near duplicates removed");
    // No internal bookkeeping leaks into the output.
    assert!(
        kept.iter().all(|d| d.as_object().expect("object").keys().all(|k| !k.starts_with("__")))
    );
    // Kept documents stay in input order.
    let stats = stats(dir.path());
    let f = node(&stats, "fuzzy");
    assert_eq!(
        f["docs_in"].as_u64(),
        Some(
            f["docs_out"].as_u64().expect("out")
                + f["dropped"]["duplicate"].as_u64().expect("dropped")
        )
    );
    assert_eq!(f["report"]["removed"]["total"].as_u64(), Some(fuzzy_dups as u64));
    assert!(f["report"]["clusters"].as_u64().expect("clusters") > 900);

    // Same output with one thread.
    let dir1 = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir1.path().join("p.toml"), config("")).expect("write");
    let (kept1, dups1) = run(dir1.path(), "1");
    assert_eq!(kept, kept1);
    assert_eq!(dups, dups1);

    // Ground truth: of each synthetic pair with Jaccard >= 0.9, at most one copy survives.
    let pairs =
        std::fs::read_to_string(root().join("tests/fixtures/neardup/pairs.jsonl")).expect("pairs");
    let kept_ids: std::collections::HashSet<&str> =
        kept.iter().map(|d| d["id"].as_str().expect("id")).collect();
    let (mut both, mut close) = (0, 0);
    for line in pairs.lines() {
        let p: serde_json::Value = serde_json::from_str(line).expect("pair");
        if p["jaccard_5gram"].as_f64().unwrap_or(0.0) >= 0.9 {
            close += 1;
            if kept_ids.contains(p["a"].as_str().expect("a"))
                && kept_ids.contains(p["b"].as_str().expect("b"))
            {
                both += 1;
            }
        }
    }
    assert!(close > 800 && both * 100 < close * 2, "{both} of {close} close pairs survived twice");
}

#[test]
fn persistent_index_drops_what_earlier_runs_saw() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config("index = \"out/index\"")).expect("write");
    let (kept, _) = run(dir.path(), "2");
    assert!(kept.len() > 2500);
    // The same corpus again: everything was seen before.
    let (kept_again, dups_again) = run(dir.path(), "2");
    assert!(
        kept_again.is_empty(),
        "{} documents survived a second run against the index",
        kept_again.len()
    );
    assert!(dups_again.len() >= 3990);
}

#[test]
fn exact_dedup_then_tokenize() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = Vec::new();
    for i in 0..300 {
        // Every document appears three times: as is, with extra spaces, and upper-cased.
        let text = format!(
            "document {} tells a short story about the number {} and its friends",
            i % 100,
            i % 100
        );
        let text = match i / 100 {
            0 => text,
            1 => text.replace(' ', "   "),
            _ => text.to_uppercase(),
        };
        lines.push(doc_line(&format!("d{i}"), &text));
    }
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n")).expect("write");
    let cfg = format!(
        r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "in"
type = "jsonl"
paths = ["in.jsonl"]
id_field = "id"
[[stage]]
name = "exact"
type = "exact_dedup"
inputs = ["in"]
normalize = {{ lowercase = true, collapse_whitespace = true }}
[[stage]]
name = "tokens"
type = "tokenize"
inputs = ["exact"]
tokenizer = {tok:?}
[[sink]]
name = "shards"
type = "megatron"
inputs = ["tokens"]
path = "out/shards"
"#,
        tok = tokenizer_path().display().to_string()
    );
    std::fs::write(dir.path().join("p.toml"), cfg).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let docs =
        tokenmill_shards::read_dataset_tokens(&dir.path().join("out/shards")).expect("shards");
    assert_eq!(docs.len(), 100, "one copy of each of the 100 texts");
    let tok = tokenmill_tokenize::Tokenizer::from_file(&tokenizer_path()).expect("tokenizer");
    // The first copy (input order) is kept.
    let first = tok.decode(&docs[0]).expect("decode");
    assert!(first.starts_with("document 0 tells"), "{first}");
}
