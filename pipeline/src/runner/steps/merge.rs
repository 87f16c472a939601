//! The merge step: manifests, statistics, history and indexes from the tasks' markers; it
//! reads no shard bytes.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use tokenmill_dedup::DedupIndex;

use super::layout::{Marker, combined_report, markers};
use super::{Ctx, Step, StepKind, empty_stats};
use crate::config::SinkSpec;
use crate::runner::barrier::BarrierSpec;
use crate::runner::history::{History, Seen};
use crate::runner::ledger::Ledger;
use crate::runner::{manifest_dirs, write_stats};
use crate::sink::{Output, SinkReport};
use crate::stats::{RunStats, StepReport, TaskCost, cpu_secs, secs};

/// The last step: manifests, statistics, history, indexes, from the markers alone.
pub(super) fn merge(ctx: &Ctx<'_>, barriers: &[Option<BarrierSpec>]) -> anyhow::Result<RunStats> {
    let (plan, opts, layout) = (&ctx.plan, ctx.opts, &ctx.layout);
    let (mut stats, inputs, mut parts) = summed(ctx, barriers)?;
    let work_dir = &layout.work;
    for (k, spec) in plan.spec.sinks.iter().enumerate() {
        let node = plan
            .nodes
            .iter()
            .position(|n| matches!(n.role, crate::config::Role::Sink(i) if i == k))
            .unwrap_or_default();
        let reports = parts.remove(spec.name()).unwrap_or_default();
        let out = Output::open(spec.path(), spec.storage(), work_dir, spec.name())
            .with_context(|| format!("sink `{}`", spec.name()))?;
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
    History::load(work_dir, &manifest_dirs(plan))?.record_seen(
        &inputs,
        false,
        &stats.inputs_to_retry,
    )?;
    layout.push("history", true)?;
    if stats.inputs_to_retry.is_empty() && plan.spec.run.ledger {
        if let Some(r) = &layout.remote {
            r.delete_dir("ledger")?;
        }
        Ledger::open(work_dir, &plan.config_hash)?.remove()?;
    }
    stats.elapsed_secs = secs(ctx.started.elapsed());
    stats.steps.push(StepReport {
        name: "merge".into(),
        tasks: vec![TaskCost {
            rank: 0,
            cpu_secs: cpu_secs() - ctx.cpu_before,
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
    let mut marker =
        ctx.marker(stats.steps.last().and_then(|s| s.tasks.first().cloned()).unwrap_or_default());
    marker.stats = Some(stats.clone());
    layout.write_marker(&marker)?;
    Ok(stats)
}

/// Every task's counters summed into one `stats.json`, the barrier reports of the decision
/// steps, each task's cost; the job's inputs; each sink's parts, in dataset order.
#[allow(clippy::type_complexity)]
fn summed(
    ctx: &Ctx<'_>,
    barriers: &[Option<BarrierSpec>],
) -> anyhow::Result<(RunStats, Vec<Seen>, BTreeMap<String, Vec<SinkReport>>)> {
    let (plan, layout, steps) = (&ctx.plan, &ctx.layout, &ctx.steps[..]);
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
        stats.steps.push(StepReport {
            name: step.name.clone(),
            tasks: markers.iter().map(|m| m.cost.clone()).collect(),
        });
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
    Ok((stats, inputs, parts))
}

/// One sink's output from its parts: a megatron sink's manifest lists every task's shards in
/// order; files that no task of this job wrote (an earlier run's) are removed.
fn merge_sink(
    spec: &SinkSpec,
    out: &Output,
    parts: &[SinkReport],
    inputs: &[Seen],
) -> anyhow::Result<SinkReport> {
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
        anyhow::bail!(
            "{} was written by a task but is not in the output any more; run the job again",
            out.url_of(missing)
        );
    }
    match spec {
        SinkSpec::Megatron(s) => {
            let manifest_name = tokenmill_shards::MANIFEST_FILE;
            let stem = format!("{}_", s.prefix);
            out.remove_everywhere(|n| n == manifest_name)?;
            out.remove_everywhere(|n| {
                n.starts_with(&stem)
                    && !written.contains(n)
                    && [".bin", ".idx", ".tmp"].iter().any(|e| n.ends_with(e))
            })?;
            let mut shards = Vec::new();
            let mut header: Option<tokenmill_shards::Manifest> = None;
            for p in parts {
                let Some(m) = &p.part else {
                    anyhow::bail!("a task of sink `{}` recorded no shard list", s.name)
                };
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
        SinkSpec::Llmc(s) => {
            anyhow::bail!("sink `{}`: an llmc file cannot be written by a job array", s.name)
        }
    }
    Ok(report)
}
