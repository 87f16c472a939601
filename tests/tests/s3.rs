//! Object storage for real: the quickstart reads its corpus from and writes its shards to a
//! SeaweedFS S3 server started on 127.0.0.1 by this test (`scripts/s3-server.sh`). The shards in
//! the bucket must be byte-identical to those of the same run on local disk.

mod common;

use common::s3::{Server, fetch};
use common::*;
use tokenmill::storage;

#[test]
fn quickstart_reads_and_writes_s3() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("seaweed"));
    let opts = server.options();
    let bucket = &server.env["TOKENMILL_TEST_S3_BUCKET"];

    // Upload the sample corpus.
    for name in listing(&root().join("data/sample")) {
        let url = format!("s3://{bucket}/raw/{name}");
        let (store, path) = storage::store_for(&url, &opts).expect("store");
        storage::upload_file(&root().join("data/sample").join(&name), &store, &path, &url).expect("upload");
    }

    // The same pipeline twice: on S3 and on local disk.
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    let local = standard_config(&[root().join("data/sample/*.jsonl.zst").display().to_string()], "");
    std::fs::write(work.join("local.toml"), &local).expect("write");
    let remote = local
        .replace(&root().join("data/sample/*.jsonl.zst").display().to_string(), &format!("s3://{bucket}/raw/*.jsonl.zst"))
        .replace("path = \"out/shards\"", &format!("path = \"s3://{bucket}/out/shards\""))
        .replace("path = \"out/rejected\"", &format!("path = \"s3://{bucket}/out/rejected\""));
    std::fs::write(work.join("remote.toml"), &remote).expect("write");

    let (code, out, err) = outcome(&run_in(&work, &["run", "local.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let mut cmd = tokenmill();
    cmd.current_dir(&work).args(["run", "remote.toml", "--progress", "off"]);
    for (k, v) in &server.env {
        cmd.env(k, v);
    }
    let (code, out, err) = outcome(&cmd.output().expect("run"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("tokenmill-secret"), "credentials must never be logged");

    let shards = listing(&work.join("out/shards"));
    assert!(shards.iter().any(|n| n.ends_with(".bin")));
    for name in &shards {
        if name == "manifest.json" {
            continue;
        }
        let remote = fetch(&format!("s3://{bucket}/out/shards/{name}"), &opts);
        let local = std::fs::read(work.join("out/shards").join(name)).expect("local");
        assert!(remote == local, "{name} differs between S3 and local disk");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&fetch(&format!("s3://{bucket}/out/shards/manifest.json"), &opts)).expect("manifest");
    let local_manifest = tokenmill_shards::Manifest::read(&work.join("out/shards")).expect("local manifest");
    assert_eq!(manifest["tokens"].as_u64(), Some(local_manifest.tokens));
    assert_eq!(manifest["shards"].as_array().map(Vec::len), Some(local_manifest.shards.len()));
    assert!(manifest["inputs"][0].as_str().expect("input").starts_with("s3://"));
    // The rejects sink wrote its part to the bucket too.
    let rejected = fetch(&format!("s3://{bucket}/out/rejected/part-00000.jsonl.zst"), &opts);
    assert!(!zstd::decode_all(&rejected[..]).expect("zstd").is_empty());
    // Nothing left in the staging area.
    let staged: Vec<String> = listing(&work.join("out/work/staging/shards"));
    assert!(staged.is_empty(), "{staged:?}");
}
