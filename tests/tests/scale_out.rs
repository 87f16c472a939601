//! Scale-out: every pass, every dedup phase and the merge as steps of a job array
//! (`tokenmill plan`), at several world sizes, give the dataset of one process: the same
//! documents and token sequences in the same order, the same counters. The generated chains run
//! on a real single-node Slurm (slurmctld + slurmd, started by this test, steps chained with
//! `--dependency=afterok`), and as the pods of Kubernetes Indexed Jobs would run them. A task
//! killed mid-step and run again gives the same result.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const FILES: usize = 12;

/// The sample corpus in `FILES` files plus one file repeating some of it (so that every
/// dedup stage removes something), through line, near-duplicate and exact dedup, tokenized.
fn setup(dir: &Path) -> String {
    let glob = split_sample(dir, FILES);
    let first = std::fs::read_to_string(dir.join("in/part-00.jsonl")).expect("read");
    let repeated: Vec<String> =
        first.lines().take(150).map(|l| l.replace("\"id\":\"", "\"id\":\"again-")).collect();
    std::fs::write(dir.join("in/part-99.jsonl"), repeated.join("\n") + "\n").expect("write");
    format!(
        r#"version = 1
[run]
work_dir = "out/work"
batch_docs = 32

[[source]]
name = "in"
type = "jsonl"
paths = [{glob:?}]
id_field = "id"

[[stage]]
name = "length"
type = "length"
inputs = ["in"]
min_chars = 20

[[stage]]
name = "lines"
type = "line_dedup"
inputs = ["length"]
max_occurrences = 2

[[stage]]
name = "fuzzy"
type = "minhash_dedup"
inputs = ["lines"]

[[stage]]
name = "exact"
type = "exact_dedup"
inputs = ["fuzzy"]

[[stage]]
name = "tokens"
type = "tokenize"
inputs = ["exact"]
tokenizer = {tok:?}

[[sink]]
name = "shards"
type = "megatron"
inputs = ["tokens"]
path = "out/shards"
shard_max_tokens = 60000

[[sink]]
name = "rejected"
type = "jsonl"
inputs = ["length.rejected", "fuzzy.rejected", "exact.rejected"]
path = "out/rejected"
"#,
        tok = tokenizer_path().display().to_string()
    )
}

/// What a run produced, in the terms a user relies on.
#[derive(Debug, PartialEq)]
struct Dataset {
    /// Every document's tokens, in dataset order.
    tokens: Vec<Vec<u32>>,
    /// The manifest without its shard list (shard boundaries and names differ).
    manifest: Value,
    /// The rejected documents, in name order.
    rejected: Vec<String>,
    /// Per node: documents in, out, dropped by rule, tokens, transforms, errors, reports.
    counters: Vec<Value>,
}

fn dataset(dir: &Path) -> Dataset {
    let shards = dir.join("out/shards");
    let docs =
        tokenmill_shards::read_dataset_tokens(&shards).expect("a complete, readable dataset");
    let report = tokenmill_shards::verify_dir(&shards, &tokenmill_shards::VerifyOptions::default())
        .expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(shards.join("manifest.json")).expect("manifest"))
            .expect("json");
    manifest.as_object_mut().expect("object").remove("shards");
    let mut rejected = Vec::new();
    for name in listing(&dir.join("out/rejected")) {
        let bytes = zstd::decode_all(
            std::fs::File::open(dir.join("out/rejected").join(name)).expect("part"),
        )
        .expect("zstd");
        rejected.extend(String::from_utf8(bytes).expect("utf8").lines().map(str::to_string));
    }
    let stats = stats(dir);
    let counters = stats["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let mut n = n.clone();
            let o = n.as_object_mut().expect("object");
            o.remove("compute_secs");
            o.remove("files");
            n
        })
        .collect();
    Dataset { tokens: docs, manifest, rejected, counters }
}

fn reference(config: &str) -> Dataset {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    dataset(dir.path())
}

/// `tokenmill plan --format json`: the steps, each with every task's argv.
fn plan(dir: &Path, world: usize) -> Vec<(String, Vec<Vec<String>>)> {
    let (code, out, err) = outcome(&run_in(
        dir,
        &["plan", "p.toml", "--world-size", &world.to_string(), "--format", "json", "-j", "1"],
    ));
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).expect("json");
    plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let tasks = s["tasks"]
                .as_array()
                .expect("tasks")
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    assert_eq!(t["rank"].as_u64(), Some(i as u64));
                    t["argv"]
                        .as_array()
                        .expect("argv")
                        .iter()
                        .map(|a| a.as_str().expect("word").to_string())
                        .collect()
                })
                .collect();
            (s["name"].as_str().expect("name").to_string(), tasks)
        })
        .collect()
}

fn run_task(dir: &Path, argv: &[String]) -> String {
    let out = Command::new(&argv[0]).current_dir(dir).args(&argv[1..]).output().expect("task");
    let (code, stdout, err) = outcome(&out);
    assert_eq!(code, 0, "{argv:?}\n{stdout}{err}");
    err
}

