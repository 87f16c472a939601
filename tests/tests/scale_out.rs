//! Scale-out on a real scheduler: `tokenmill slurm --submit` runs a job array on a real
//! single-node Slurm (slurmctld + slurmd, started by this test) and a final job chained with
//! `--dependency=afterok`; the Kubernetes manifests' commands, run as the pods of an Indexed Job
//! would run them. Both give outputs byte-identical to one process.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const FILES: usize = 12;

fn setup(dir: &Path) -> String {
    let paths = split_sample(dir, FILES);
    standard_config(&[paths], "batch_docs = 64").replace("path = \"out/shards\"", "path = \"out/shards\"\nshard_max_tokens = 50000")
}

fn reference(config: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), config).expect("write");
    let (code, _, err) = outcome(&run_in(dir.path(), &["run", "p.toml", "--progress", "off"]));
    assert_eq!(code, 0, "{err}");
    tree_bytes(dir.path(), &["out/shards", "out/rejected"])
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
            eprintln!("skipped: Slurm is not installed here (scripts/slurm-local.sh install, as root)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(&script).args(["start", &dir.path().display().to_string()]).output().expect("start");
        assert!(out.status.success(), "slurm did not start: {}", String::from_utf8_lossy(&out.stderr));
        let conf = dir.path().join("slurm.conf").display().to_string();
        Some(Slurm { dir, conf })
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/slurm-local.sh")).args(["stop", &self.dir.path().display().to_string()]).status();
    }
}

#[test]
fn a_slurm_job_array_then_a_dependent_final_job_equal_one_process() {
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
    let final_id = stdout.split("final job ").nth(1).and_then(|s| s.split_whitespace().next()).expect("final job id").to_string();
    // Wait until the final job has left the queue.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let q = Command::new("squeue").env("SLURM_CONF", &slurm.conf).args(["-h", "-o", "%i %T"]).output().expect("squeue");
        let queue = String::from_utf8_lossy(&q.stdout).into_owned();
        if queue.trim().is_empty() {
            break;
        }
        if queue.contains("PENDING") {
            let why = Command::new("squeue").env("SLURM_CONF", &slurm.conf).args(["-h", "-o", "%r"]).output().expect("squeue");
            let logs: Vec<String> = listing(&dir.path().join("out/work/slurm/logs"))
                .iter()
                .map(|n| std::fs::read_to_string(dir.path().join("out/work/slurm/logs").join(n)).unwrap_or_default())
                .collect();
            assert!(!String::from_utf8_lossy(&why.stdout).contains("DependencyNeverSatisfied"), "a map task failed:\n{}", logs.join("\n"));
        }
        assert!(Instant::now() < deadline, "jobs still queued: {queue}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let logs = dir.path().join("out/work/slurm/logs");
    let names = listing(&logs);
    assert_eq!(names.iter().filter(|n| n.starts_with("map-")).count(), 3, "{names:?}");
    let final_log = std::fs::read_to_string(logs.join(format!("final-{final_id}.log"))).expect("final log");
    assert!(final_log.contains("sink shards:"), "{final_log}");
    for r in 0..3 {
        let task: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("out/work/stats-task{r}.json"))).expect("task stats"))
                .expect("json");
        assert_eq!(task["units"]["processed"].as_u64(), Some((FILES / 3) as u64), "task {r}");
    }
    assert_eq!(stats(dir.path())["units"]["reused"].as_u64(), Some(FILES as u64));
    assert_eq!(tree_bytes(dir.path(), &["out/shards", "out/rejected"]), expected);
    assert!(std::fs::read_to_string(dir.path().join("out/work/slurm/metrics.prom")).expect("metrics").contains("status=\"complete\"} 1"));
}

/// The `command:` array of a generated manifest.
fn command_of(yaml: &str) -> Vec<String> {
    let line = yaml.lines().find_map(|l| l.trim().strip_prefix("command: ")).expect("a command line");
    serde_json::from_str(line).expect("the command is a JSON-style array")
}

#[test]
fn kubernetes_indexed_job_commands_run_as_pods_equal_one_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(dir.path());
    let expected = reference(&config);
    std::fs::write(dir.path().join("p.toml"), &config).expect("write");
    let (code, out, err) = outcome(&run_in(
        dir.path(),
        &["k8s", "p.toml", "--tasks", "4", "--image", "registry.example/tokenmill:1", "--pvc", "corpus", "--cpus", "1"],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let map = std::fs::read_to_string(dir.path().join("out/work/k8s/map.yaml")).expect("map.yaml");
    for needle in
        ["completionMode: Indexed", "completions: 4", "parallelism: 4", "claimName: corpus", "image: registry.example/tokenmill:1"]
    {
        assert!(map.contains(needle), "{needle} missing:\n{map}");
    }
    let fin = std::fs::read_to_string(dir.path().join("out/work/k8s/final.yaml")).expect("final.yaml");
    // Run each pod's command as Kubernetes would: the index in $JOB_COMPLETION_INDEX.
    let run = |cmd: &[String], index: Option<usize>| {
        assert_eq!(cmd[0], "tokenmill");
        let mut c = tokenmill();
        c.current_dir(dir.path()).args(&cmd[1..]);
        if let Some(i) = index {
            c.env("JOB_COMPLETION_INDEX", i.to_string());
        }
        let (code, out, err) = outcome(&c.output().expect("pod"));
        assert_eq!(code, 0, "{out}{err}");
    };
    for i in (0..4).rev() {
        run(&command_of(&map), Some(i));
    }
    run(&command_of(&fin), None);
    assert_eq!(stats(dir.path())["units"]["reused"].as_u64(), Some(FILES as u64));
    assert_eq!(tree_bytes(dir.path(), &["out/shards", "out/rejected"]), expected);
}
