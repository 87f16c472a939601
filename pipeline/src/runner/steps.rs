//! A job as the steps of a job array: every pass, every barrier phase and the final merge.
//!
//! ```text
//!  map-0 (N tasks) ─► {dedup}-buckets (N) ─► {dedup}-clusters (1) ─► map-1 (N) ─► … ─► merge (1)
//!                     {lines}-count (1) ──────────────────────────┘
//! ```
//! - **map-P**: the units of pass P (input files; for P > 0 the files the barriers staged) are
//!   dealt over the tasks in contiguous ranges balanced by bytes. A task runs its range through
//!   the pipeline exactly as one process would, writes the sinks' files under names tagged with
//!   its pass and rank (`shard_p1-00002_00000.bin`, `part-p0-00002-00000.jsonl.zst`: the output
//!   read in name order is the dataset in order) and stages what reaches a later barrier, with
//!   ordinals that grow in input order over all tasks (`pass << 56 | rank << 32 | n`).
//! - **{barrier}-buckets** (N tasks): phase 2 of document dedup, the band partitions dealt over
//!   the tasks. **{barrier}-clusters** (1 task): phase 3, connected components over the edges
//!   only (its memory is bounded by the barrier's `memory`, its work by the duplicate edges).
//!   **{barrier}-count** (1 task) for `line_dedup`: merges the tasks' sorted unit counts,
//!   streaming (its memory is the number of tasks' read buffers).
//! - **merge** (1 task): the manifest of each megatron sink (the tasks' shard lists, in order),
//!   `stats.json` (every task's counters summed, each task's cost), the input history and the
//!   dedup indexes. It reads no shard bytes.
//!
//! Each task writes a completion marker last, `{work_dir}/steps/w{N}/{step}/task-{rank}.json`,
//! holding what later steps need (its counters, the shards it wrote, what it staged). A step
//! starts only when every task of the step before it has a marker of the same config; a task
//! whose marker exists is done, and running it again does nothing. A task that dies leaves no
//! marker, and its rerun rewrites the same files with the same bytes (outputs are deterministic
//! and named by pass and rank), so two attempts of one task cannot mix their outputs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenmill_dedup::DedupIndex;
use tokenmill_dedup::phases::{Partition, run_partition_shard, run_phase3_of};

use super::barrier::{self, BarrierSpec, Collector, Replay, StageAt, Staged};
use super::exec::Exec;
use super::history::{History, Seen};
use super::ledger::{Ledger, RunLock};
use super::remote::{RemoteWork, relative};
use super::writer::Writer;
use super::{PassWork, RunOptions, manifest_dirs, run_pass, write_stats};
use crate::build;
use crate::config::{Plan, SinkSpec};
use crate::progress::Progress;
use crate::sink::{Naming, Output, SinkReport};
use crate::stats::{NodeStats, RunStats, RunStatus, StepReport, TaskCost, UnitCounts, cpu_secs, secs};

/// One task of one step: `tokenmill run CONFIG --step NAME --rank R --world-size N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTask {
    /// The step's name, as [`plan_steps`] gives it.
    pub step: String,
    /// This task's rank in the step, from 0.
    pub rank: usize,
    /// The job array's size (the task count of the map and bucket steps).
    pub world_size: usize,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Pass `pass` over its units, dealt over the tasks.
    Map {
        /// The pass.
        pass: usize,
    },
    /// Phase 2 of a document-dedup barrier (band partitions dealt over the tasks).
    Buckets {
        /// The barrier's node id.
        barrier: usize,
    },
    /// Phase 3 of a document-dedup barrier: clusters over the edges, on one task.
    Clusters {
        /// The barrier's node id.
        barrier: usize,
    },
    /// The decision of a `line_dedup` barrier: the tasks' unit counts merged, on one task.
    Count {
        /// The barrier's node id.
        barrier: usize,
    },
    /// Manifests, statistics, history: on one task, reading no shard bytes.
    Merge,
}

/// One step of a job: `tasks` tasks that can run at once, after every earlier step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its name (`map-0`, `dedup-buckets`, `merge`).
    pub name: String,
    /// How many tasks it has.
    pub tasks: usize,
    /// What it does.
    pub kind: StepKind,
    /// One line on what each task does.
    pub what: String,
}