#[test]
fn every_step_of_a_job_array_at_world_sizes_1_3_4_equals_one_process() {
    let data = tempfile::tempdir().expect("tempdir");
    let config = setup(data.path());
    let expected = reference(&config);
    assert!(
        expected.rejected.iter().any(|r| r.contains("\"drop_reason\":\"fuzzy:duplicate\"")),
        "the chain removes duplicates"
    );
    for world in [1, 3, 4] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("p.toml"), &config).expect("write");
        let steps = plan(dir.path(), world);
        let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "map-0",
                "lines-count",
                "map-1",
                "fuzzy-buckets",
                "fuzzy-clusters",
                "map-2",
                "exact-buckets",
                "exact-clusters",
                "map-3",
                "merge"
            ]
        );
        for (name, tasks) in &steps {
            let n = if name.ends_with("-clusters") || name == "merge" { 1 } else { world };
            assert_eq!(tasks.len(), n, "{name}");
            // Tasks of a step are independent: run them last rank first.
            for argv in tasks.iter().rev() {
                run_task(dir.path(), argv);
            }
        }
        let got = dataset(dir.path());
        assert!(got.tokens == expected.tokens, "world size {world}: token sequences differ");
        assert_eq!(got.manifest, expected.manifest, "world size {world}");
        assert_eq!(got.rejected, expected.rejected, "world size {world}");
        assert_eq!(got.counters, expected.counters, "world size {world}");
        // Each task wrote its own shards; names sort in dataset order; the merge read none.
        let shards = listing(&dir.path().join("out/shards"));
        let tasks_with_shards: std::collections::BTreeSet<&str> = shards
            .iter()
            .filter(|n| n.ends_with(".bin"))
            .map(|n| &n[..n.rfind('_').expect("index")])
            .collect();
        assert_eq!(
            tasks_with_shards.len(),
            world,
            "one shard set per task of the last pass: {shards:?}"
        );
        let stats = stats(dir.path());
        let costs = stats["steps"].as_array().expect("steps");
        assert_eq!(costs.len(), steps.len());
        assert_eq!(costs[0]["tasks"].as_array().expect("tasks").len(), world);
        assert_eq!(stats["input_files"].as_u64(), Some(FILES as u64 + 1));
    }
}

