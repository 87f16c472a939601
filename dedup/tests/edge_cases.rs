//! Inputs at the edges: empty documents and corpora, one document that is a single 20 MB
//! line, and staged files that are corrupt or hold arbitrary (non-UTF-8) bytes when a phase
//! reads them back, which must fail with an error naming the file and the byte offset.

// Tests fail by panicking; `unwrap` there is the assertion.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use tokenmill_dedup::lines::{Boilerplate, LineCounter, LineDedupConfig};
use tokenmill_dedup::phases::{
    self, DedupConfig, Partition, RemoveCursor, RemoveSet, SignatureWriter,
};
use tokenmill_dedup::{DedupReport, Error};

/// Phases 1-3 over `docs`, split into `splits` contiguous splits (some may be empty).
fn dedup(work: &Path, docs: &[&str], config: &DedupConfig, splits: usize) -> DedupReport {
    let per = docs.len().div_ceil(splits).max(1);
    for s in 0..splits {
        let mut w = SignatureWriter::create(work, s as u32, config).expect("create");
        for (id, text) in docs.iter().enumerate().skip(s * per).take(per) {
            w.add(id as u64, text, None).expect("add");
        }
        w.finish().expect("finish");
    }
    phases::run_phase2(work, config, 0, 1).expect("phase 2");
    phases::run_phase3(work, config, None).expect("phase 3")
}

fn removed(work: &Path, config: &DedupConfig) -> Vec<u64> {
    RemoveSet::open(work, config).expect("remove set").ids().to_vec()
}

const TEXT: &str =
    "a document with enough words in it to make several five word shingles for minhash";

#[test]
fn empty_documents_are_duplicates_of_each_other_only() {
    for budget in [0, 256 << 20] {
        let config = DedupConfig { memory_budget: budget, ..DedupConfig::default() };
        let dir = tempfile::tempdir().unwrap();
        let report = dedup(dir.path(), &["", TEXT, "", "\n", TEXT], &config, 2);
        // "" and "\n" normalize to the same empty text: exact duplicates of document 0. Empty
        // documents have no shingles, so they never match the real text.
        assert_eq!(removed(dir.path(), &config), [2, 3, 4], "budget {budget}");
        assert_eq!((report.documents, report.kept, report.clusters), (5, 2, 2));
        assert_eq!(
            report.removed.total,
            report.removed.exact + report.removed.fuzzy + report.removed.index
        );
    }
}

#[test]
fn empty_corpus_and_empty_splits() {
    let config = DedupConfig::default();
    let dir = tempfile::tempdir().unwrap();
    // Three splits, none with a document.
    let report = dedup(dir.path(), &[], &config, 3);
    assert_eq!(report, DedupReport::default());
    assert!(removed(dir.path(), &config).is_empty());
    let mut cursor = RemoveCursor::open(dir.path(), &config).unwrap();
    assert!(!cursor.is_duplicate(0).unwrap());

    // Line dedup of empty documents counts nothing and leaves them as they are.
    let lines = LineDedupConfig::default();
    let mut counter = LineCounter::new(dir.path(), lines).unwrap();
    counter.add("").unwrap();
    counter.add("").unwrap();
    let counts = dir.path().join("empty.lines");
    assert_eq!(counter.finish(&counts).unwrap(), 0);
    let boiler = Boilerplate::from_counts(&[counts], lines).unwrap();
    assert!(boiler.is_empty());
    assert_eq!(boiler.filter("").text, "");
}

/// About 20 MB of words and no newline.
fn huge_line() -> String {
    let mut s = String::with_capacity(21 << 20);
    let mut i = 0u64;
    while s.len() < 20 << 20 {
        s.push_str(&format!("word{} ", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100_000));
        i += 1;
    }
    s
}

#[test]
fn a_single_twenty_megabyte_line() {
    let line = huge_line();
    let no_spaces = "x".repeat(20 << 20);
    let config = DedupConfig { memory_budget: 1 << 20, ..DedupConfig::default() };
    let dir = tempfile::tempdir().unwrap();
    let edited = format!("{line}and one more");
    let docs = [
        line.as_str(),
        TEXT,
        line.as_str(),
        edited.as_str(),
        no_spaces.as_str(),
        no_spaces.as_str(),
    ];
    let report = dedup(dir.path(), &docs, &config, 2);
    // 2: exact copy; 3: a near copy (one word appended to millions); 5: copy of the one-token 4.
    assert_eq!(removed(dir.path(), &config), [2, 3, 5]);
    assert_eq!(report.documents, 6);

    // As one line it is one unit: in two documents, it is boilerplate and goes entirely.
    let lines = LineDedupConfig { memory_budget: 1 << 10, ..LineDedupConfig::default() };
    let mut counter = LineCounter::new(dir.path(), lines).unwrap();
    counter.add(&line).unwrap();
    counter.add(&format!("{TEXT}\n{line}")).unwrap();
    let counts = dir.path().join("huge.lines");
    assert_eq!(counter.finish(&counts).unwrap(), 2);
    let boiler = Boilerplate::from_counts(&[counts], lines).unwrap();
    assert_eq!(boiler.len(), 1);
    let out = boiler.filter(&line);
    assert_eq!((out.text.as_str(), out.removed_units, out.removed_bytes), ("", 1, line.len()));
    assert_eq!(boiler.filter(&format!("{TEXT}\n{line}")).text, TEXT);
}