/// The steps of a job run as a job array of `world` tasks, in the order they must run.
///
/// # Errors
/// A barrier stage is invalid.
pub fn plan_steps(plan: &Plan, world: usize) -> anyhow::Result<Vec<Step>> {
    anyhow::ensure!(world > 0, "the world size must be at least 1");
    let barriers = barrier::barriers(plan)?;
    let mut steps = Vec::new();
    for (pass, entries) in plan.passes.iter().enumerate() {
        let names: Vec<&str> = entries.iter().map(|&e| plan.nodes[e].name.as_str()).collect();
        let what = if pass == 0 {
            format!(
                "reads its share of the inputs of {} (a contiguous range of work units, balanced by bytes) through the pipeline",
                names.join(", ")
            )
        } else {
            format!("replays its share of what {} kept through the rest of the pipeline", names.join(", "))
        };
        steps.push(Step { name: format!("map-{pass}"), tasks: world, kind: StepKind::Map { pass }, what });
        for &b in plan.passes.get(pass + 1).into_iter().flatten() {
            let name = &plan.nodes[b].name;
            match &barriers[b] {
                Some(BarrierSpec::Documents(_)) => {
                    steps.push(Step {
                        name: format!("{name}-buckets"),
                        tasks: world,
                        kind: StepKind::Buckets { barrier: b },
                        what: format!(
                            "sorts its key shard of every band partition of `{name}` (dedup phase 2), writes the verified duplicate edges"
                        ),
                    });
                    steps.push(Step {
                        name: format!("{name}-clusters"),
                        tasks: 1,
                        kind: StepKind::Clusters { barrier: b },
                        what: format!("clusters the duplicate edges of `{name}` (dedup phase 3), lists the documents to remove"),
                    });
                }
                Some(BarrierSpec::Lines(_)) => steps.push(Step {
                    name: format!("{name}-count"),
                    tasks: world,
                    kind: StepKind::Count { barrier: b },
                    what: format!("merges its key shard of every map task's unit counts for `{name}`, lists the boilerplate units"),
                }),
                None => {}
            }
        }
    }
    steps.push(Step {
        name: "merge".into(),
        tasks: 1,
        kind: StepKind::Merge,
        what: "writes the manifests and stats.json from the tasks' markers (reads no shard bytes)".into(),
    });
    Ok(steps)
}

/// A task's completion marker, written last.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Marker {
    config_hash: String,
    tool_version: String,
    step: String,
    rank: usize,
    world_size: usize,
    host: String,
    finished: String,
    cost: TaskCost,
    /// A map task's counters and sink reports (with the shards it wrote).
    #[serde(default)]
    stats: Option<RunStats>,
    /// What a map task staged for each barrier, by barrier name.
    #[serde(default)]
    staged: BTreeMap<String, Staged>,
    /// A barrier step's report.
    #[serde(default)]
    report: Option<serde_json::Value>,
    /// Every input of the job (map-0, rank 0), for the manifests and the history.
    #[serde(default)]
    inputs: Vec<Seen>,
}

/// Where the steps of a job array of `world` tasks keep their state: `work` (a directory every
/// task sees, or this task's local scratch when the work dir is on object storage).
struct Layout {
    work: PathBuf,
    world: usize,
    remote: Option<RemoteWork>,
}

impl Layout {
    fn marker_rel(&self, step: &str, rank: usize) -> String {
        format!("steps/w{}/{step}/task-{rank:05}.json", self.world)
    }

    fn marker(&self, step: &str, rank: usize) -> PathBuf {
        self.work.join(self.marker_rel(step, rank))
    }

    /// Where a marker is, for messages.
    fn marker_url(&self, step: &str, rank: usize) -> String {
        match &self.remote {
            Some(r) => r.url(&self.marker_rel(step, rank)),
            None => self.marker(step, rank).display().to_string(),
        }
    }

