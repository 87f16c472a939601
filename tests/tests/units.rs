//! Large inputs are cut into work units of about `run.unit_bytes`: an uncompressed JSONL file
//! into byte ranges at line boundaries, a Parquet file into runs of row groups. The output is the
//! same as reading each file whole, bad records are reported once with their byte offset in the
//! file, and a job array shares the units of one file out over its tasks.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use serde_json::Value;

/// One JSONL file of the sample corpus plus a few damaged lines, some of them long.
fn big_jsonl(dir: &Path) -> (String, usize) {
    let mut lines = Vec::new();
    for name in ["sample-00.jsonl.zst", "sample-01.jsonl.zst"] {
        let bytes = zstd::decode_all(
            std::fs::File::open(root().join("data/sample").join(name)).expect("sample"),
        )
        .expect("zstd");
        lines.extend(String::from_utf8(bytes).expect("utf8").lines().map(str::to_string));
    }
    let docs = lines.len();
    lines.insert(1000, "{\"id\": \"broken\", \"text\": ".into());
    lines.insert(2000, doc_line("long", &"a very long document line. ".repeat(4000)));
    lines.insert(3000, String::new());
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    std::fs::write(dir.join("in/all.jsonl"), lines.join("\n") + "\n").expect("write");
    (format!("{}/in/all.jsonl", dir.display()), docs + 1)
}

fn config(source: &str, kind: &str, unit: &str) -> String {
    standard_config(&[source.to_string()], &format!("batch_docs = 64\nunit_bytes = {unit:?}"))
        .replace("type = \"jsonl\"\npaths", &format!("type = {kind:?}\npaths"))
        .replace("path = \"out/shards\"", "path = \"out/shards\"\nshard_max_tokens = 100000")
}

fn tokens(dir: &Path) -> Vec<Vec<u32>> {
    tokenmill_shards::read_dataset_tokens(&dir.join("out/shards")).expect("dataset")
}

/// A node's counters without its compute time.
fn counters(stats: &Value, name: &str) -> Value {
    let mut n = node(stats, name).clone();
    n.as_object_mut().expect("object").remove("compute_secs");
    n
}

