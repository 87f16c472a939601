//! `verify_dir` on clean and damaged datasets: every damage is reported with the right file
//! and, where it has one, the byte offset.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tokenmill_shards::{
    DType, Error, Manifest, Problem, ShardSetWriter, ShardTarget, ShardWriter, VerifyOptions,
    read_dataset_tokens, verify_dir,
};

const EOS: u32 = 0;

/// Writes `docs` (each gets EOS appended) into shards of at most 6 tokens, plus a manifest.
fn write_dataset(dir: &Path, dtype: DType, docs: &[Vec<u32>]) -> Manifest {
    let target = ShardTarget { max_tokens: Some(6), max_bytes: None };
    let mut set = ShardSetWriter::new(dir, "train", dtype, target).expect("new set");
    for doc in docs {
        let mut d = doc.clone();
        d.push(EOS);
        set.add_document(&d).expect("add");
    }
    let shards = set.finish().expect("finish");
    let manifest = Manifest {
        format: "megatron".into(),
        format_version: 1,
        tool_version: "test".into(),
        dtype: dtype.name().into(),
        vocab_size: 1000,
        eos_id: Some(EOS),
        bos_id: None,
        tokenizer_hash: "tok".into(),
        tokenizer_encode_path: None,
        config_hash: "cfg".into(),
        inputs: vec!["a.jsonl".into()],
        documents: shards.iter().map(|s| s.documents).sum(),
        tokens: shards.iter().map(|s| s.tokens).sum(),
        shards,
    };
    manifest.write(dir).expect("write manifest");
    manifest
}

fn opts() -> VerifyOptions {
    VerifyOptions { vocab_size: Some(1000), eos_id: Some(EOS), check_checksums: true }
}

fn sample_docs() -> Vec<Vec<u32>> {
    vec![vec![5, 6, 7], vec![8], vec![9, 10, 11, 12], vec![999]]
}

fn problems(dir: &Path, opts: &VerifyOptions) -> Vec<Problem> {
    verify_dir(dir, opts).expect("verify runs").problems
}

fn file_name(p: &Problem) -> String {
    p.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn shard_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn clean_dataset_verifies_and_reads_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = write_dataset(tmp.path(), DType::U16, &sample_docs());
    let names: Vec<&str> = m.shards.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["train_00000", "train_00001", "train_00002"]);
    let report = verify_dir(tmp.path(), &opts()).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.shards, report.documents, report.tokens), (3, 4, 13));
    let mut expected = sample_docs();
    expected.iter_mut().for_each(|d| d.push(EOS));
    assert_eq!(read_dataset_tokens(tmp.path()).expect("read"), expected);
}

#[test]
fn truncated_bin_is_reported_at_its_length() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_dataset(tmp.path(), DType::U16, &sample_docs());
    let bin = shard_file(tmp.path(), "train_00001.bin");
    let bytes = fs::read(&bin).expect("read");
    fs::write(&bin, &bytes[..bytes.len() - 3]).expect("truncate");
    let found = problems(tmp.path(), &opts());
    assert!(found.iter().all(|p| p.file == bin), "{found:?}");
    let p = found.iter().find(|p| p.message.starts_with("truncated")).expect("truncation reported");
    assert_eq!(p.file, bin);
    assert_eq!(p.offset, Some(bytes.len() as u64 - 3));
    assert!(p.to_string().contains("train_00001.bin: at byte 7: truncated"), "{p}");
}

#[test]
fn truncated_idx_is_reported_at_its_length() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_dataset(tmp.path(), DType::I32, &sample_docs());
    let idx = shard_file(tmp.path(), "train_00000.idx");
    let bytes = fs::read(&idx).expect("read");
    fs::write(&idx, &bytes[..bytes.len() - 1]).expect("truncate");
    let found = problems(tmp.path(), &opts());
    assert!(
        found.iter().any(|p| p.file == idx && p.offset == Some(bytes.len() as u64 - 1)),
        "{found:?}"
    );
}

#[test]
fn flipped_bit_in_bin_fails_the_checksum() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_dataset(tmp.path(), DType::U16, &sample_docs());
    let bin = shard_file(tmp.path(), "train_00002.bin");
    let mut bytes = fs::read(&bin).expect("read");
    bytes[0] ^= 0x01; // 999 -> 998: still a valid token, only the checksum can tell
    fs::write(&bin, &bytes).expect("flip");
    let found = problems(tmp.path(), &opts());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, bin);
    assert!(found[0].message.contains("checksum"), "{}", found[0]);
    let no_sums = VerifyOptions { check_checksums: false, ..opts() };
    assert!(problems(tmp.path(), &no_sums).is_empty());
}

