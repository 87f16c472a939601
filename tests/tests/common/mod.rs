//! Shared helpers for the scenario tests.
#![allow(dead_code)]

pub mod s3;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The shipped tokenizer.
pub fn tokenizer_path() -> PathBuf {
    root().join("tokenizers/tokenmill-16k.json")
}

/// A `tokenmill` command.
pub fn tokenmill() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tokenmill-e2e"));
    c.env("RUST_LOG", "info");
    // The tokenizer cache of the tests' own, not the user's.
    c.env("TOKENMILL_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/tokenmill-cache"));
    c
}

/// Runs `tokenmill ARGS...` in `dir` and returns its output.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    tokenmill().current_dir(dir).args(args).output().expect("tokenmill runs")
}

/// Exit code, stdout and stderr as strings.
pub fn outcome(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A pipeline file with one JSONL source over `paths`, a length filter, a tokenizer, a Megatron
/// sink at `out/shards` and a rejects sink at `out/rejected`; `extra_run` goes in `[run]`.
pub fn standard_config(paths: &[String], extra_run: &str) -> String {
    let paths: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
    format!(
        r#"version = 1
[run]
work_dir = "out/work"
{extra_run}

[[source]]
name = "in"
type = "jsonl"
paths = [{paths}]
id_field = "id"

[[stage]]
name = "length"
type = "length"
inputs = ["in"]
min_chars = 20

[[stage]]
name = "tokens"
type = "tokenize"
inputs = ["length"]
tokenizer = {tok:?}

[[sink]]
name = "shards"
type = "megatron"
inputs = ["tokens"]
path = "out/shards"

[[sink]]
name = "rejected"
type = "jsonl"
inputs = ["length.rejected"]
path = "out/rejected"
"#,
        paths = paths.join(", "),
        tok = tokenizer_path().display().to_string(),
    )
}

/// Reads `out/work/stats.json`.
pub fn stats(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("out/work/stats.json")).expect("stats.json exists");
    serde_json::from_str(&text).expect("stats.json parses")
}

/// The stats of node `name`.
pub fn node<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == name)
        .expect("node present")
}

/// Input error count of kind `kind` at node `name`.
pub fn errors(stats: &Value, name: &str, kind: &str) -> u64 {
    node(stats, name)["input_errors"][kind].as_u64().unwrap_or(0)
}

/// Reads every line of every `part-*.jsonl.zst` in `dir`.
pub fn read_parts(dir: &Path) -> Vec<Value> {
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    names.sort();
    let mut out = Vec::new();
    for p in names.iter().filter(|p| p.to_string_lossy().ends_with(".jsonl.zst")) {
        let bytes = zstd::decode_all(std::fs::File::open(p).expect("open")).expect("zstd");
        for line in String::from_utf8(bytes).expect("utf8").lines() {
            out.push(serde_json::from_str(line).expect("json"));
        }
    }
    out
}

/// Writes zstd-compressed bytes.
pub fn write_zst(path: &Path, data: &[u8]) {
    std::fs::write(path, zstd::encode_all(data, 3).expect("zstd")).expect("write");
}

/// A JSONL line for a document.
pub fn doc_line(id: &str, text: &str) -> String {
    serde_json::json!({ "id": id, "text": text }).to_string()
}

/// Files in `dir` (names only), sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => {
            rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
        }
        Err(_) => vec![],
    };
    v.sort();
    v
}

/// The sample corpus cut into `n` plain JSONL files `dir/in/part-NN.jsonl`; returns their glob.
pub fn split_sample(dir: &Path, n: usize) -> String {
    let mut lines = Vec::new();
    for name in ["sample-00.jsonl.zst", "sample-01.jsonl.zst"] {
        let bytes = zstd::decode_all(
            std::fs::File::open(root().join("data/sample").join(name)).expect("sample"),
        )
        .expect("zstd");
        lines.extend(String::from_utf8(bytes).expect("utf8").lines().map(str::to_string));
    }
    let per = lines.len().div_ceil(n);
    std::fs::create_dir_all(dir.join("in")).expect("mkdir");
    for (i, part) in lines.chunks(per).enumerate() {
        std::fs::write(dir.join(format!("in/part-{i:02}.jsonl")), part.join("\n") + "\n")
            .expect("write");
    }
    assert_eq!(lines.chunks(per).count(), n);
    format!("{}/in/*.jsonl", dir.display())
}

/// Every file under `subdirs` of `dir`, by relative path.
pub fn tree_bytes(dir: &Path, subdirs: &[&str]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for sub in subdirs {
        for name in listing(&dir.join(sub)) {
            out.insert(
                format!("{sub}/{name}"),
                std::fs::read(dir.join(sub).join(&name)).expect("read"),
            );
        }
    }
    out
}

/// Work units finished in the ledger of `dir/out/work` whose key starts with `prefix`.
pub fn finished_units(dir: &Path, prefix: &str) -> usize {
    listing(&dir.join("out/work/ledger/units"))
        .iter()
        .filter(|n| n.starts_with(prefix) && n.ends_with(".spool"))
        .count()
}

/// Starts `tokenmill run p.toml -j 1` in `dir` and SIGKILLs it once `at` units with `prefix`
/// are finished; returns whether it was killed (rather than done before).
pub fn kill_after(dir: &Path, prefix: &str, at: usize) -> bool {
    let mut child = tokenmill()
        .current_dir(dir)
        .args(["run", "p.toml", "-j", "1", "--progress", "off"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return false;
        }
        if finished_units(dir, prefix) >= at {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
            return true;
        }
        assert!(std::time::Instant::now() < deadline, "the run never reached {at} finished units");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The documents node `n` of `stats.json` dropped, all rules together, after checking that its
/// counters add up: `docs_in = docs_out + dropped`.
pub fn checked_drops(n: &Value) -> u64 {
    let dropped: u64 = n["dropped"]
        .as_object()
        .expect("dropped")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    let (docs_in, docs_out) = (n["docs_in"].as_u64(), n["docs_out"].as_u64().expect("out"));
    assert_eq!(docs_in, Some(docs_out + dropped), "{}: in = out + dropped", n["name"]);
    dropped
}
