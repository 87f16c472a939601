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
        storage::upload_file(&root().join("data/sample").join(&name), &store, &path, &url)
            .expect("upload");
    }

    // The same pipeline twice: on S3 and on local disk.
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    let local =
        standard_config(&[root().join("data/sample/*.jsonl.zst").display().to_string()], "");
    std::fs::write(work.join("local.toml"), &local).expect("write");
    let remote = local
        .replace(
            &root().join("data/sample/*.jsonl.zst").display().to_string(),
            &format!("s3://{bucket}/raw/*.jsonl.zst"),
        )
        .replace("path = \"out/shards\"", &format!("path = \"s3://{bucket}/out/shards\""))
        .replace("path = \"out/rejected\"", &format!("path = \"s3://{bucket}/out/rejected\""));
    std::fs::write(work.join("remote.toml"), &remote).expect("write");

    let (code, out, err) = outcome(&run_in(&work, &["run", "local.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");
    let mut cmd = tokenmill();
    cmd.current_dir(&work).args(["run", "remote.toml", "--progress", "off"]);
    with_env(&mut cmd, &server);
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
        serde_json::from_slice(&fetch(&format!("s3://{bucket}/out/shards/manifest.json"), &opts))
            .expect("manifest");
    let local_manifest =
        tokenmill_shards::Manifest::read(&work.join("out/shards")).expect("local manifest");
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

/// The concatenated `.bin` bytes of a dataset's shards, in manifest order, read with `get`.
/// Every task of a `tokenmill plan --format json`: (step name, rank, argv), in plan order.
fn plan_tasks(plan: &serde_json::Value) -> Vec<(String, u64, Vec<String>)> {
    let mut out = Vec::new();
    for step in plan["steps"].as_array().expect("steps") {
        for t in step["tasks"].as_array().expect("tasks") {
            let argv = t["argv"].as_array().expect("argv");
            let argv = argv.iter().map(|a| a.as_str().expect("word").to_string()).collect();
            let name = step["name"].as_str().expect("name").to_string();
            out.push((name, t["rank"].as_u64().expect("rank"), argv));
        }
    }
    out
}

/// `cmd` with the S3 server's credentials and endpoint in its environment.
fn with_env<'c>(
    cmd: &'c mut std::process::Command,
    server: &Server,
) -> &'c mut std::process::Command {
    cmd.envs(&server.env)
}

fn token_bytes(manifest: &serde_json::Value, get: impl Fn(&str) -> Vec<u8>) -> Vec<u8> {
    let shards = manifest["shards"].as_array().expect("shards");
    shards.iter().flat_map(|s| get(&format!("{}.bin", s["name"].as_str().expect("name")))).collect()
}