#[test]
fn flipped_bit_in_a_large_bin_is_located_by_block() {
    // 2.5 checksum blocks of u32 tokens; a flip in the second block is reported at its start.
    let tmp = tempfile::tempdir().expect("tempdir");
    let block = tokenmill_shards::CHECKSUM_BLOCK_BYTES;
    let tokens = usize::try_from(block * 5 / 2 / 4).expect("fits");
    let doc: Vec<u32> = (0..tokens as u32).map(|i| 1 + i % 900).collect();
    let target = ShardTarget { max_tokens: None, max_bytes: None };
    let mut set = ShardSetWriter::new(tmp.path(), "train", DType::I32, target).expect("new set");
    set.add_document(&doc).expect("add");
    let shards = set.finish().expect("finish");
    assert_eq!(shards[0].bin_blocks_xxh3.len(), 3, "two full blocks and a partial one");
    let manifest = Manifest {
        format: "megatron".into(),
        format_version: 1,
        tool_version: "test".into(),
        dtype: DType::I32.name().into(),
        vocab_size: 1000,
        eos_id: None,
        bos_id: None,
        tokenizer_hash: "tok".into(),
        tokenizer_encode_path: None,
        config_hash: "cfg".into(),
        inputs: vec!["a.jsonl".into()],
        documents: 1,
        tokens: shards[0].tokens,
        shards,
    };
    manifest.write(tmp.path()).expect("manifest");
    let bin = shard_file(tmp.path(), "train_00000.bin");
    let mut bytes = fs::read(&bin).expect("read");
    let at = usize::try_from(block + 12_345).expect("fits");
    bytes[at] ^= 0x01; // a token that stays in range: only a checksum can tell
    fs::write(&bin, &bytes).expect("flip");
    let opts = VerifyOptions { vocab_size: Some(1000), eos_id: None, check_checksums: true };
    let found = problems(tmp.path(), &opts);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].offset, Some(block), "{}", found[0]);
    let end = (2 * block).to_string();
    assert!(found[0].message.contains(&format!("bytes {block}..{end}")), "{}", found[0]);
}

#[test]
fn flipped_bit_in_idx_is_located() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_dataset(tmp.path(), DType::U16, &sample_docs());
    let idx = shard_file(tmp.path(), "train_00000.idx");
    let mut bytes = fs::read(&idx).expect("read");
    bytes[34 + 4 * 2 + 8] ^= 0x02; // pointer of sequence 1: 8 -> 10
    fs::write(&idx, &bytes).expect("flip");
    let found = problems(tmp.path(), &opts());
    assert!(found.iter().all(|p| p.file == idx), "{found:?}");
    assert!(found.iter().any(|p| p.offset == Some(50)), "{found:?}");
    assert!(found.iter().any(|p| p.message.contains("checksum")), "{found:?}");
}

#[test]
fn vocab_and_eos_violations_report_bin_offsets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_dataset(tmp.path(), DType::U16, &sample_docs());
    let strict = VerifyOptions { vocab_size: Some(999), eos_id: Some(12), check_checksums: false };
    let found = problems(tmp.path(), &strict);
    let summary: Vec<(String, Option<u64>)> =
        found.iter().map(|p| (file_name(p), p.offset)).collect();
    assert_eq!(
        summary,
        [
            ("train_00000.bin".to_string(), Some(6)), // doc 0 ends with 0, not 12
            ("train_00001.bin".to_string(), Some(8)), // doc 0 ends with 0
            ("train_00002.bin".to_string(), Some(0)), // 999 >= 999
            ("train_00002.bin".to_string(), Some(2)), // ends with 0
        ],
        "{found:?}"
    );
    assert!(found[0].message.contains("(and 1 more)"), "{}", found[0]);
}

#[test]
fn stray_files_and_bad_totals_are_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut m = write_dataset(tmp.path(), DType::U16, &sample_docs());
    fs::write(tmp.path().join("train_00009.bin.tmp"), b"").expect("tmp");
    fs::write(tmp.path().join("old_00000.idx"), b"").expect("stray");
    m.tokens += 1;
    m.write(tmp.path()).expect("rewrite manifest");
    let names: Vec<String> = problems(tmp.path(), &opts()).iter().map(file_name).collect();
    assert_eq!(names, ["manifest.json", "old_00000.idx", "train_00009.bin.tmp"]);
}

