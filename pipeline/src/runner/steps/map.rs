//! A map step's task: its share of a pass's work units through the pipeline.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::layout::{combined_report, markers, staged_by_map_tasks};
use super::{Ctx, StepKind, part_tag, share};
use crate::build::{self, SourceInputs};
use crate::progress::Progress;
use crate::runner::barrier::{self, BarrierSpec, Collector, Replay, StageAt, Staged};
use crate::runner::exec::Exec;
use crate::runner::history::Seen;
use crate::runner::ledger::Ledger;
use crate::runner::writer::{Writer, is_first_unit};
use crate::runner::{PassWork, run_pass, write_stats};
use crate::sink::Naming;
use crate::stats::{RunStats, RunStatus, secs};

/// Runs this task's contiguous share of pass `pass`'s units; marks it complete.
pub(super) fn map_task(ctx: &Ctx<'_>, pass: usize) -> anyhow::Result<RunStats> {
    let (plan, task) = (&ctx.plan, ctx.task);
    let barriers = barrier::barriers(plan)?;
    let (inputs, replays) = pass_inputs(ctx, pass, &barriers)?;
    let ops = build::operators(plan)?;
    let wheres = build::where_filters(plan)?;
    let sinks = build::sinks(plan, &ops, &inputs, false, &Naming::Part(part_tag(pass, task.rank)))?
        .into_iter()
        .map(Some)
        .collect();
    let exec = Exec::new(plan, ops, wheres, barriers);
    let mut work = PassWork::new(plan, pass, &plan.passes[pass], &inputs, &replays);
    let sizes = work.sizes();
    let range = share(&sizes, task.rank, task.world_size);
    let bytes: u64 = sizes[range.clone()].iter().sum();
    let files_here = files_here(&work, &range);
    let step = format!("map-{pass}");
    tracing::info!(
        step,
        rank = task.rank,
        units = range.len(),
        first_unit = range.start,
        bytes,
        "task's share of the pass"
    );
    work.share = Some(range);
    work.errors_here = task.rank == 0;
    let collectors = collectors(ctx, pass, &exec)?;
    let ledger = ledger(ctx, pass, &work)?;
    let threads = ctx.opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tokenmill-worker-{i}"))
        .build()?;
    let progress = Progress::new(ctx.opts.progress, bytes);
    let mut writer = Writer::new(
        plan,
        &exec,
        sinks,
        progress,
        ctx.opts.cancel.clone(),
        ledger.clone(),
        collectors,
    )?;
    run_pass(plan, &exec, &pool, &mut writer, &work, &replays, threads, &ctx.opts.cancel, &ledger);
    let staged = if writer.stopped() { BTreeMap::new() } else { writer.close_collectors()? };
    let mut stats = writer.finish(plan, threads, &inputs);
    stats.input_files = if pass == 0 { files_here.iter().map(|(_, n)| n).sum() } else { 0 };
    for (entry, n) in files_here {
        if pass == 0 {
            stats.nodes[entry].files = n;
        }
    }
    stats.elapsed_secs = secs(ctx.started.elapsed());
    if let Some(path) = &ctx.opts.stats_path {
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
    let mut marker = ctx.marker(ctx.cost(bytes));
    marker.staged = publish_staged(ctx, pass, staged, &exec)?;
    marker.stats = Some(stats.clone());
    if pass == 0 && task.rank == 0 {
        marker.inputs = Seen::of(&inputs);
    }
    ctx.layout.write_marker(&marker)?;
    Ok(stats)
}

/// The inputs of pass 0 (listed, large files cut into units), or the replays of the barriers a
/// later pass reads: what every map task staged for them, and their decisions.
fn pass_inputs(
    ctx: &Ctx<'_>,
    pass: usize,
    barriers: &[Option<BarrierSpec>],
) -> anyhow::Result<(Vec<SourceInputs>, HashMap<usize, Replay>)> {
    let (plan, layout) = (&ctx.plan, &ctx.layout);
    let mut replays = HashMap::new();
    if pass == 0 {
        let mut inputs = build::list_sources(plan);
        let unlisted: Vec<String> = inputs
            .iter()
            .flat_map(|s| &s.errors)
            .filter(|e| e.kind == crate::source::InputErrorKind::Unreadable)
            .map(ToString::to_string)
            .collect();
        if !unlisted.is_empty() {
            anyhow::bail!("cannot list the inputs:\n  {}", unlisted.join("\n  "));
        }
        if !ctx.opts.incremental {
            build::check_sources_not_empty(plan, &inputs)?;
        }
        build::split_units(plan, &mut inputs);
        return Ok((inputs, replays));
    }
    for &b in &plan.passes[pass] {
        let name = &plan.nodes[b].name;
        let Some(spec) = &barriers[b] else { continue };
        let staged = staged_by_map_tasks(plan, layout, ctx.earlier(), b)?;
        let decided = ctx
            .earlier()
            .iter()
            .find(|s| matches!(s.kind, StepKind::Clusters { barrier } | StepKind::Count { barrier } if barrier == b))
            .map(|s| markers(plan, layout, s))
            .transpose()?;
        let report = decided.as_deref().and_then(combined_report);
        let decided: Vec<PathBuf> = (0..layout.world)
            .map(|s| match spec {
                BarrierSpec::Decontaminate(_) => layout.frequent_ngrams(name, s),
                _ => layout.boilerplate(name, s),
            })
            .collect();
        match spec {
            BarrierSpec::Documents(_) => layout.fetch(
                &layout.rel(&tokenmill_dedup::phases::remove_path(&layout.dedup(name)))?,
                false,
            )?,
            BarrierSpec::Lines(_) | BarrierSpec::Decontaminate(_) => {
                for path in &decided {
                    layout.fetch(&layout.rel(path)?, false)?;
                }
            }
        }
        let decision =
            barrier::load_decision(spec, &layout.dedup(name), &decided, report.as_ref())?;
        let files = staged.iter().flat_map(|s| s.files.iter().cloned()).collect();
        replays.insert(
            b,
            Replay { files, decision, documents: staged.iter().map(|s| s.documents).sum() },
        );
    }
    Ok((Vec::new(), replays))
}

/// The files of each entry that are in `range` (a source's file count is its tasks' shares).
fn files_here(work: &PassWork, range: &std::ops::Range<usize>) -> Vec<(usize, u64)> {
    let mut first = 0;
    work.items
        .iter()
        .map(|(entry, files, _, _)| {
            let mine = files
                .iter()
                .enumerate()
                .filter(|(i, f)| range.contains(&(first + i)) && is_first_unit(f))
                .count() as u64;
            first += files.len();
            (*entry, mine)
        })
        .collect()
}

/// Collectors for the barriers fed in this pass or later: what reaches them is staged with
/// ordinals after every earlier task's, and their band keys (or unit counts) are routed to
/// the key shards of the next step.
fn collectors(
    ctx: &Ctx<'_>,
    pass: usize,
    exec: &Exec<'_>,
) -> anyhow::Result<HashMap<usize, Collector>> {
    let (plan, task, layout) = (&ctx.plan, ctx.task, &ctx.layout);
    let mut collectors = HashMap::new();
    for (b, spec) in exec.barriers.iter().enumerate() {
        let Some(spec) = spec else { continue };
        if plan.passes.iter().position(|entries| entries.contains(&b)).is_some_and(|p| p > pass) {
            let name = &plan.nodes[b].name;
            let at = StageAt {
                dir: layout.barrier(name).join(format!("part-{}", part_tag(pass, task.rank))),
                dedup: layout.dedup(name),
                split: u32::try_from(pass * task.world_size + task.rank)
                    .context("too many tasks")?,
                base: ((pass as u64) << 56) | ((task.rank as u64) << 32),
                key_shards: Some(task.world_size),
                // Small enough for the next map step to deal them out evenly.
                file_bytes: (plan.spec.run.unit_bytes.0 / 4).max(1 << 20),
            };
            collectors.insert(b, Collector::at(&layout.work, name, spec, at)?);
        }
    }
    Ok(collectors)
}

/// The ledger of this task's units; with the work dir on object storage, mirrored there (the
/// units an earlier attempt finished come back from the store).
fn ledger(ctx: &Ctx<'_>, pass: usize, work: &PassWork) -> anyhow::Result<Ledger> {
    let (plan, work_dir) = (&ctx.plan, &ctx.layout.work);
    let ledger = if plan.spec.run.ledger {
        Ledger::open(work_dir, &plan.config_hash)?
    } else {
        Ledger::disabled(work_dir)
    };
    let Some(remote) = &ctx.layout.remote else { return Ok(ledger) };
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
    ledger.mirrored(remote, work_dir, &keys)
}

/// Sends what later steps read to the store (a shared work dir has it already): staged
/// documents (read in place by the next map step, so named by URL), signatures, band keys,
/// line counts. Returns what this task staged, by barrier name.
fn publish_staged(
    ctx: &Ctx<'_>,
    pass: usize,
    staged: BTreeMap<usize, Staged>,
    exec: &Exec<'_>,
) -> anyhow::Result<BTreeMap<String, Staged>> {
    let layout = &ctx.layout;
    let mut out = BTreeMap::new();
    for (b, mut s) in staged {
        let name = ctx.plan.nodes[b].name.clone();
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
            let split = u32::try_from(pass * ctx.task.world_size + ctx.task.rank)?;
            layout.push(
                &layout
                    .rel(&tokenmill_dedup::phases::signature_path(&layout.dedup(&name), split))?,
                false,
            )?;
            layout.push(&format!("{}/keys", layout.dedup_rel(&name)), true)?;
        }
        out.insert(name, s);
    }
    Ok(out)
}