/// Bytes that are not UTF-8 (a lone continuation byte, an invalid lead, overlong forms).
const NOT_UTF8: [u8; 8] = [0xff, 0xfe, 0x80, 0xc3, 0x28, 0xe2, 0x28, 0xa1];

fn overwrite(path: &Path, at: usize, bytes: &[u8]) {
    let mut data = std::fs::read(path).unwrap();
    data[at..at + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, data).unwrap();
}

/// The error names `path` and the byte offset `offset`.
fn assert_names(e: &Error, path: &Path, offset: u64) {
    let msg = e.to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(msg.contains(&*name) && msg.contains(&format!("at byte {offset}")), "{msg}");
    assert!(matches!(e, Error::Format { offset: o, .. } if *o == offset), "{e:?}");
}

fn staged(config: &DedupConfig) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy = TEXT.replace("minhash", "lsh");
    dedup(dir.path(), &[TEXT, TEXT, &copy, TEXT], config, 2);
    dir
}

#[test]
fn corrupt_edge_records_name_the_file_and_offset_in_memory_and_out_of_core() {
    for budget in [0, 256 << 20] {
        let config = DedupConfig { memory_budget: budget, ..DedupConfig::default() };
        let dir = staged(&config);
        let path = Partition::Exact.edge_path(dir.path());
        let len = std::fs::metadata(&path).unwrap().len();
        // A record of garbage: only the checksum at the end can tell.
        overwrite(&path, 24, &NOT_UTF8);
        let e = phases::run_phase3(dir.path(), &config, None).unwrap_err();
        assert_names(&e, &path, len - 8);
        assert!(e.to_string().contains("checksum"), "{e}");
        // Cut in the middle of a record.
        let data = std::fs::read(&path).unwrap();
        let cut = data.len() - 20;
        std::fs::write(&path, &data[..cut]).unwrap();
        let e = phases::run_phase3(dir.path(), &config, None).unwrap_err();
        assert_names(&e, &path, cut as u64 - 16);
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}

#[test]
fn a_signature_file_of_arbitrary_bytes_is_an_error_not_a_panic() {
    let config = DedupConfig::default();
    let dir = staged(&config);
    let path = phases::signature_path(dir.path(), 1);
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, NOT_UTF8.repeat(len / 8 + 1)).unwrap();
    let e = phases::run_partition(dir.path(), &config, Partition::Band(0)).unwrap_err();
    assert_names(&e, &path, 0);
    assert!(e.to_string().contains("bad magic"), "{e}");
    let e = phases::run_phase3(dir.path(), &config, None).unwrap_err();
    assert_names(&e, &path, 0);
    // Too short to hold a header.
    std::fs::write(&path, &NOT_UTF8[..5]).unwrap();
    assert_names(
        &phases::run_partition(dir.path(), &config, Partition::Exact).unwrap_err(),
        &path,
        5,
    );
}

#[test]
fn a_corrupt_removal_list_or_line_count_file_names_the_file_and_offset() {
    let config = DedupConfig::default();
    let dir = staged(&config);
    let path = phases::remove_path(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    overwrite(&path, 24, &NOT_UTF8);
    assert_names(&RemoveSet::open(dir.path(), &config).unwrap_err(), &path, len - 8);
    let mut cursor = RemoveCursor::open(dir.path(), &config).unwrap();
    // The garbage record reads as a huge id; the checksum fails once the cursor is past it.
    let e =
        (0..8).chain([u64::MAX]).map(|id| cursor.is_duplicate(id)).find_map(Result::err).unwrap();
    assert_names(&e, &path, len - 8);
    overwrite(&path, 0, &NOT_UTF8);
    assert_names(&RemoveSet::open(dir.path(), &config).unwrap_err(), &path, 0);

    let lines = LineDedupConfig::default();
    let mut counter = LineCounter::new(dir.path(), lines).unwrap();
    counter
        .add("a line long enough to be counted as a unit\nand another line that is long enough")
        .unwrap();
    let counts: PathBuf = dir.path().join("part.lines");
    counter.finish(&counts).unwrap();
    let len = std::fs::metadata(&counts).unwrap().len();
    overwrite(&counts, 30, &NOT_UTF8);
    assert_names(
        &Boilerplate::from_counts(std::slice::from_ref(&counts), lines).unwrap_err(),
        &counts,
        len - 8,
    );
}