#[test]
fn a_job_array_with_its_work_dir_and_outputs_on_s3_equals_one_process() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Slot 1: the other test of this binary runs at the same time on slot 0.
    let server = Server::start_in_slot(&tmp.path().join("seaweed"), 1);
    let opts = server.options();
    let bucket = &server.env["TOKENMILL_TEST_S3_BUCKET"];
    let data = tmp.path().join("data");
    let glob = split_sample(&data, 12);
    let local = standard_config(&[glob], "batch_docs = 64").replace(
        "[[stage]]\nname = \"tokens\"\ntype = \"tokenize\"\ninputs = [\"length\"]",
        "[[stage]]\nname = \"lines\"\ntype = \"line_dedup\"\ninputs = [\"length\"]\nmax_occurrences = 2\n\n\
         [[stage]]\nname = \"fuzzy\"\ntype = \"minhash_dedup\"\ninputs = [\"lines\"]\n\n\
         [[stage]]\nname = \"exact\"\ntype = \"exact_dedup\"\ninputs = [\"fuzzy\"]\n\n\
         [[stage]]\nname = \"tokens\"\ntype = \"tokenize\"\ninputs = [\"exact\"]",
    );
    assert!(local.contains("inputs = [\"exact\"]"));
    let local =
        local.replace("path = \"out/shards\"", "path = \"out/shards\"\nshard_max_tokens = 80000");
    let remote = local
        .replace("work_dir = \"out/work\"", &format!("work_dir = \"s3://{bucket}/job/work\""))
        .replace("path = \"out/shards\"", &format!("path = \"s3://{bucket}/job/shards\""))
        .replace("path = \"out/rejected\"", &format!("path = \"s3://{bucket}/job/rejected\""));
    let work = tmp.path().join("run");
    std::fs::create_dir_all(&work).expect("mkdir");
    std::fs::write(work.join("local.toml"), &local).expect("write");
    let array = tmp.path().join("array");
    std::fs::create_dir_all(&array).expect("mkdir");
    std::fs::write(array.join("remote.toml"), &remote).expect("write");
    let (code, out, err) = outcome(&run_in(&work, &["run", "local.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{out}{err}");

    // A shard of an earlier run in the output: the merge removes what no task of this job wrote.
    let stale = format!("s3://{bucket}/job/shards/train_00000.bin");
    let (store, path) = storage::store_for(&stale, &opts).expect("store");
    storage::put_object(&store, &path, &stale, bytes::Bytes::from_static(b"old")).expect("put");
    let (code, plan, err) = outcome(&run_in(
        &array,
        &["plan", "remote.toml", "--world-size", "3", "--format", "json", "-j", "1"],
    ));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&plan).expect("json");
    // Every task on a "machine" of its own: its own scratch directory, nothing shared but S3.
    let task = |argv: &[&str], scratch: &std::path::Path| {
        let mut cmd = std::process::Command::new(argv[0]);
        cmd.current_dir(&array).args(&argv[1..]).env("TOKENMILL_SCRATCH", scratch);
        with_env(&mut cmd, &server);
        cmd
    };
    let mut killed = false;
    let mut fetched = 0;
    for (step, rank, argv) in plan_tasks(&plan) {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let scratch = tmp.path().join(format!("machine-{step}-{rank}"));
        if step == "map-0" && rank == 1 {
            // This task's first attempt dies (SIGKILL) once it finished a unit; the retry
            // runs on another machine and takes the finished units from the store.
            let units = format!("s3://{bucket}/job/work/ledger/units/");
            let finished = || {
                storage::list_inputs(&units, &opts)
                    .map_or(0, |l| l.iter().filter(|f| f.url.contains("/p0-")).count())
            };
            let before = finished();
            let mut child = task(&argv, &tmp.path().join("machine-dies"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            while child.try_wait().expect("wait").is_none() {
                if finished() > before {
                    child.kill().expect("kill");
                    killed = true;
                    break;
                }
            }
            let _ = child.wait();
            assert!(killed, "the first attempt finished before it could be killed");
        }
        let (code, out, err) = outcome(&task(&argv, &scratch).output().expect("task"));
        // Phase 2 reads only the candidates' signature records from the store.
        if let Some(n) = err
            .split("\"records\":")
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        {
            fetched += n.parse::<u64>().unwrap_or(0);
        }
        assert_eq!(code, 0, "{argv:?}\n{out}{err}");
        assert!(!err.contains("tokenmill-secret"), "credentials must never be logged");
        for dir in listing(&scratch) {
            let left = listing(&scratch.join(&dir));
            assert!(
                left.iter().all(|n| n.ends_with(".lock")),
                "a finished task leaves no scratch: {left:?}"
            );
        }
    }
    assert!(fetched > 0, "the buckets tasks fetched candidates' signatures");
    assert!(
        listing(&array) == ["remote.toml"],
        "nothing of the job is on local disk: {:?}",
        listing(&array)
    );
    let retried: serde_json::Value = serde_json::from_slice(&fetch(
        &format!("s3://{bucket}/job/work/steps/w3/map-0/task-00001.json"),
        &opts,
    ))
    .expect("marker");
    assert!(
        retried["stats"]["units"]["reused"].as_u64() >= Some(1),
        "the retry reused the finished units: {}",
        retried["stats"]["units"]
    );
    assert!(
        storage::list_inputs(&format!("s3://{bucket}/job/work/ledger/"), &opts)
            .map_or(true, |l| l.is_empty()),
        "the merge removed the ledger"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&fetch(&format!("s3://{bucket}/job/shards/manifest.json"), &opts))
            .expect("manifest");
    let local_manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(work.join("out/shards/manifest.json")).expect("local manifest"),
    )
    .expect("json");
    for key in ["documents", "tokens", "inputs", "tokenizer_hash", "dtype"] {
        assert_eq!(manifest[key], local_manifest[key], "{key}");
    }
    let remote_tokens =
        token_bytes(&manifest, |n| fetch(&format!("s3://{bucket}/job/shards/{n}"), &opts));
    let local_tokens = token_bytes(&local_manifest, |n| {
        std::fs::read(work.join("out/shards").join(n)).expect("shard")
    });
    assert!(remote_tokens == local_tokens, "token sequences differ");
    let stats: serde_json::Value =
        serde_json::from_slice(&fetch(&format!("s3://{bucket}/job/work/stats.json"), &opts))
            .expect("stats");
    let local_stats = common::stats(&work);
    assert_eq!(node(&stats, "fuzzy")["report"], node(&local_stats, "fuzzy")["report"]);
    assert_eq!(node(&stats, "fuzzy")["dropped"], node(&local_stats, "fuzzy")["dropped"]);
    assert_eq!(
        stats["steps"].as_array().map(Vec::len),
        Some(10),
        "4 map steps, 2 x buckets and clusters, count, merge"
    );
    assert_eq!(node(&stats, "lines")["report"], node(&local_stats, "lines")["report"]);
    assert_eq!(node(&stats, "exact")["dropped"], node(&local_stats, "exact")["dropped"]);

    // World sizes 1 and 4 on S3 too.
    for world in [1, 4] {
        let prefix = format!("job-w{world}");
        let dir = tmp.path().join(&prefix);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("remote.toml"), remote.replace("/job/", &format!("/{prefix}/")))
            .expect("write");
        let (code, plan, err) = outcome(&run_in(
            &dir,
            &[
                "plan",
                "remote.toml",
                "--world-size",
                &world.to_string(),
                "--format",
                "json",
                "-j",
                "1",
            ],
        ));
        assert_eq!(code, 0, "{err}");
        let plan: serde_json::Value = serde_json::from_str(&plan).expect("json");
        for (step, rank, argv) in plan_tasks(&plan) {
            let scratch = tmp.path().join(format!("{prefix}-{step}-{rank}"));
            let mut cmd = std::process::Command::new(&argv[0]);
            cmd.current_dir(&dir).args(&argv[1..]).env("TOKENMILL_SCRATCH", &scratch);
            let (code, out, err) = outcome(&with_env(&mut cmd, &server).output().expect("task"));
            assert_eq!(code, 0, "{argv:?}\n{out}{err}");
        }
        let manifest: serde_json::Value = serde_json::from_slice(&fetch(
            &format!("s3://{bucket}/{prefix}/shards/manifest.json"),
            &opts,
        ))
        .expect("manifest");
        let tokens =
            token_bytes(&manifest, |n| fetch(&format!("s3://{bucket}/{prefix}/shards/{n}"), &opts));
        assert!(tokens == local_tokens, "world size {world}: token sequences differ");
        assert_eq!(manifest["documents"], local_manifest["documents"], "world size {world}");
    }
    let left = storage::list_inputs(&format!("s3://{bucket}/job/shards/"), &opts).expect("list");
    assert!(
        left.iter().all(|f| !f.url.ends_with("/train_00000.bin")),
        "the earlier run's shard is removed"
    );
    assert_eq!(
        left.len(),
        1 + 2 * manifest["shards"].as_array().map_or(0, Vec::len),
        "the manifest and its shards, nothing else"
    );
    // The markers and the history are objects.
    fetch(&format!("s3://{bucket}/job/work/steps/w3/map-1/task-00002.json"), &opts);
    fetch(&format!("s3://{bucket}/job/work/history/inputs.jsonl"), &opts);

    // One process with its work dir on S3: its statistics land in the bucket.
    let single = remote.replace("/job/", "/single/");
    std::fs::write(work.join("single.toml"), &single).expect("write");
    let mut cmd = tokenmill();
    cmd.current_dir(&work)
        .args(["run", "single.toml", "--progress", "off"])
        .env("TOKENMILL_SCRATCH", tmp.path().join("single"));
    with_env(&mut cmd, &server);
    let (code, out, err) = outcome(&cmd.output().expect("run"));
    assert_eq!(code, 0, "{out}{err}");
    let stats: serde_json::Value =
        serde_json::from_slice(&fetch(&format!("s3://{bucket}/single/work/stats.json"), &opts))
            .expect("stats");
    assert_eq!(node(&stats, "fuzzy")["report"], node(&local_stats, "fuzzy")["report"]);
}

