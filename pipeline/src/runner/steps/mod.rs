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
//! - **{barrier}-buckets** (N tasks): phase 2 of document dedup over key shards: the map tasks
//!   route every document's band keys to N shards, task R sorts shard R of every partition.
//!   **{barrier}-clusters** (1 task): phase 3, connected components over the edges only (its
//!   memory is bounded by the barrier's `memory`, its work by the duplicate edges).
//!   **{barrier}-count** (N tasks) for `line_dedup`: task R merges hash range R of every map
//!   task's sorted unit counts.
//! - **merge** (1 task): the manifest of each megatron sink (the tasks' shard lists, in order),
//!   `stats.json` (every task's counters summed, each task's cost), the input history and the
//!   dedup indexes. It reads no shard bytes.
//!
//! Each task writes a completion marker last, `{work_dir}/steps/w{N}/{step}/task-{rank}.json`,
//! holding what later steps need (its counters, the shards it wrote, what it staged). A step
//! starts only when every task of the step before it has a marker of the same config; a task
//! whose marker exists is done, and running it again does nothing. A task that dies leaves no
//! marker, and its rerun rewrites the same files with the same bytes (outputs are deterministic
//! and named by pass and rank), so two attempts of one task cannot mix their outputs; the rerun
//! replays the work units the dead attempt finished (the ledger).
//!
//! The work dir may be on object storage ([`RemoteWork`]): each task then works in a scratch
//! directory of its own and moves whole files to and from the store.

mod dedup;
mod layout;
mod map;
mod merge;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use super::RunOptions;
use super::barrier::{self, BarrierSpec};
use super::ledger::RunLock;
use super::remote::RemoteWork;
use crate::config::Plan;
use crate::stats::{NodeStats, RunStats, RunStatus, TaskCost, UnitCounts, cpu_secs, secs};
use layout::{Layout, Marker, markers};

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
    /// The decision of a `line_dedup` barrier (the map tasks' unit counts merged) or of a
    /// `decontaminate` one (their benchmark n-gram document counts summed), each task over its
    /// key shard.
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
            format!(
                "replays its share of what {} kept through the rest of the pipeline",
                names.join(", ")
            )
        };
        steps.push(Step {
            name: format!("map-{pass}"),
            tasks: world,
            kind: StepKind::Map { pass },
            what,
        });
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
                Some(BarrierSpec::Decontaminate(_)) => steps.push(Step {
                    name: format!("{name}-count"),
                    tasks: world,
                    kind: StepKind::Count { barrier: b },
                    what: format!("sums its key shard of every map task's benchmark n-gram document counts for `{name}`, lists the n-grams over `max_document_frequency`"),
                }),
                None => {}
            }
        }
    }
    steps.push(Step {
        name: "merge".into(),
        tasks: 1,
        kind: StepKind::Merge,
        what: "writes the manifests and stats.json from the tasks' markers (reads no shard bytes)"
            .into(),
    });
    Ok(steps)
}

/// What one task of the first map step will read (`run --dry-run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstShare {
    /// The task's rank.
    pub rank: usize,
    /// Its work units, by index over every source's units in listing order.
    pub units: std::ops::Range<usize>,
    /// Their stored bytes.
    pub bytes: u64,
    /// The first and the last of them (a file, or `FILE [bytes A..B]` for part of one).
    pub span: Option<(String, String)>,
}

/// How the first map step deals the sources' work units over `world` tasks.
pub fn first_shares(plan: &Plan, world: usize) -> Vec<FirstShare> {
    let mut inputs = crate::build::list_sources(plan);
    crate::build::split_units(plan, &mut inputs);
    let files: Vec<&crate::storage::InputFile> = inputs.iter().flat_map(|s| &s.files).collect();
    let sizes: Vec<u64> = files.iter().map(|f| f.unit_bytes()).collect();
    let name = |f: &crate::storage::InputFile| match f.span {
        Some(crate::storage::Span::Bytes { start, end }) => {
            format!("{} [bytes {start}..{end}]", f.url)
        }
        Some(crate::storage::Span::RowGroups { start, end, .. }) => {
            format!("{} [row groups {start}..{end}]", f.url)
        }
        None => f.url.clone(),
    };
    (0..world.max(1))
        .map(|rank| {
            let units = share(&sizes, rank, world.max(1));
            let span =
                (!units.is_empty()).then(|| (name(files[units.start]), name(files[units.end - 1])));
            FirstShare { rank, bytes: sizes[units.clone()].iter().sum(), units, span }
        })
        .collect()
}