fn run(dir: &Path, config: &str) -> Value {
    std::fs::write(dir.join("p.toml"), config).expect("write");
    let (code, out, err) = outcome(&run_in(dir, &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    stats(dir)
}

#[test]
fn a_jsonl_file_cut_into_byte_ranges_reads_as_one_file() {
    let data = tempfile::tempdir().expect("tempdir");
    let (path, docs) = big_jsonl(data.path());
    let whole = tempfile::tempdir().expect("tempdir");
    let whole_stats = run(whole.path(), &config(&path, "jsonl", "1GiB"));
    assert_eq!(whole_stats["units"]["processed"].as_u64(), Some(1));
    let cut = tempfile::tempdir().expect("tempdir");
    let cut_stats = run(cut.path(), &config(&path, "jsonl", "64KiB"));
    let size = std::fs::metadata(&path).expect("size").len();
    assert_eq!(cut_stats["units"]["processed"].as_u64(), Some(size.div_ceil(64 << 10)));
    assert!(
        tokens(cut.path()) == tokens(whole.path()),
        "the ranges hold every document once, in order"
    );
    assert_eq!(node(&whole_stats, "in")["docs_in"].as_u64(), Some(docs as u64));
    for key in ["input_files", "input_bytes", "decoded_bytes"] {
        assert_eq!(cut_stats[key], whole_stats[key], "{key}");
    }
    assert_eq!(counters(&cut_stats, "in"), counters(&whole_stats, "in"));
    assert_eq!(errors(&cut_stats, "in", "malformed_json"), 1, "the broken line is reported once");
    // The error names the file and the byte offset of the line.
    let broken = std::fs::read_to_string(&path)
        .expect("read")
        .find("{\"id\": \"broken\"")
        .expect("broken line");
    let (code, _, err) =
        outcome(&run_in(cut.path(), &["run", "p.toml", "--progress", "off", "--restart"]));
    assert_eq!(code, 0);
    assert!(err.contains(&format!("{path} (byte {broken}): malformed_json")), "{err}");
    // A job array deals the ranges of the one file over its tasks.
    let array = tempfile::tempdir().expect("tempdir");
    std::fs::write(array.path().join("p.toml"), config(&path, "jsonl", "64KiB")).expect("write");
    // The dry run says which ranges each task of the first step reads.
    let (code, out, err) =
        outcome(&run_in(array.path(), &["run", "p.toml", "--dry-run", "--world-size", "3"]));
    assert_eq!(code, 0, "{err}");
    let units = size.div_ceil(64 << 10);
    assert!(
        out.contains("task 0: units 0..")
            && out.contains(&format!("all.jsonl [bytes 0..{}]", 64 << 10)),
        "{out}"
    );
    assert!(out.contains(&format!("..{units} (")), "the last task ends at the last unit: {out}");
    let (code, out, err) = outcome(&run_in(
        array.path(),
        &["plan", "p.toml", "--world-size", "3", "--format", "json"],
    ));
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).expect("json");
    for step in plan["steps"].as_array().expect("steps") {
        for task in step["tasks"].as_array().expect("tasks") {
            let argv: Vec<&str> = task["argv"]
                .as_array()
                .expect("argv")
                .iter()
                .map(|a| a.as_str().expect("word"))
                .collect();
            let o = std::process::Command::new(argv[0])
                .current_dir(array.path())
                .args(&argv[1..])
                .output()
                .expect("task");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }
    assert!(tokens(array.path()) == tokens(whole.path()));
    let merged = stats(array.path());
    let shares: Vec<u64> = merged["steps"][0]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["input_bytes"].as_u64().expect("bytes"))
        .collect();
    assert_eq!(shares.iter().sum::<u64>(), size);
    assert!(shares.iter().all(|&s| s > size / 4), "balanced by bytes: {shares:?}");
    assert_eq!(merged["input_files"].as_u64(), Some(1));
}

/// A Parquet file of `rows` documents in row groups of `group` rows.
fn parquet_file(path: &Path, rows: usize, group: usize) {
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, true),
    ]));
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let file = std::fs::File::create(path).expect("create");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).expect("writer");
    let ids: Vec<String> = (0..rows).map(|i| format!("d{i}")).collect();
    let texts: Vec<Option<String>> = (0..rows)
        .map(|i| {
            (i != 333).then(|| {
                format!("parquet document {i}: {}", "some words to tokenize ".repeat(1 + i % 7))
            })
        })
        .collect();
    let columns: Vec<ArrayRef> =
        vec![Arc::new(StringArray::from(ids)), Arc::new(StringArray::from(texts))];
    w.write(&arrow::array::RecordBatch::try_new(schema, columns).expect("batch")).expect("write");
    w.close().expect("close");
}

#[test]
fn a_parquet_file_cut_into_row_groups_reads_as_one_file() {
    let data = tempfile::tempdir().expect("tempdir");
    let path = data.path().join("docs.parquet");
    parquet_file(&path, 2000, 100);
    let path = path.display().to_string();
    let whole = tempfile::tempdir().expect("tempdir");
    let whole_stats = run(whole.path(), &config(&path, "parquet", "1GiB"));
    let cut = tempfile::tempdir().expect("tempdir");
    let cut_stats = run(cut.path(), &config(&path, "parquet", "4KiB"));
    assert!(cut_stats["units"]["processed"].as_u64() > Some(4), "{}", cut_stats["units"]);
    assert!(tokens(cut.path()) == tokens(whole.path()));
    assert_eq!(counters(&cut_stats, "in"), counters(&whole_stats, "in"));
    assert_eq!(errors(&cut_stats, "in", "missing_text"), 1);
    assert_eq!(cut_stats["input_files"].as_u64(), Some(1));
}
