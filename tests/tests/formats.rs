//! Parquet in and out, gzip JSONL, field mapping and the SQL `where` of a source.

mod common;

use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::*;

fn write_parquet(path: &std::path::Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("content", DataType::Utf8, true),
        Field::new("lang", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
    ]));
    let n = 50;
    let ids: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let texts: Vec<Option<String>> = (0..n)
        .map(|i| if i == 7 { None } else { Some(format!("parquet document {i} says hello")) })
        .collect();
    let langs: Vec<&str> = (0..n).map(|i| if i % 2 == 0 { "en" } else { "de" }).collect();
    let scores: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(texts)),
            Arc::new(StringArray::from(langs)),
            Arc::new(Float64Array::from(scores)),
        ],
    )
    .expect("batch");
    let file = std::fs::File::create(path).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

#[test]
fn parquet_source_with_where_to_parquet_and_jsonl_sinks() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_parquet(&dir.path().join("docs.parquet"));
    let config = r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "pq"
type = "parquet"
paths = ["docs.parquet"]
text_field = "content"
id_field = "doc_id"
where = "lang = 'en' AND score >= 0.5 AND text LIKE '%hello'"
[[sink]]
name = "as_parquet"
type = "parquet"
inputs = ["pq"]
path = "out/pq"
[[sink]]
name = "as_jsonl"
type = "jsonl"
inputs = ["pq"]
path = "out/jsonl"
"#;
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    // Even rows from 25 on are English with score >= 0.5.
    let expect: Vec<String> = (25..50).filter(|i| i % 2 == 0).map(|i| format!("p{i}")).collect();
    let jsonl = read_parts(&dir.path().join("out/jsonl"));
    let ids: Vec<&str> = jsonl.iter().map(|d| d["id"].as_str().expect("id")).collect();
    assert_eq!(ids, expect);
    assert_eq!(jsonl[0]["lang"], "en");
    assert_eq!(jsonl[0]["score"].as_f64(), Some(26.0 / 50.0));

    let file =
        std::fs::File::open(dir.path().join("out/pq/part-00000.parquet")).expect("parquet part");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("open")
        .build()
        .expect("reader");
    let mut got = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let col = batch.column_by_name("id").expect("id column");
        let col = col.as_string::<i32>();
        got.extend((0..col.len()).map(|i| col.value(i).to_string()));
        let meta = batch
            .column_by_name("metadata")
            .expect("metadata")
            .as_string::<i32>()
            .value(0)
            .to_string();
        let meta: serde_json::Value = serde_json::from_str(&meta).expect("metadata json");
        assert_eq!(meta["lang"], "en");
    }
    assert_eq!(got, expect);

    let stats = stats(dir.path());
    assert_eq!(errors(&stats, "pq", "missing_text"), 1, "row 8 has a null text");
    assert_eq!(node(&stats, "pq")["dropped"]["where"].as_u64(), Some(49 - expect.len() as u64));
}

#[test]
fn gzip_jsonl_with_metadata_selection() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..10 {
        writeln!(enc, "{}", serde_json::json!({"id": i, "body": format!("text number {i}"), "url": "http://x", "keep": i})).expect("write");
    }
    std::fs::write(dir.path().join("a.jsonl.gz"), enc.finish().expect("gz")).expect("write");
    let config = r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "gz"
type = "jsonl"
paths = ["a.jsonl.gz"]
text_field = "body"
id_field = "id"
metadata_fields = ["keep"]
[[sink]]
name = "out"
type = "jsonl"
inputs = ["gz"]
path = "out/docs"
"#;
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let docs = read_parts(&dir.path().join("out/docs"));
    assert_eq!(docs.len(), 10);
    assert_eq!(docs[3], serde_json::json!({"id": "3", "text": "text number 3", "keep": 3}));
}