    /// A task's marker, if it has a readable one.
    fn read_marker(&self, step: &str, rank: usize) -> anyhow::Result<Option<Marker>> {
        let bytes = match &self.remote {
            Some(r) => r.get(&self.marker_rel(step, rank))?,
            None => std::fs::read(self.marker(step, rank)).ok(),
        };
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Writes a marker (the last thing a task does).
    fn write_marker(&self, marker: &Marker) -> anyhow::Result<()> {
        let path = self.marker(&marker.step, marker.rank);
        write_marker(&path, marker)?;
        if let Some(r) = &self.remote {
            r.upload(&self.work, &self.marker_rel(&marker.step, marker.rank))?;
        }
        Ok(())
    }

    /// The path of `path` (under `work`) relative to the work dir.
    fn rel(&self, path: &Path) -> anyhow::Result<String> {
        relative(&self.work, path)
    }

    /// Brings `rel` (a file, or with `dir` a directory) from the store into `work`.
    fn fetch(&self, rel: &str, dir: bool) -> anyhow::Result<()> {
        if let Some(r) = &self.remote {
            if dir {
                r.download_dir(rel, &self.work)?;
            } else if !r.download(rel, &self.work)? {
                anyhow::bail!("{} is missing", r.url(rel));
            }
        }
        Ok(())
    }

    /// Sends `rel` (a file, or with `dir` a directory) from `work` to the store.
    fn push(&self, rel: &str, dir: bool) -> anyhow::Result<()> {
        if let Some(r) = &self.remote {
            if dir {
                r.upload_dir(&self.work, rel)?;
            } else {
                r.upload(&self.work, rel)?;
            }
        }
        Ok(())
    }

    fn barrier_rel(&self, name: &str) -> String {
        format!("barriers/{name}/w{}", self.world)
    }

    fn barrier(&self, name: &str) -> PathBuf {
        self.work.join(self.barrier_rel(name))
    }

    fn dedup_rel(&self, name: &str) -> String {
        format!("{}/dedup", self.barrier_rel(name))
    }

    fn dedup(&self, name: &str) -> PathBuf {
        self.barrier(name).join("dedup")
    }

    /// The boilerplate units of key shard `shard` of a `line_dedup` barrier.
    fn boilerplate(&self, name: &str, shard: usize) -> PathBuf {
        self.barrier(name).join(format!("boilerplate-s{shard:05}.hashes"))
    }
}

/// Runs one task of one step.
pub(super) fn run_step(plan: &Plan, opts: &RunOptions, task: &StepTask) -> anyhow::Result<RunStats> {
    let started = Instant::now();
    let cpu_before = cpu_secs();
    let steps = plan_steps(plan, task.world_size)?;
    let Some(index) = steps.iter().position(|s| s.name == task.step) else {
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        anyhow::bail!("this pipeline has no step `{}`; its steps are {} (see `tokenmill plan`)", task.step, names.join(", "));
    };
    let step = &steps[index];
    anyhow::ensure!(task.rank < step.tasks, "step `{}` has {} task(s): rank {} is out of range", step.name, step.tasks, task.rank);
    if opts.incremental {
        anyhow::bail!("--incremental runs as one process (or `tokenmill trigger`); a job array rewrites its outputs");
    }
    // A work dir on object storage: this task works in a scratch directory of its own.
    let remote = RemoteWork::of(&plan.spec.run.work_dir, &plan.spec.run.storage)?;
    let task_dir = format!("{}-{}", step.name, task.rank);
    // Two attempts of one task never run at once on one machine (nor, on a shared work dir,
    // anywhere): the lock is held from before the scratch directory is cleared.
    let lock_dir = match &remote {
        Some(r) => r.scratch(""),
        None => PathBuf::from(&plan.spec.run.work_dir).join(format!("steps/w{}/{}", task.world_size, step.name)),
    };
    let lock_name = match &remote {
        Some(_) => format!("{task_dir}.lock"),
        None => format!("task-{:05}.lock", task.rank),
    };
    let _lock = RunLock::acquire(&lock_dir, &lock_name, "work dir")?;
    let work = match &remote {
        Some(r) => {
            let scratch = r.scratch(&task_dir);
            if scratch.exists() {
                std::fs::remove_dir_all(&scratch).with_context(|| format!("cannot clear scratch dir {}", scratch.display()))?;
            }
            scratch
        }
        None => PathBuf::from(&plan.spec.run.work_dir),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create work dir {}", work.display()))?;
    let mut local = plan.clone();
    local.spec.run.work_dir = work.display().to_string();
    let plan = &local;
    let layout = Layout { work: work.clone(), world: task.world_size, remote };
    if let Some(done) = layout
        .read_marker(&step.name, task.rank)?
        .filter(|m| m.config_hash == plan.config_hash && m.tool_version == env!("CARGO_PKG_VERSION"))
    {
        tracing::info!(
            step = step.name,
            rank = task.rank,
            marker = layout.marker_url(&step.name, task.rank),
            "this task is already complete: nothing to do"
        );
        return Ok(done.stats.unwrap_or_else(|| empty_stats(plan, 0.0)));
    }
    if index > 0 {
        markers(plan, &layout, &steps[index - 1])?;
    }
    let cost = |input_bytes: u64| TaskCost {
        rank: task.rank,
        cpu_secs: cpu_secs() - cpu_before,
        elapsed_secs: secs(started.elapsed()),
        peak_rss_bytes: crate::stats::peak_rss_bytes(),
        input_bytes,
    };
    let marker = |cost: TaskCost| Marker {
        config_hash: plan.config_hash.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        step: step.name.clone(),
        rank: task.rank,
        world_size: task.world_size,
        host: super::hostname(),
        finished: crate::stats::now_rfc3339(),
        cost,
        stats: None,
        staged: BTreeMap::new(),
        report: None,
        inputs: Vec::new(),
    };
    let barriers = barrier::barriers(plan)?;
    let spec_of = |b: usize| barriers[b].as_ref().ok_or_else(|| anyhow::anyhow!("`{}` is not a barrier", plan.nodes[b].name));
    let stats = match step.kind {
        StepKind::Map { pass } => map_task(plan, opts, &layout, &steps[..index], pass, task, started, cpu_before)?,
        StepKind::Buckets { barrier } => {
            let BarrierSpec::Documents(d) = spec_of(barrier)? else { anyhow::bail!("not a dedup barrier") };
            let name = &plan.nodes[barrier].name;
            let dedup = layout.dedup_rel(name);
            let dir = layout.dedup(name);
            let partitions = Partition::all(&d.config);
            // Band keys of this task's key shard of every partition, all of them; signatures
            // only for verifying candidates (on object storage: just their records).
            for p in &partitions {
                layout.fetch(&layout.rel(&p.keys_dir(&dir, task.rank))?, true)?;
            }
            if let Some(remote) = &layout.remote {
                let needed = partitions
                    .iter()
                    .map(|&p| tokenmill_dedup::phases::shard_candidates(&dir, &d.config, p, task.rank))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat();
                fetch_signature_records(remote, &layout, name, &d.config, needed, task.world_size)?;
            }
            // The partitions side by side on the task's cores (each sort within `memory`).
            let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.threads.max(1)).build()?;
            let done = pool
                .install(|| {
                    partitions.into_par_iter().map(|p| run_partition_shard(&dir, &d.config, p, task.rank)).collect::<Result<Vec<_>, _>>()
                })
                .with_context(|| format!("`{name}` phase 2 in {}", dir.display()))?;
            layout.push(&format!("{dedup}/edges"), true)?;
            tracing::info!(step = step.name, rank = task.rank, partitions = done.len(), "band partitions sorted, edges written");
            layout.write_marker(&marker(cost(0)))?;
            empty_stats(plan, secs(started.elapsed()))
        }
        StepKind::Clusters { barrier } => {
            let BarrierSpec::Documents(d) = spec_of(barrier)? else { anyhow::bail!("not a dedup barrier") };
            let name = &plan.nodes[barrier].name;
            let dedup = layout.dedup_rel(name);
            layout.fetch(&format!("{dedup}/edges"), true)?;
            let documents: u64 = staged_by_map_tasks(plan, &layout, &steps[..index], barrier)?.iter().map(|s| s.documents).sum();
            let index = match &d.index {
                Some(dir) if std::fs::read_dir(dir).is_ok_and(|mut e| e.next().is_some()) => Some(DedupIndex::open(dir, &d.config)?),
                _ => None,
            };
            // The map tasks counted the documents: keeping the first of each cluster against
            // no index needs the edges only; other keep rules and an index read signatures.
            let edges_only = d.config.keep == tokenmill_dedup::KeepRule::First && index.is_none();
            if !edges_only {
                layout.fetch(&format!("{dedup}/signatures"), true)?;
            }
            let report = run_phase3_of(&layout.dedup(name), &d.config, index.as_ref(), edges_only.then_some(documents))
                .with_context(|| format!("`{name}` phase 3 in {}", layout.dedup(name).display()))?;
            layout.push(&format!("{dedup}/clusters"), true)?;
            tracing::info!(
                node = name,
                clusters = report.clusters,
                removed_exact = report.removed.exact,
                removed_fuzzy = report.removed.fuzzy,
                "deduplication done"
            );
            let mut m = marker(cost(0));
            m.report = Some(serde_json::to_value(&report)?);
            layout.write_marker(&m)?;
            empty_stats(plan, secs(started.elapsed()))
        }
        StepKind::Count { barrier } => {
            let BarrierSpec::Lines(c) = spec_of(barrier)? else { anyhow::bail!("not a line_dedup barrier") };
            let name = &plan.nodes[barrier].name;
            // Key shard `rank` of every map task's counts.
            let mut counts = Vec::new();
            for s in staged_by_map_tasks(plan, &layout, &steps[..index], barrier)? {
                let Some(rel) = s.counts.get(task.rank) else {
                    anyhow::bail!("a map task staged no line counts for key shard {}", task.rank)
                };
                layout.fetch(rel, false)?;
                counts.push(layout.work.join(rel));
            }
            let out = layout.boilerplate(name, task.rank);
            let decision = barrier::decide_lines(&counts, *c, &out)?;
            layout.push(&layout.rel(&out)?, false)?;
            let replay = Replay { files: vec![], decision, documents: 0 };
            let mut m = marker(cost(0));
            m.report = replay.report();
            layout.write_marker(&m)?;
            empty_stats(plan, secs(started.elapsed()))
        }
        StepKind::Merge => merge(plan, opts, &layout, &steps, &barriers, started, cpu_before)?,
    };
    if layout.remote.is_some() && stats.status == RunStatus::Complete {
        // The store holds everything later steps need.
        let _ = std::fs::remove_dir_all(&layout.work);
    }
    Ok(stats)
}

fn write_marker(path: &Path, marker: &Marker) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("task.json");
    let mut file = crate::sink::AtomicFile::create(dir, name)?;
    serde_json::to_writer_pretty(&mut file, marker)?;
    file.commit()?;
    Ok(())
}