#[test]
fn a_task_killed_mid_step_and_run_again_gives_the_same_dataset() {
    let data = tempfile::tempdir().expect("tempdir");
    let config = setup(data.path());
    let expected = reference(&config);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), &config).expect("write");
    let steps = plan(dir.path(), 3);
    let map0 = &steps[0].1;
    run_task(dir.path(), &map0[0]);
    run_task(dir.path(), &map0[2]);
    // Task 1 dies (SIGKILL) once it finished a unit of its share.
    let before = finished_units(dir.path(), "p0-");
    let mut child = Command::new(&map0[1][0])
        .current_dir(dir.path())
        .args(&map0[1][1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if finished_units(dir.path(), "p0-") > before {
            child.kill().expect("kill");
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.wait();
    let marker = dir.path().join("out/work/steps/w3/map-0/task-00001.json");
    assert!(killed, "the task finished before it could be killed");
    assert!(!marker.exists(), "a killed task leaves no completion marker");
    // The next step refuses to start, and says which task to run.
    let (code, _, err) = outcome(
        &Command::new(&steps[1].1[0][0])
            .current_dir(dir.path())
            .args(&steps[1].1[0][1..])
            .output()
            .expect("run"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("step `map-0` is not complete: task 1 has no completion marker"), "{err}");
    // Run only that task again: it resumes from the units it finished, and the job goes on.
    run_task(dir.path(), &map0[1]);
    let done: Value =
        serde_json::from_slice(&std::fs::read(&marker).expect("marker")).expect("json");
    assert!(done["stats"]["units"]["reused"].as_u64() >= Some(1), "{}", done["stats"]["units"]);
    // A task that already finished does nothing when run again (a requeued or retried task).
    let err = run_task(dir.path(), &map0[1]);
    assert!(err.contains("already complete"), "{err}");
    for (_, tasks) in &steps[1..] {
        for argv in tasks {
            run_task(dir.path(), argv);
        }
    }
    assert_eq!(dataset(dir.path()), expected);
}

/// Slurm daemons started for the test, stopped on drop.
struct Slurm {
    dir: tempfile::TempDir,
    conf: String,
}

impl Slurm {
    /// `None` when this machine cannot run Slurm and the test is not required to
    /// (`TOKENMILL_TEST_ROOT=required`, set by scripts/test.sh when it runs as root).
    fn start() -> Option<Slurm> {
        let script = root().join("scripts/slurm-local.sh");
        let available = Command::new(&script).arg("available").status().is_ok_and(|s| s.success());
        if !available {
            assert!(
                std::env::var("TOKENMILL_TEST_ROOT").as_deref() != Ok("required"),
                "Slurm is required but cannot be started (scripts/slurm-local.sh install needs root)"
            );
            eprintln!(
                "skipped: Slurm is not installed here (scripts/slurm-local.sh install, as root)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(&script)
            .args(["start", &dir.path().display().to_string()])
            .output()
            .expect("start");
        assert!(
            out.status.success(),
            "slurm did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = dir.path().join("slurm.conf").display().to_string();
        Some(Slurm { dir, conf })
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/slurm-local.sh"))
            .args(["stop", &self.dir.path().display().to_string()])
            .status();
    }
}

#[test]
fn the_whole_chain_submitted_to_slurm_equals_one_process() {
    let Some(slurm) = Slurm::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(dir.path());
    let expected = reference(&config);
    std::fs::write(dir.path().join("p.toml"), &config).expect("write");
    let out = tokenmill()
        .current_dir(dir.path())
        .env("SLURM_CONF", &slurm.conf)
        .args(["slurm", "p.toml", "--tasks", "3", "--cpus-per-task", "1", "--submit"])
        .output()
        .expect("run");
    let (code, stdout, err) = outcome(&out);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("map-0 job ") && stdout.contains("fuzzy-clusters job "), "{stdout}");
    let merge_id = stdout
        .split("merge job ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("merge job id")
        .to_string();
    let logs = dir.path().join("out/work/slurm/logs");
    let all_logs = || -> String {
        listing(&logs)
            .iter()
            .map(|n| std::fs::read_to_string(logs.join(n)).unwrap_or_default())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let q = Command::new("squeue")
            .env("SLURM_CONF", &slurm.conf)
            .args(["-h", "-o", "%i %T %r"])
            .output()
            .expect("squeue");
        let queue = String::from_utf8_lossy(&q.stdout).into_owned();
        if queue.trim().is_empty() {
            break;
        }
        assert!(
            !queue.contains("DependencyNeverSatisfied"),
            "a step failed:\n{queue}\n{}",
            all_logs()
        );
        assert!(Instant::now() < deadline, "jobs still queued: {queue}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let names = listing(&logs);
    assert_eq!(names.iter().filter(|n| n.starts_with("map-0-")).count(), 3, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("fuzzy-buckets-")).count(), 3, "{names:?}");
    let merge_log =
        std::fs::read_to_string(logs.join(format!("merge-{merge_id}.log"))).expect("merge log");
    assert!(merge_log.contains("sink shards:"), "{merge_log}");
    assert_eq!(dataset(dir.path()), expected, "{}", all_logs());
}

/// The `command:` array of a generated manifest.
fn command_of(yaml: &str) -> Vec<String> {
    let line =
        yaml.lines().find_map(|l| l.trim().strip_prefix("command: ")).expect("a command line");
    serde_json::from_str(line).expect("the command is a JSON-style array")
}

#[test]
fn kubernetes_jobs_of_every_step_run_as_pods_equal_one_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(dir.path());
    let expected = reference(&config);
    std::fs::write(dir.path().join("p.toml"), &config).expect("write");
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &[
            "k8s",
            "p.toml",
            "--tasks",
            "4",
            "--image",
            "registry.example/tokenmill:1",
            "--pvc",
            "corpus",
            "--cpus",
            "1",
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let k8s = dir.path().join("out/work/k8s");
    let script = std::fs::read_to_string(k8s.join("run.sh")).expect("run.sh");
    let jobs: Vec<String> = script
        .lines()
        .filter_map(|l| l.strip_prefix("kubectl apply -f "))
        .map(str::to_string)
        .collect();
    assert_eq!(jobs.len(), 10, "{script}");
    assert_eq!(
        script.matches("kubectl wait --for=condition=complete").count(),
        10,
        "each Job waits for the one before"
    );
    for job in &jobs {
        let yaml = std::fs::read_to_string(k8s.join(job)).expect("job");
        for needle in ["claimName: corpus", "image: registry.example/tokenmill:1"] {
            assert!(yaml.contains(needle), "{needle} missing:\n{yaml}");
        }
        let indexed = yaml.contains("completionMode: Indexed");
        assert_eq!(indexed, !(job.contains("-clusters") || job.contains("merge")), "{job}");
        if indexed {
            assert!(yaml.contains("completions: 4"), "{yaml}");
        }
        // Run each pod's command as Kubernetes would: the index in $JOB_COMPLETION_INDEX.
        let cmd = command_of(&yaml);
        assert_eq!(cmd[0], "tokenmill");
        let pods: Vec<Option<usize>> =
            if indexed { (0..4).rev().map(Some).collect() } else { vec![None] };
        for index in pods {
            let mut c = tokenmill();
            c.current_dir(dir.path()).args(&cmd[1..]);
            if let Some(i) = index {
                c.env("JOB_COMPLETION_INDEX", i.to_string());
            }
            let (code, out, err) = outcome(&c.output().expect("pod"));
            assert_eq!(code, 0, "{job}\n{out}{err}");
        }
    }
    assert_eq!(dataset(dir.path()), expected);
}