#[test]
fn missing_shard_and_wrong_dtype_are_problems_not_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut m = write_dataset(tmp.path(), DType::U16, &sample_docs());
    fs::remove_file(tmp.path().join("train_00001.bin")).expect("remove");
    m.dtype = "int32".into();
    m.write(tmp.path()).expect("rewrite manifest");
    let found = problems(tmp.path(), &opts());
    assert!(found.iter().any(|p| p.offset == Some(17)), "{found:?}");
    assert!(found.iter().any(|p| file_name(p) == "train_00001.bin"), "{found:?}");
}

#[test]
fn missing_manifest_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert!(matches!(verify_dir(tmp.path(), &opts()), Err(Error::Io { .. })));
}

#[test]
fn token_overflow_names_token_and_dtype() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut w = ShardWriter::create(tmp.path(), "s", DType::U16).expect("create");
    w.add_document(&[1, 2]).expect("fits");
    let err = w.add_document(&[3, 65_536]).expect_err("overflow");
    assert!(matches!(
        err,
        Error::TokenOverflow { token: 65_536, dtype: DType::U16, document: 1, .. }
    ));
    assert!(err.to_string().contains("65536"), "{err}");
    assert_eq!((w.documents(), w.tokens(), w.bin_bytes()), (1, 2, 4));
    let mut w32 = ShardWriter::create(tmp.path(), "t", DType::I32).expect("create");
    assert!(w32.add_document(&[i32::MAX as u32]).is_ok());
    assert!(w32.add_document(&[i32::MAX as u32 + 1]).is_err());
}

#[test]
fn abort_and_drop_leave_no_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut w = ShardWriter::create(tmp.path(), "a", DType::U16).expect("create");
    w.add_document(&[1, 2, 3]).expect("add");
    assert!(tmp.path().join("a.bin.tmp").exists());
    w.abort();
    let w = ShardWriter::create(tmp.path(), "b", DType::U16).expect("create");
    drop(w);
    let left: Vec<_> = fs::read_dir(tmp.path()).expect("list").collect();
    assert!(left.is_empty(), "{left:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Truncating any shard file anywhere is always reported against that file.
    #[test]
    fn any_truncation_is_detected(
        docs in prop::collection::vec(prop::collection::vec(1u32..1000, 0..8), 1..12),
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        idx_file in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let m = write_dataset(tmp.path(), DType::U16, &docs);
        let shard = &m.shards[pick.index(m.shards.len())];
        let ext = if idx_file { "idx" } else { "bin" };
        let path = tmp.path().join(format!("{}.{ext}", shard.name));
        let bytes = fs::read(&path).expect("read");
        let keep = cut.index(bytes.len());
        fs::write(&path, &bytes[..keep]).expect("truncate");
        let no_sums = VerifyOptions { check_checksums: false, ..opts() };
        let found = problems(tmp.path(), &no_sums);
        prop_assert!(found.iter().any(|p| p.file == path), "{:?}", found);
    }
}

#[test]
fn negative_int32_token_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_dataset(tmp.path(), DType::I32, &sample_docs());
    let bin = shard_file(tmp.path(), "train_00000.bin");
    let mut bytes = fs::read(&bin).expect("read");
    bytes[7] |= 0x80; // second token becomes negative
    fs::write(&bin, &bytes).expect("flip");
    let no_sums = VerifyOptions { check_checksums: false, ..opts() };
    let found = problems(tmp.path(), &no_sums);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((&found[0].file, found[0].offset), (&bin, Some(4)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Flipping any bit of any shard file is always reported against that file.
    #[test]
    fn any_bit_flip_is_detected(
        docs in prop::collection::vec(prop::collection::vec(1u32..1000, 1..8), 1..12),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
        idx_file in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let m = write_dataset(tmp.path(), DType::U16, &docs);
        let shard = &m.shards[pick.index(m.shards.len())];
        let ext = if idx_file { "idx" } else { "bin" };
        let path = tmp.path().join(format!("{}.{ext}", shard.name));
        let mut bytes = fs::read(&path).expect("read");
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        fs::write(&path, &bytes).expect("flip");
        let found = problems(tmp.path(), &opts());
        prop_assert!(found.iter().any(|p| p.file == path), "{:?}", found);
    }
}