/// The markers of every task of `step`, failing with what to run if one is missing.
fn markers(plan: &Plan, layout: &Layout, step: &Step) -> anyhow::Result<Vec<Marker>> {
    (0..step.tasks)
        .map(|rank| {
            let path = layout.marker_url(&step.name, rank);
            let Some(m) = layout.read_marker(&step.name, rank)? else {
                anyhow::bail!(
                    "step `{}` is not complete: task {rank} has no completion marker ({path}); run it first (`tokenmill plan` prints its command)",
                    step.name,
                );
            };
            if m.config_hash != plan.config_hash || m.tool_version != env!("CARGO_PKG_VERSION") {
                anyhow::bail!(
                    "step `{}` task {rank} was run with another config or tokenmill version ({path}); run the job's steps again from the first",
                    step.name,
                );
            }
            Ok(m)
        })
        .collect()
}

/// What every map task of `steps` staged for barrier `b`, in dataset order (pass, then rank).
fn staged_by_map_tasks(plan: &Plan, layout: &Layout, steps: &[Step], b: usize) -> anyhow::Result<Vec<Staged>> {
    let name = &plan.nodes[b].name;
    let mut out = Vec::new();
    for step in steps.iter().filter(|s| matches!(s.kind, StepKind::Map { .. })) {
        for m in markers(plan, layout, step)? {
            if let Some(s) = m.staged.get(name) {
                out.push(s.clone());
            }
        }
    }
    Ok(out)
}

/// The contiguous range of units (by index) that task `rank` of `world` does: unit `i` goes to
/// the task whose equal share of the total bytes holds the unit's middle, so ranges follow
/// the listing order and balance bytes (a unit is never split).
fn share(sizes: &[u64], rank: usize, world: usize) -> std::ops::Range<usize> {
    let total: u128 = sizes.iter().map(|&s| u128::from(s.max(1))).sum();
    let mut before = 0u128;
    let owner: Vec<usize> = sizes
        .iter()
        .map(|&s| {
            let s = u128::from(s.max(1));
            let middle = 2 * before + s;
            before += s;
            usize::try_from(middle * world as u128 / (2 * total)).unwrap_or(usize::MAX).min(world - 1)
        })
        .collect();
    let start = owner.partition_point(|&o| o < rank);
    let end = owner.partition_point(|&o| o <= rank);
    start..end
}