#[test]
fn where_stage_filters_on_metadata_and_train_tokenizer_reads_a_configured_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: Vec<String> = (0..40)
        .map(|i| serde_json::json!({"id": i, "text": format!("text {i} in some language or other"), "lang": if i % 4 == 0 { "en" } else { "de" }}).to_string())
        .collect();
    std::fs::write(dir.path().join("in.jsonl"), lines.join("\n")).expect("write");
    let config = r#"version = 1
[run]
work_dir = "out/work"
[[source]]
name = "in"
type = "jsonl"
paths = ["in.jsonl"]
id_field = "id"
[[stage]]
name = "english"
type = "where"
inputs = ["in"]
sql = "lang = 'en'"
[[sink]]
name = "kept"
type = "jsonl"
inputs = ["english"]
path = "out/kept"
[[sink]]
name = "other"
type = "jsonl"
inputs = ["english.rejected"]
path = "out/other"
"#;
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(read_parts(&dir.path().join("out/kept")).len(), 10);
    let other = read_parts(&dir.path().join("out/other"));
    assert_eq!(other.len(), 30);
    assert_eq!(other[0]["drop_reason"], "english:sql_false");
    // A bad expression is a config error with its line.
    std::fs::write(dir.path().join("bad.toml"), config.replace("lang = 'en'", "lang = = 'en'"))
        .expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["validate", "bad.toml"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml:13:1: error: stage `english`: invalid `sql` expression"),
        "{err}"
    );
    // The configured source feeds tokenizer training.
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &[
            "train-tokenizer",
            "--config",
            "p.toml",
            "--source",
            "in",
            "-o",
            "tok.json",
            "--vocab-size",
            "300",
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(dir.path().join("tok.json").exists());
}

#[test]
fn train_tokenizer_takes_a_pattern_family_and_reports_held_out_compression() {
    let dir = tempfile::tempdir().expect("tempdir");
    let texts = [
        "The numbers 12345 and 678 are here.",
        "我们在北京吃了烤鸭，味道非常好。",
        "It's 2024: they're learning.",
    ];
    let lines: Vec<String> = (0..60)
        .map(|i| {
            serde_json::json!({"text": texts[i % 3], "lang": if i % 3 == 1 { "zh" } else { "en" }})
                .to_string()
        })
        .collect();
    std::fs::write(dir.path().join("train.jsonl"), lines.join("\n")).expect("write");
    std::fs::write(dir.path().join("heldout.jsonl"), lines[..6].join("\n")).expect("write");
    for (family, split) in
        [("qwen2", r"\p{N}|"), ("deepseek-v3", "[一-龥぀-ゟ゠-ヿ]+"), ("llama3", r"\p{N}{1,3}|")]
    {
        let out = format!("{family}.json");
        let (code, stdout, stderr) = outcome(&run_in(
            dir.path(),
            &[
                "train-tokenizer",
                "train.jsonl",
                "-o",
                &out,
                "--vocab-size",
                "400",
                "--pattern",
                family,
                "--eval",
                "heldout.jsonl",
            ],
        ));
        assert_eq!(code, 0, "{stdout}{stderr}");
        let json = std::fs::read_to_string(dir.path().join(&out)).expect("written");
        assert!(
            json.contains(&split.replace('\\', "\\\\")),
            "{family}: the pattern is in the tokenizer"
        );
        // Held-out compression per language and overall.
        for lang in ["all", "en", "zh"] {
            assert!(stdout.contains(&format!("held-out {lang}: ")), "{family}: {stdout}");
        }
        let tok = tokenmill_tokenize::Tokenizer::from_file(&dir.path().join(&out)).expect("loads");
        assert!(tok.has_fast_path(), "{family}: {}", tok.encode_path());
        assert_eq!(
            tok.encode(texts[0]).expect("encodes"),
            tok.reference_encode(texts[0]).expect("encodes")
        );
    }
    let (code, _, stderr) = outcome(&run_in(
        dir.path(),
        &["train-tokenizer", "train.jsonl", "-o", "x.json", "--pattern", "bert"],
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "unknown pattern family \"bert\"; one of gpt2, llama3, qwen2, deepseek-v3, o200k"
        ),
        "{stderr}"
    );
}