/// A WARC file streamed from the bucket gives the same documents as from local disk.
#[test]
fn warc_files_stream_from_s3() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("seaweed"));
    let opts = server.options();
    let bucket = &server.env["TOKENMILL_TEST_S3_BUCKET"];
    let sample = root().join("data/web/commoncrawl-sample.warc.gz");
    let url = format!("s3://{bucket}/crawl/sample.warc.gz");
    let (store, path) = storage::store_for(&url, &opts).expect("store");
    storage::upload_file(&sample, &store, &path, &url).expect("upload");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    let config = |paths: &str, out: &str| {
        format!(
            "version = 1\n[run]\nwork_dir = \"out/work-{out}\"\n[[source]]\nname = \"crawl\"\ntype = \"warc\"\npaths = [\"{paths}\"]\n\
             [[stage]]\nname = \"extract\"\ntype = \"html_extract\"\ninputs = [\"crawl\"]\n\
             [[sink]]\nname = \"pages\"\ntype = \"jsonl\"\ninputs = [\"extract\"]\npath = \"out/{out}\"\n"
        )
    };
    std::fs::write(work.join("local.toml"), config(&sample.display().to_string(), "local"))
        .expect("write");
    std::fs::write(
        work.join("remote.toml"),
        config(&format!("s3://{bucket}/crawl/*.warc.gz"), "remote"),
    )
    .expect("write");
    for file in ["local.toml", "remote.toml"] {
        let mut cmd = tokenmill();
        cmd.current_dir(&work).args(["run", file, "--progress", "off"]);
        with_env(&mut cmd, &server);
        let (code, out, err) = outcome(&cmd.output().expect("run"));
        assert_eq!(code, 0, "{file}: {out}{err}");
    }
    let local = read_parts(&work.join("out/local"));
    assert!(local.len() >= 10, "{} pages", local.len());
    assert_eq!(read_parts(&work.join("out/remote")), local);
}