/// The tag of a map task's files: pass and rank, so names sort in dataset order.
fn part_tag(pass: usize, rank: usize) -> String {
    format!("p{pass}-{rank:05}")
}

#[allow(clippy::too_many_arguments)]
fn map_task(
    plan: &Plan,
    opts: &RunOptions,
    layout: &Layout,
    // The steps before this one.
    steps: &[Step],
    pass: usize,
    task: &StepTask,
    started: Instant,
    cpu_before: f64,
) -> anyhow::Result<RunStats> {
    let work_dir = &layout.work;
    let barriers = barrier::barriers(plan)?;
    // The units of this pass, in the order one process would read them.
    let mut replays: HashMap<usize, Replay> = HashMap::new();
    let inputs = if pass == 0 {
        let inputs = build::list_sources(plan);
        let unlisted: Vec<String> = inputs
            .iter()
            .flat_map(|s| &s.errors)
            .filter(|e| e.kind == crate::source::InputErrorKind::Unreadable)
            .map(ToString::to_string)
            .collect();
        if !unlisted.is_empty() {
            anyhow::bail!("cannot list the inputs:\n  {}", unlisted.join("\n  "));
        }
        let mut inputs = inputs;
        build::split_units(plan, &mut inputs);
        inputs
    } else {
        for &b in &plan.passes[pass] {
            let name = &plan.nodes[b].name;
            let Some(spec) = &barriers[b] else { continue };
            let staged = staged_by_map_tasks(plan, layout, steps, b)?;
            let decided = steps
                .iter()
                .find(|s| matches!(s.kind, StepKind::Clusters { barrier } | StepKind::Count { barrier } if barrier == b))
                .map(|s| markers(plan, layout, s))
                .transpose()?;
            let report = decided.as_deref().and_then(combined_report);
            match spec {
                BarrierSpec::Documents(_) => {
                    let removed = tokenmill_dedup::phases::remove_path(&layout.dedup(name));
                    layout.fetch(&layout.rel(&removed)?, false)?;
                }
                BarrierSpec::Lines(_) => {
                    for shard in 0..layout.world {
                        layout.fetch(&layout.rel(&layout.boilerplate(name, shard))?, false)?;
                    }
                }
            }
            let boilerplate: Vec<PathBuf> = (0..layout.world).map(|s| layout.boilerplate(name, s)).collect();
            let decision = barrier::load_decision(spec, &layout.dedup(name), &boilerplate, report.as_ref())?;
            let files = staged.iter().flat_map(|s| s.files.iter().cloned()).collect();
            replays.insert(b, Replay { files, decision, documents: staged.iter().map(|s| s.documents).sum() });
        }
        Vec::new()
    };
    let ops = build::operators(plan)?;
    let wheres = build::where_filters(plan)?;
    let naming = Naming::Part(part_tag(pass, task.rank));
    let sinks = build::sinks(plan, &ops, &inputs, false, &naming)?.into_iter().map(Some).collect();
    let exec = Exec::new(plan, ops, wheres, barriers);
    let mut work = PassWork::new(plan, pass, &plan.passes[pass], &inputs, &replays);
    let sizes = work.sizes();
    let range = share(&sizes, task.rank, task.world_size);
    let bytes: u64 = sizes[range.clone()].iter().sum();
    // Files of each entry that are this task's (a source's file count is its share).
    let mut first = 0;
    let files_here: Vec<(usize, u64)> = work
        .items
        .iter()
        .map(|(entry, files, _, _)| {
            let mine =
                files.iter().enumerate().filter(|(i, f)| range.contains(&(first + i)) && super::writer::is_first_unit(f)).count() as u64;
            first += files.len();
            (*entry, mine)
        })
        .collect();
    tracing::info!(
        step = format!("map-{pass}"),
        rank = task.rank,
        units = range.len(),
        first_unit = range.start,
        bytes,
        "task's share of the pass"
    );
    work.share = Some(range);
    work.errors_here = task.rank == 0;
    // Barriers fed in this pass or later stage what reaches them, numbered after every earlier
    // task's documents.
    let mut collectors = HashMap::new();
    for (b, spec) in exec.barriers.iter().enumerate() {
        let Some(spec) = spec else { continue };
        if plan.passes.iter().position(|entries| entries.contains(&b)).is_some_and(|p| p > pass) {
            let name = &plan.nodes[b].name;
            let at = StageAt {
                dir: layout.barrier(name).join(format!("part-{}", part_tag(pass, task.rank))),
                dedup: layout.dedup(name),
                split: u32::try_from(pass * task.world_size + task.rank).context("too many tasks")?,
                base: ((pass as u64) << 56) | ((task.rank as u64) << 32),
                key_shards: Some(task.world_size),
                // Small enough for the next map step to deal them out evenly.
                file_bytes: (plan.spec.run.unit_bytes.0 / 4).max(1 << 20),
            };
            collectors.insert(b, Collector::at(work_dir, name, spec, at)?);
        }
    }
    let mut ledger = if plan.spec.run.ledger { Ledger::open(work_dir, &plan.config_hash)? } else { Ledger::disabled(work_dir) };
    if let Some(remote) = &layout.remote {
        // The units an earlier attempt of this task finished are in the store.
        let mut keys = Vec::new();
        let mut index = 0;
        for (entry, files, _, _) in &work.items {
            for i in 0..files.len() {
                if work.mine(index) {
                    keys.push(Ledger::key(pass, &plan.nodes[*entry].name, i));
                }
                index += 1;
            }
        }
        ledger = ledger.mirrored(remote, work_dir, &keys)?;
    }
    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("tokenmill-worker-{i}")).build()?;
    let progress = Progress::new(opts.progress, bytes);
    let mut writer = Writer::new(plan, &exec, sinks, progress, opts.cancel.clone(), ledger.clone(), collectors)?;
    run_pass(plan, &exec, &pool, &mut writer, &work, &replays, threads, &opts.cancel, &ledger);
    let staged = if writer.stopped() { BTreeMap::new() } else { writer.close_collectors()? };
    let mut stats = writer.finish(plan, threads, &inputs);
    stats.input_files = if pass == 0 { files_here.iter().map(|(_, n)| n).sum() } else { 0 };
    for (entry, n) in files_here {
        if pass == 0 {
            stats.nodes[entry].files = n;
        }
    }
    stats.elapsed_secs = secs(started.elapsed());
    if let Some(path) = &opts.stats_path {
        write_stats(path, &stats)?;
    }
    if stats.status != RunStatus::Complete {
        return Ok(stats);
    }
    if !stats.inputs_to_retry.is_empty() {
        // Not complete until every input was read: the task exits non-zero (4) and its rerun
        // reads what failed, replaying the units it finished.
        tracing::warn!(
            inputs = stats.inputs_to_retry.len(),
            "some inputs could not be read: this task is not marked complete; run it again"
        );
        return Ok(stats);
    }
    // What later steps read goes to the store (a shared work dir has it already): staged
    // documents (read in place by the next map step), signatures, line counts.
    let mut staged_here = BTreeMap::new();
    for (b, mut s) in staged {
        let name = plan.nodes[b].name.clone();
        let mut files = Vec::with_capacity(s.files.len());
        for f in &s.files {
            let rel = layout.rel(Path::new(f))?;
            layout.push(&rel, false)?;
            files.push(layout.remote.as_ref().map_or_else(|| f.clone(), |r| r.url(&rel)));
        }
        s.files = files;
        let mut counts = Vec::with_capacity(s.counts.len());
        for c in &s.counts {
            let rel = layout.rel(Path::new(c))?;
            layout.push(&rel, false)?;
            counts.push(rel);
        }
        s.counts = counts;
        if let Some(BarrierSpec::Documents(_)) = &exec.barriers[b] {
            let split = u32::try_from(pass * task.world_size + task.rank)?;
            layout.push(&layout.rel(&tokenmill_dedup::phases::signature_path(&layout.dedup(&name), split))?, false)?;
            layout.push(&format!("{}/keys", layout.dedup_rel(&name)), true)?;
        }
        staged_here.insert(name, s);
    }
    let step = format!("map-{pass}");
    let marker = Marker {
        config_hash: plan.config_hash.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        step: step.clone(),
        rank: task.rank,
        world_size: task.world_size,
        host: super::hostname(),
        finished: crate::stats::now_rfc3339(),
        cost: TaskCost {
            rank: task.rank,
            cpu_secs: cpu_secs() - cpu_before,
            elapsed_secs: stats.elapsed_secs,
            peak_rss_bytes: stats.peak_rss_bytes,
            input_bytes: bytes,
        },
        stats: Some(stats.clone()),
        staged: staged_here,
        report: None,
        inputs: if pass == 0 && task.rank == 0 { Seen::of(&inputs) } else { Vec::new() },
    };
    layout.write_marker(&marker)?;
    Ok(stats)
}