/// One task of one step, as it runs.
struct Ctx<'a> {
    /// The plan, its work dir this task's: the shared one, or the scratch of an object-store
    /// work dir.
    plan: Plan,
    opts: &'a RunOptions,
    task: &'a StepTask,
    layout: Layout,
    steps: Vec<Step>,
    /// This step's index in `steps`.
    index: usize,
    started: Instant,
    cpu_before: f64,
}

impl Ctx<'_> {
    fn step(&self) -> &Step {
        &self.steps[self.index]
    }

    /// The steps before this one.
    fn earlier(&self) -> &[Step] {
        &self.steps[..self.index]
    }

    /// What this task cost so far.
    fn cost(&self, input_bytes: u64) -> TaskCost {
        TaskCost {
            rank: self.task.rank,
            cpu_secs: cpu_secs() - self.cpu_before,
            elapsed_secs: secs(self.started.elapsed()),
            peak_rss_bytes: crate::stats::peak_rss_bytes(),
            input_bytes,
        }
    }

    /// This task's completion marker, to fill in.
    fn marker(&self, cost: TaskCost) -> Marker {
        Marker {
            config_hash: self.plan.config_hash.clone(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            step: self.step().name.clone(),
            rank: self.task.rank,
            world_size: self.task.world_size,
            host: super::hostname(),
            finished: crate::stats::now_rfc3339(),
            cost,
            stats: None,
            staged: BTreeMap::new(),
            report: None,
            inputs: Vec::new(),
        }
    }

    /// The stats of a step that processes no documents, done.
    fn done(&self) -> RunStats {
        empty_stats(&self.plan, secs(self.started.elapsed()))
    }
}

/// Runs one task of one step.
pub(in crate::runner) fn run_step(
    plan: &Plan,
    opts: &RunOptions,
    task: &StepTask,
) -> anyhow::Result<RunStats> {
    let (ctx, _lock) = match open(plan, opts, task)? {
        Opened::Done(stats) => return Ok(*stats),
        Opened::Ready(ctx, lock) => (ctx, lock),
    };
    let barriers = barrier::barriers(&ctx.plan)?;
    let spec_of = |b: usize| {
        barriers[b]
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("`{}` is not a barrier", ctx.plan.nodes[b].name))
    };
    let stats = match ctx.step().kind {
        StepKind::Map { pass } => map::map_task(&ctx, pass)?,
        StepKind::Buckets { barrier } => match spec_of(barrier)? {
            BarrierSpec::Documents(d) => dedup::buckets(&ctx, barrier, d)?,
            _ => anyhow::bail!("not a dedup barrier"),
        },
        StepKind::Clusters { barrier } => match spec_of(barrier)? {
            BarrierSpec::Documents(d) => dedup::clusters(&ctx, barrier, d)?,
            _ => anyhow::bail!("not a dedup barrier"),
        },
        StepKind::Count { barrier } => match spec_of(barrier)? {
            BarrierSpec::Lines(c) => dedup::count(&ctx, barrier, *c)?,
            BarrierSpec::Decontaminate(f) => dedup::count_ngrams(&ctx, barrier, f)?,
            BarrierSpec::Documents(_) => anyhow::bail!("not a counting barrier"),
        },
        StepKind::Merge => merge::merge(&ctx, &barriers)?,
    };
    if ctx.layout.remote.is_some() && stats.status == RunStatus::Complete {
        // The store holds everything later steps need.
        let _ = std::fs::remove_dir_all(&ctx.layout.work);
    }
    Ok(stats)
}

enum Opened<'a> {
    /// The task had finished before: its stats.
    Done(Box<RunStats>),
    /// Ready to run, holding the task's lock.
    Ready(Box<Ctx<'a>>, RunLock),
}

