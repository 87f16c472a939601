//! The pipeline a dedup work dir runs, and its steps run through the one runner.
//!
//! The phases are the steps of a job array of that pipeline (`tokenmill plan` names them):
//! `signatures` is `map-0`, `buckets` is `dedup-buckets`, `cluster` is `dedup-clusters`, and
//! `filter` is `map-1`, followed by the `merge` step once every rank of `map-1` is done.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Value, json};
use xxhash_rust::xxh3::xxh3_128;

use super::OutputArgs;
use super::settings::{WorkConfig, usage};
use crate::cli::Exit;
use crate::config::Plan;
use crate::progress::ProgressMode;
use crate::runner::{self, RunOptions, StepTask};

/// The name of the dedup stage (and so of its steps, `dedup-buckets`, `dedup-clusters`, and
/// the reason written on removed documents, `dedup:duplicate`).
pub(super) const NODE: &str = "dedup";

/// What one invocation adds to the stored configuration.
#[derive(Debug, Default)]
pub(super) struct Invocation<'a> {
    /// The stage's memory for sorting, in bytes.
    pub memory: u64,
    /// The persistent index.
    pub index: Option<&'a Path>,
    /// Write the clusters.
    pub dump_clusters: bool,
    /// Where kept (and removed) documents go; `None` before phase 4.
    pub output: Option<&'a OutputArgs>,
}

/// The pipeline of `stored` for one invocation, compiled: the inputs as sources (runs of
/// JSONL and Parquet files, in order), the dedup stage, a `jsonl` sink for the kept documents
/// and one for the removed ones. Its config hash is that of `stored`, so the steps of every
/// phase agree whatever the per-invocation options.
///
/// # Errors
/// The pipeline does not compile (a flag out of range), reported as a usage error.
pub(super) fn compile(
    work_dir: &Path,
    stored: &WorkConfig,
    inv: &Invocation<'_>,
) -> anyhow::Result<Plan> {
    let mut sources: Vec<Value> = Vec::new();
    for file in &stored.inputs {
        let kind = if file.ends_with(".parquet") { "parquet" } else { "jsonl" };
        match sources.last_mut() {
            Some(s) if s["type"] == kind => {
                if let Some(paths) = s["paths"].as_array_mut() {
                    paths.push(file.as_str().into());
                }
            }
            _ => sources.push(json!({
                "name": format!("input-{}", sources.len()),
                "type": kind,
                "paths": [file],
                "text_field": stored.text_field,
                "id_field": stored.id_field,
            })),
        }
    }
    let names: Vec<Value> = sources.iter().map(|s| s["name"].clone()).collect();
    let mut stage = stored.stage.clone();
    stage.insert("name".into(), NODE.into());
    stage.insert("inputs".into(), names.into());
    stage.insert("memory".into(), inv.memory.into());
    if let Some(index) = inv.index {
        stage.insert("index".into(), index.display().to_string().into());
    }
    if inv.dump_clusters && stage.get("type").is_some_and(|t| t == "minhash_dedup") {
        stage.insert("dump_clusters".into(), true.into());
    }
    // Before phase 4 nothing reaches the sink (the barrier has not decided): its directory in
    // the work dir stays empty.
    let output = inv
        .output
        .map_or_else(|| work_dir.join("output").display().to_string(), |o| o.output.clone());
    let mut sinks =
        vec![json!({ "name": "output", "type": "jsonl", "inputs": [NODE], "path": output })];
    if let Some(rejects) = inv.output.and_then(|o| o.rejects.as_ref()) {
        sinks.push(json!({
            "name": "rejects",
            "type": "jsonl",
            "inputs": [format!("{NODE}.rejected")],
            "path": rejects,
        }));
    }
    // No ledger: a phase's tasks resume by their completion markers (a killed task runs its
    // share again), and a ledger would record every document a second time beside the
    // barrier's staging.
    let spec = json!({
        "version": 1,
        "run": { "work_dir": work_dir.display().to_string(), "ledger": false },
        "source": sources,
        "stage": [stage],
        "sink": sinks,
    });
    let text = toml::to_string(&spec)?;
    let file = work_dir.join("dedup-pipeline.toml");
    let mut plan = crate::config::compile(&text, &file)
        .map_err(|d| usage(format!("the dedup pipeline:\n{d}")))?;
    plan.config_hash = format!("{:032x}", xxh3_128(&serde_json::to_vec(stored)?));
    Ok(plan)
}

/// Runs task `rank` of step `step` of `plan` as a job array of `world` tasks, and prints what
/// it did.
///
/// # Errors
/// The step cannot start (an earlier step is not complete) or failed.
pub(super) fn run_step(
    plan: &Plan,
    step: &str,
    rank: usize,
    world: usize,
    threads: usize,
) -> anyhow::Result<Exit> {
    let opts = RunOptions {
        threads,
        progress: ProgressMode::Off,
        step: Some(StepTask { step: step.into(), rank, world_size: world }),
        ..RunOptions::default()
    };
    let stats = runner::run(plan, &opts)?;
    if step.starts_with("map-") {
        print!("{}", stats.summary());
    } else if step == "merge" {
        let path = Path::new(&plan.spec.run.work_dir).join("stats.json");
        println!("merge: every rank's counters summed in {}", path.display());
    }
    Ok(crate::cli::exit_of(&stats))
}

/// The completion marker of task `rank` of `step` (the runner's job-array layout).
fn marker(work_dir: &Path, world: usize, step: &str, rank: usize) -> PathBuf {
    work_dir.join(format!("steps/w{world}/{step}/task-{rank:05}.json"))
}

/// Phase 4 for `rank`: `map-1` again (the outputs may have changed since a previous
/// filter), then the merge if every rank of `map-1` is done.
///
/// # Errors
/// A step failed, or an earlier marker cannot be removed.
pub(super) fn filter(
    plan: &Plan,
    rank: usize,
    world: usize,
    threads: usize,
) -> anyhow::Result<Exit> {
    let work_dir = Path::new(&plan.spec.run.work_dir);
    let claim = merge_claim(work_dir, world);
    for path in
        [marker(work_dir, world, "map-1", rank), marker(work_dir, world, "merge", 0), claim.clone()]
    {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot remove {}", path.display()))
                );
            }
        }
    }
    let exit = run_step(plan, "map-1", rank, world, threads)?;
    if exit != Exit::Ok {
        return Ok(exit);
    }
    if (0..world).all(|r| marker(work_dir, world, "map-1", r).exists()) {
        // Ranks finishing together all see every marker: the one that creates the claim merges.
        if let Some(parent) = claim.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&claim) {
            Ok(_) => return run_step(plan, "merge", 0, world, threads),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                println!("filter rank {rank} of {world} done; another rank merges the statistics");
                return Ok(Exit::Ok);
            }
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot create {}", claim.display()))
                );
            }
        }
    }
    println!("filter rank {rank} of {world} done; the last rank to finish merges the statistics");
    Ok(Exit::Ok)
}

/// Created by the one rank that runs the merge after `map-1` (removed when a filter starts).
fn merge_claim(work_dir: &Path, world: usize) -> PathBuf {
    work_dir.join(format!("steps/w{world}/merge-claim"))
}

/// The directory of what the dedup stage staged in a job array of `world` tasks: the
/// documents, and in `dedup/` its artifacts (signatures, edges, clusters).
pub(super) fn barrier_dir(work_dir: &Path, world: usize) -> PathBuf {
    work_dir.join("barriers").join(NODE).join(format!("w{world}"))
}