/// The report of a barrier's decision step: its one task's, or (key shards) the sum of its
/// tasks' counters.
fn combined_report(markers: &[Marker]) -> Option<serde_json::Value> {
    let mut reports = markers.iter().filter_map(|m| m.report.as_ref());
    let mut total = reports.next()?.clone();
    for r in reports {
        if let (Some(t), Some(r)) = (total.as_object_mut(), r.as_object()) {
            for (k, v) in r {
                if let (Some(a), Some(b)) = (t.get(k).and_then(serde_json::Value::as_u64), v.as_u64()) {
                    t.insert(k.clone(), serde_json::Value::from(a + b));
                }
            }
        }
    }
    Some(total)
}

/// Writes, for every split holding some of `ids`, a signature file of just their records,
/// fetched with ranged reads (a split's records are in id order, one per staged document, so a
/// record's offset follows from its id: `pass << 56 | rank << 32 | n`).
fn fetch_signature_records(
    remote: &RemoteWork,
    layout: &Layout,
    name: &str,
    config: &tokenmill_dedup::DedupConfig,
    mut ids: Vec<u64>,
    world: usize,
) -> anyhow::Result<()> {
    use tokenmill_dedup::format::{ArtifactKind, ArtifactWriter, HEADER_LEN};
    ids.sort_unstable();
    ids.dedup();
    tracing::info!(records = ids.len(), "fetching the signatures of the candidates");
    let len = config.record_len() as u64;
    let dir = layout.dedup(name);
    for group in ids.chunk_by(|a, b| a >> 32 == b >> 32) {
        let (pass, rank) = (usize::try_from(group[0] >> 56)?, usize::try_from((group[0] >> 32) & 0xff_ffff)?);
        let split = u32::try_from(pass * world + rank)?;
        let local = tokenmill_dedup::phases::signature_path(&dir, split);
        let rel = layout.rel(&local)?;
        let ranges: Vec<std::ops::Range<u64>> =
            group.iter().map(|id| HEADER_LEN + (id & 0xffff_ffff) * len..HEADER_LEN + ((id & 0xffff_ffff) + 1) * len).collect();
        let mut out = ArtifactWriter::create(&local, ArtifactKind::Signatures, config.record_len(), config.fingerprint())?;
        for (id, bytes) in group.iter().zip(remote.get_ranges(&rel, &ranges)?) {
            if bytes.len() != config.record_len() || bytes[..8] != id.to_le_bytes() {
                anyhow::bail!("{}: the record of document {id} is not where its id says", remote.url(&rel));
            }
            out.write_record(&bytes)?;
        }
        out.finish()?;
    }
    Ok(())
}

