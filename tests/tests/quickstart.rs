//! The minimal pipeline (examples/minimal.toml), end to end: shards must hold exactly the tokenizer's encoding of the
//! documents the pipeline keeps, in input order, each followed by EOS.

mod common;

use common::*;
use tokenmill_tokenize::{EncodeOptions, Tokenizer};

/// Reads the sample corpus the way the quickstart does (files in name order, lines in order).
fn sample_docs() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("data/sample"))
        .expect("sample dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = String::from_utf8(
            zstd::decode_all(std::fs::File::open(f).expect("open")).expect("zstd"),
        )
        .expect("utf8");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            docs.push((
                v["id"].as_str().expect("id").to_string(),
                v["text"].as_str().expect("text").to_string(),
            ));
        }
    }
    docs
}

#[test]
fn quickstart_shards_equal_the_tokenizers_encoding_of_kept_documents() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root().join("examples/minimal.toml"), dir.path().join("quickstart.toml"))
        .expect("copy config");
    std::os::unix::fs::symlink(root().join("data"), dir.path().join("data")).expect("link data");
    std::os::unix::fs::symlink(root().join("tokenizers"), dir.path().join("tokenizers"))
        .expect("link tokenizers");

    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["run", "quickstart.toml", "--progress", "off"]));
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("run complete"), "{stdout}");

    let tokenizer = Tokenizer::from_file(&tokenizer_path()).expect("tokenizer");
    let eos = tokenizer.info().eos_id.expect("eos");
    let docs = sample_docs();
    let kept: Vec<&(String, String)> =
        docs.iter().filter(|(_, t)| t.chars().count() >= 20).collect();
    let rejected: Vec<&(String, String)> =
        docs.iter().filter(|(_, t)| t.chars().count() < 20).collect();
    assert!(!kept.is_empty() && !rejected.is_empty(), "the sample exercises both ports");

    let shards =
        tokenmill_shards::read_dataset_tokens(&dir.path().join("out/shards")).expect("read shards");
    assert_eq!(shards.len(), kept.len());
    for (got, (id, text)) in shards.iter().zip(&kept) {
        let want = tokenizer
            .encode_document(text, EncodeOptions { bos: false, eos: true })
            .expect("encode");
        assert_eq!(got, &want, "document {id}");
        assert_eq!(got.last(), Some(&eos));
    }

    let manifest =
        tokenmill_shards::Manifest::read(&dir.path().join("out/shards")).expect("manifest");
    assert_eq!(manifest.documents, kept.len() as u64);
    assert_eq!(manifest.tokenizer_hash, tokenizer.info().hash);
    assert_eq!(manifest.dtype, "uint16");
    assert_eq!(manifest.inputs.len(), 2);
    // Which encoder tokenized the shards is recorded: the shipped tokenizer runs on the fast path.
    let path = "fast (cl100k/llama3 split (hand-written), byte-level BPE)";
    assert_eq!(manifest.tokenizer_encode_path.as_deref(), Some(path));
    assert_eq!(tokenizer.encode_path().to_string(), path);

    let rejects = read_parts(&dir.path().join("out/rejected"));
    assert_eq!(rejects.len(), rejected.len());
    for (r, (id, _)) in rejects.iter().zip(&rejected) {
        assert_eq!(r["id"], id.as_str());
        assert_eq!(r["drop_reason"], "length:too_short");
    }

    // Counters add up: for every stage, in = out + dropped.
    let stats = stats(dir.path());
    assert_eq!(stats["status"], "complete");
    for name in ["length", "tokens"] {
        checked_drops(node(&stats, name));
    }
    assert_eq!(
        node(&stats, "length")["dropped"]["too_short"].as_u64(),
        Some(rejected.len() as u64)
    );
    assert_eq!(node(&stats, "shards")["tokens_out"].as_u64(), Some(manifest.tokens));
    assert_eq!(node(&stats, "tokens")["report"]["encode_path"], "fast");
    assert_eq!(
        node(&stats, "tokens")["report"]["encode_detail"],
        "cl100k/llama3 split (hand-written), byte-level BPE"
    );

    let (code, stdout, _) = outcome(&run_in(dir.path(), &["verify", "out/shards"]));
    assert_eq!(code, 0, "{stdout}");

    // inspect decodes a document back to its text (plus the EOS token).
    let tok = tokenizer_path().display().to_string();
    let (code, stdout, stderr) =
        outcome(&run_in(dir.path(), &["inspect", "out/shards", "--tokenizer", &tok, "--doc", "5"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("{}<|endoftext|>", kept[5].1)), "{stdout}");
    assert!(stdout.contains(&format!("{} documents", kept.len())), "{stdout}");
    assert!(stdout.contains(&format!("tokenizer {}: {path}", tokenizer.info().hash)), "{stdout}");

    // verify --source: the shards hold the pipeline's kept text; a different pipeline does not match.
    let (code, stdout, stderr) = outcome(&run_in(
        dir.path(),
        &["verify", "out/shards", "--source", "quickstart.toml", "--sample", "40"],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("source check ok: 40 sampled documents of 4734"), "{stdout}");
    assert!(stdout.contains(&format!("source check tokenizer: {path}")), "{stdout}");
    let other = std::fs::read_to_string(dir.path().join("quickstart.toml"))
        .expect("config")
        .replace("min_chars = 20", "min_chars = 200");
    std::fs::write(dir.path().join("other.toml"), other).expect("write");
    let (code, stdout, _) =
        outcome(&run_in(dir.path(), &["verify", "out/shards", "--source", "other.toml"]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("FAIL source: the pipeline keeps"), "{stdout}");
}

#[test]
fn dry_run_and_validate_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root().join("examples/minimal.toml"), dir.path().join("q.toml")).expect("copy");
    std::os::unix::fs::symlink(root().join("data"), dir.path().join("data")).expect("link");
    std::os::unix::fs::symlink(root().join("tokenizers"), dir.path().join("tokenizers"))
        .expect("link");
    let (code, stdout, stderr) = outcome(&run_in(dir.path(), &["run", "q.toml", "--dry-run"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("source sample (jsonl): 2 files"), "{stdout}");
    assert!(stdout.contains("shards (megatron) <- tokens"), "{stdout}");
    let (code, stdout, _) = outcome(&run_in(dir.path(), &["validate", "q.toml"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(!dir.path().join("out").exists(), "nothing written");
}

#[test]
fn init_writes_a_config_that_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(root().join("data"), dir.path().join("data")).expect("link");
    std::os::unix::fs::symlink(root().join("tokenizers"), dir.path().join("tokenizers"))
        .expect("link");
    let (code, _, _) = outcome(&run_in(dir.path(), &["init"]));
    assert_eq!(code, 0);
    let (code, stdout, stderr) = outcome(&run_in(dir.path(), &["validate", "tokenmill.toml"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    // A second init refuses to overwrite.
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["init"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("--force"), "{stderr}");
}

#[test]
fn invalid_config_reports_every_error_with_lines_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "version = 1\n[[source]]\nname = \"a\"\ntype = \"jsonl\"\npaths = [\"x\"]\nbogus = 1\n\
        [[stage]]\nname = \"t\"\ntype = \"tokenize\"\ninputs = [\"a\"]\ntokenizer = \"t.json\"\n\
        [[sink]]\nname = \"o\"\ntype = \"jsonl\"\ninputs = [\"t\"]\npath = \"o\"\n";
    std::fs::write(dir.path().join("bad.toml"), text).expect("write");
    let (code, _, stderr) = outcome(&run_in(dir.path(), &["validate", "bad.toml"]));
    assert_eq!(code, 2, "{stderr}");
    // A field error and a graph error, found in the same pass, in line order.
    let first =
        stderr.find("bad.toml:6:1: error: source `a`: unknown field `bogus`").expect(&stderr);
    let second = stderr
        .find("bad.toml:15:1: error: `o` (jsonl) takes documents, but `t` (tokenize) gives tokens")
        .expect(&stderr);
    assert!(first < second, "{stderr}");
    assert!(stderr.contains("2 error(s)"), "{stderr}");
    let (code, _, _) = outcome(&run_in(dir.path(), &["run", "bad.toml"]));
    assert_eq!(code, 2);
}