/// Finds the step, locks the task, prepares its work dir, and checks that it is not done and
/// that the step before it is.
fn open<'a>(plan: &Plan, opts: &'a RunOptions, task: &'a StepTask) -> anyhow::Result<Opened<'a>> {
    let (started, cpu_before) = (Instant::now(), cpu_secs());
    let steps = plan_steps(plan, task.world_size)?;
    let Some(index) = steps.iter().position(|s| s.name == task.step) else {
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        anyhow::bail!(
            "this pipeline has no step `{}`; its steps are {} (see `tokenmill plan`)",
            task.step,
            names.join(", ")
        );
    };
    let step = &steps[index];
    anyhow::ensure!(
        task.rank < step.tasks,
        "step `{}` has {} task(s): rank {} is out of range",
        step.name,
        step.tasks,
        task.rank
    );
    if opts.incremental {
        anyhow::bail!(
            "--incremental runs as one process (or `tokenmill trigger`); a job array rewrites its outputs"
        );
    }
    // A work dir on object storage: this task works in a scratch directory of its own.
    let remote = RemoteWork::of(&plan.spec.run.work_dir, &plan.spec.run.storage)?;
    let task_dir = format!("{}-{}", step.name, task.rank);
    // Two attempts of one task never run at once on one machine (nor, on a shared work dir,
    // anywhere): the lock is held from before the scratch directory is cleared.
    let lock = match &remote {
        Some(r) => RunLock::acquire(&r.scratch(""), &format!("{task_dir}.lock"), "work dir")?,
        None => {
            let dir = PathBuf::from(&plan.spec.run.work_dir)
                .join(format!("steps/w{}/{}", task.world_size, step.name));
            RunLock::acquire(&dir, &format!("task-{:05}.lock", task.rank), "work dir")?
        }
    };
    let work = match &remote {
        Some(r) => {
            let scratch = r.scratch(&task_dir);
            if scratch.exists() {
                std::fs::remove_dir_all(&scratch)
                    .with_context(|| format!("cannot clear scratch dir {}", scratch.display()))?;
            }
            scratch
        }
        None => PathBuf::from(&plan.spec.run.work_dir),
    };
    std::fs::create_dir_all(&work)
        .with_context(|| format!("cannot create work dir {}", work.display()))?;
    let mut local = plan.clone();
    local.spec.run.work_dir = work.display().to_string();
    let layout = Layout { work, world: task.world_size, remote };
    let done = layout.read_marker(&step.name, task.rank)?.filter(|m| {
        m.config_hash == local.config_hash && m.tool_version == env!("CARGO_PKG_VERSION")
    });
    if let Some(done) = done {
        let marker = layout.marker_url(&step.name, task.rank);
        tracing::info!(
            step = step.name,
            rank = task.rank,
            marker,
            "this task is already complete: nothing to do"
        );
        return Ok(Opened::Done(Box::new(done.stats.unwrap_or_else(|| empty_stats(&local, 0.0)))));
    }
    if index > 0 {
        markers(&local, &layout, &steps[index - 1])?;
    }
    Ok(Opened::Ready(
        Box::new(Ctx { plan: local, opts, task, layout, steps, index, started, cpu_before }),
        lock,
    ))
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
            usize::try_from(middle * world as u128 / (2 * total))
                .unwrap_or(usize::MAX)
                .min(world - 1)
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

/// The stats of a step that processes no documents.
fn empty_stats(plan: &Plan, elapsed: f64) -> RunStats {
    RunStats {
        status: RunStatus::Complete,
        tool_version: crate::LONG_VERSION.into(),
        config_hash: plan.config_hash.clone(),
        threads: 1,
        elapsed_secs: elapsed,
        input_files: 0,
        input_bytes: 0,
        decoded_bytes: 0,
        peak_rss_bytes: crate::stats::peak_rss_bytes(),
        nodes: plan
            .nodes
            .iter()
            .map(|n| NodeStats {
                name: n.name.clone(),
                kind: n.kind.into(),
                role: n.role.label().into(),
                ..NodeStats::default()
            })
            .collect(),
        sinks: BTreeMap::new(),
        units: UnitCounts::default(),
        seen_inputs_skipped: 0,
        inputs_to_retry: Vec::new(),
        steps: Vec::new(),
    }
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