/// The stats of a step that processes no documents.
fn empty_stats(plan: &Plan, elapsed: f64) -> RunStats {
    RunStats {
        status: RunStatus::Complete,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        config_hash: plan.config_hash.clone(),
        threads: 1,
        elapsed_secs: elapsed,
        input_files: 0,
        input_bytes: 0,
        decoded_bytes: 0,
        peak_rss_bytes: crate::stats::peak_rss_bytes(),
        nodes: plan.nodes.iter().map(|n| NodeStats { name: n.name.clone(), kind: n.kind.into(), ..NodeStats::default() }).collect(),
        sinks: BTreeMap::new(),
        units: UnitCounts::default(),
        seen_inputs_skipped: 0,
        inputs_to_retry: Vec::new(),
        steps: Vec::new(),
    }
}

/// The last step: manifests, statistics, history, indexes, from the markers alone.
fn merge(
    plan: &Plan,
    opts: &RunOptions,
    layout: &Layout,
    steps: &[Step],
    barriers: &[Option<BarrierSpec>],
    started: Instant,
    cpu_before: f64,
) -> anyhow::Result<RunStats> {
    let mut all: Vec<(&Step, Vec<Marker>)> = Vec::new();
    for step in steps.iter().filter(|s| s.kind != StepKind::Merge) {
        all.push((step, markers(plan, layout, step)?));
    }
    let mut stats = empty_stats(plan, 0.0);
    stats.peak_rss_bytes = None;
    let mut inputs: Vec<Seen> = Vec::new();
    let mut parts: BTreeMap<String, Vec<SinkReport>> = BTreeMap::new();
    for (step, markers) in &all {
        if let StepKind::Clusters { barrier } | StepKind::Count { barrier } = step.kind {
            stats.nodes[barrier].report = combined_report(markers);
        }
        stats.steps.push(StepReport { name: step.name.clone(), tasks: markers.iter().map(|m| m.cost.clone()).collect() });
        for m in markers {
            if inputs.is_empty() {
                inputs.clone_from(&m.inputs);
            }
            let Some(s) = &m.stats else { continue };
            for ((node, st), barrier) in stats.nodes.iter_mut().zip(&s.nodes).zip(barriers) {
                node.merge(st);
                // Which encoder a tokenize node ran (barrier reports come from their steps).
                if node.report.is_none() && barrier.is_none() {
                    node.report.clone_from(&st.report);
                }
            }
            stats.threads = stats.threads.max(s.threads);
            stats.input_files += s.input_files;
            stats.input_bytes += s.input_bytes;
            stats.decoded_bytes += s.decoded_bytes;
            stats.units.processed += s.units.processed;
            stats.units.reused += s.units.reused;
            stats.peak_rss_bytes = stats.peak_rss_bytes.max(s.peak_rss_bytes);
            stats.inputs_to_retry.extend(s.inputs_to_retry.iter().cloned());
            for (sink, report) in &s.sinks {
                parts.entry(sink.clone()).or_default().push(report.clone());
            }
        }
    }
    let work_dir = &layout.work;
    for (k, spec) in plan.spec.sinks.iter().enumerate() {
        let node = plan.nodes.iter().position(|n| matches!(n.role, crate::config::Role::Sink(i) if i == k)).unwrap_or_default();
        let reports = parts.remove(spec.name()).unwrap_or_default();
        let out = Output::open(spec.path(), spec.storage(), work_dir, spec.name()).with_context(|| format!("sink `{}`", spec.name()))?;
        let report = merge_sink(spec, &out, &reports, &inputs)?;
        stats.nodes[node].files = report.files.len() as u64;
        stats.sinks.insert(spec.name().to_string(), report);
    }
    // The outputs are complete: the history and the dedup indexes learn this job's documents.
    for (b, spec) in barriers.iter().enumerate() {
        if let Some(BarrierSpec::Documents(d)) = spec
            && let Some(dir) = &d.index
        {
            std::fs::create_dir_all(dir)?;
            layout.fetch(&format!("{}/signatures", layout.dedup_rel(&plan.nodes[b].name)), true)?;
            DedupIndex::update(dir, &layout.dedup(&plan.nodes[b].name), &d.config)
                .with_context(|| format!("cannot update the dedup index {}", dir.display()))?;
        }
    }
    layout.fetch("history", true)?;
    History::load(work_dir, &manifest_dirs(plan))?.record_seen(&inputs, false, &stats.inputs_to_retry)?;
    layout.push("history", true)?;
    if stats.inputs_to_retry.is_empty() && plan.spec.run.ledger {
        if let Some(r) = &layout.remote {
            r.delete_dir("ledger")?;
        }
        Ledger::open(work_dir, &plan.config_hash)?.remove()?;
    }
    stats.elapsed_secs = secs(started.elapsed());
    stats.steps.push(StepReport {
        name: "merge".into(),
        tasks: vec![TaskCost {
            rank: 0,
            cpu_secs: cpu_secs() - cpu_before,
            elapsed_secs: stats.elapsed_secs,
            peak_rss_bytes: crate::stats::peak_rss_bytes(),
            input_bytes: 0,
        }],
    });
    match &opts.stats_path {
        Some(path) => write_stats(path, &stats)?,
        None => {
            write_stats(&work_dir.join("stats.json"), &stats)?;
            layout.push("stats.json", false)?;
        }
    }
    let marker = Marker {
        config_hash: plan.config_hash.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        step: "merge".into(),
        rank: 0,
        world_size: layout.world,
        host: super::hostname(),
        finished: crate::stats::now_rfc3339(),
        cost: stats.steps.last().and_then(|s| s.tasks.first().cloned()).unwrap_or_default(),
        stats: Some(stats.clone()),
        staged: BTreeMap::new(),
        report: None,
        inputs: Vec::new(),
    };
    layout.write_marker(&marker)?;
    Ok(stats)
}

