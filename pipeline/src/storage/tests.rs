//! Unit tests of the parent module.

use super::*;

#[test]
fn urls_and_paths() {
    assert!(is_url("s3://b/k"));
    assert!(is_url("memory:///x"));
    assert!(!is_url("data/x.jsonl"));
    assert!(!is_url("C:/x"));
}

#[test]
fn patterns_match_event_objects() {
    assert!(pattern_matches("s3://corpus/raw/*.jsonl.zst", "s3://corpus/raw/a.jsonl.zst"));
    assert!(!pattern_matches("s3://corpus/raw/*.jsonl.zst", "s3://corpus/raw/a.parquet"));
    assert!(!pattern_matches("s3://corpus/raw/*.jsonl.zst", "s3://other/raw/a.jsonl.zst"));
    assert!(pattern_matches("s3://corpus/raw/", "s3://corpus/raw/2026/a.jsonl"));
    assert!(pattern_matches("s3://corpus/raw", "s3://corpus/raw/a.jsonl"));
    assert!(!pattern_matches("s3://corpus/raw", "s3://corpus/rawer/a.jsonl"));
    assert!(pattern_matches("s3a://corpus/x.jsonl", "s3://corpus/x.jsonl"));
    assert!(!pattern_matches("gs://corpus/raw/", "s3://corpus/raw/a.jsonl"));
}

#[test]
fn glob_split() {
    let (base, m) = split_glob("data/in/**/*.jsonl.zst").expect("glob");
    assert_eq!(base, "data/in");
    assert!(m.expect("matcher").is_match("data/in/a/b.jsonl.zst"));
    assert_eq!(split_glob("a/b.jsonl").expect("plain").0, "a/b.jsonl");
}

#[test]
fn local_listing_is_sorted_and_globbed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["b.jsonl", "a.jsonl", "c.txt", "sub/d.jsonl"] {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, "{}\n").expect("write");
    }
    let pat = format!("{}/**/*.jsonl", dir.path().display());
    let files = list_inputs(&pat, &BTreeMap::new()).expect("list");
    let names: Vec<String> =
        files.iter().map(|f| f.url.rsplit('/').next().unwrap_or("").to_string()).collect();
    assert_eq!(names, ["a.jsonl", "b.jsonl", "d.jsonl"]);
    let missing = list_inputs(&format!("{}/nope.jsonl", dir.path().display()), &BTreeMap::new());
    assert!(matches!(missing, Err(StorageError::NotFound { .. })));
}

/// A link back to an ancestor directory is not walked forever; a dangling link is listed
/// (reading it fails later, naming it) and the rest of the listing goes on.
#[cfg(unix)]
#[test]
fn local_listing_survives_link_loops_and_dangling_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/a.jsonl"), "{}\n").expect("write");
    std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/loop")).expect("link");
    std::os::unix::fs::symlink(dir.path().join("gone.jsonl"), dir.path().join("dangling.jsonl"))
        .expect("link");
    let files = list_inputs(&dir.path().display().to_string(), &BTreeMap::new()).expect("list");
    let names: Vec<&str> = files.iter().map(|f| f.url.rsplit('/').next().unwrap_or("")).collect();
    assert_eq!(names, ["dangling.jsonl", "a.jsonl"]);
}

#[test]
fn memory_store_lists_and_reads() {
    let store: Arc<dyn ObjectStore> = memory_store();
    let path = ObjectPath::from("unit/x/a.jsonl");
    put_object(&store, &path, "memory:///unit/x/a.jsonl", Bytes::from_static(b"hello\n"))
        .expect("put");
    let files = list_inputs("memory:///unit/x/*.jsonl", &BTreeMap::new()).expect("list");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].url, "memory:///unit/x/a.jsonl");
    let mut s = String::new();
    open_raw(&files[0]).expect("open").read_to_string(&mut s).expect("read");
    assert_eq!(s, "hello\n");
}