/// One sink's output from its parts: a megatron sink's manifest lists every task's shards in
/// order; files that no task of this job wrote (an earlier run's) are removed.
fn merge_sink(spec: &SinkSpec, out: &Output, parts: &[SinkReport], inputs: &[Seen]) -> anyhow::Result<SinkReport> {
    let name_of = |url: &str| url.rsplit('/').next().unwrap_or_default().to_string();
    let mut report = SinkReport::default();
    for p in parts {
        report.files.extend(p.files.iter().cloned());
        report.documents += p.documents;
        report.tokens += p.tokens;
        report.bytes += p.bytes;
    }
    let written: BTreeSet<String> = report.files.iter().map(|u| name_of(u)).collect();
    let present: BTreeSet<String> = out.existing(|n| written.contains(n))?.into_iter().collect();
    if let Some(missing) = written.difference(&present).next() {
        anyhow::bail!("{} was written by a task but is not in the output any more; run the job again", out.url_of(missing));
    }
    match spec {
        SinkSpec::Megatron(s) => {
            let manifest_name = tokenmill_shards::MANIFEST_FILE;
            let stem = format!("{}_", s.prefix);
            out.remove_everywhere(|n| n == manifest_name)?;
            out.remove_everywhere(|n| {
                n.starts_with(&stem) && !written.contains(n) && [".bin", ".idx", ".tmp"].iter().any(|e| n.ends_with(e))
            })?;
            let mut shards = Vec::new();
            let mut header: Option<tokenmill_shards::Manifest> = None;
            for p in parts {
                let Some(m) = &p.part else { anyhow::bail!("a task of sink `{}` recorded no shard list", s.name) };
                shards.extend(m.shards.iter().cloned());
                if header.is_none() {
                    header = Some(m.clone());
                }
            }
            let Some(mut manifest) = header else {
                anyhow::bail!("no task wrote sink `{}`", s.name);
            };
            manifest.inputs = inputs.iter().map(|i| i.url.clone()).collect();
            manifest.documents = shards.iter().map(|s| s.documents).sum();
            manifest.tokens = shards.iter().map(|s| s.tokens).sum();
            manifest.shards = shards;
            manifest.write(out.dir())?;
            out.publish(manifest_name)?;
            report.files.push(out.url_of(manifest_name));
        }
        SinkSpec::Jsonl(_) | SinkSpec::Parquet(_) => {
            out.remove_everywhere(|n| n.starts_with("part-") && !written.contains(n))?;
        }
        SinkSpec::Llmc(s) => anyhow::bail!("sink `{}`: an llmc file cannot be written by a job array", s.name),
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_are_contiguous_cover_every_unit_and_balance_bytes() {
        let sizes = [10, 10, 10, 10, 10, 10, 10, 10];
        let ranges: Vec<_> = (0..4).map(|r| share(&sizes, r, 4)).collect();
        assert_eq!(ranges, vec![0..2, 2..4, 4..6, 6..8]);
        // Uneven units: ranges stay contiguous and ordered, and every unit is dealt once.
        let sizes = [100, 1, 1, 1, 50, 50, 1, 0, 0, 7];
        for world in 1..=12 {
            let ranges: Vec<_> = (0..world).map(|r| share(&sizes, r, world)).collect();
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(sizes.len()));
            for w in ranges.windows(2) {
                assert_eq!(w[0].end, w[1].start, "{ranges:?}");
            }
        }
        // More tasks than units: some tasks get nothing, none gets a unit twice.
        assert_eq!((0..5).map(|r| share(&[3, 3], r, 5).len()).sum::<usize>(), 2);
    }
}
