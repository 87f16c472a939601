//! The steps of a dedup barrier between two map steps: phase 2 over key shards, phase 3, a
//! `line_dedup` stage's counts over hash ranges, and a `decontaminate` stage's n-gram document
//! counts over ranges of its index.

use anyhow::Context;
use rayon::prelude::*;
use tokenmill_dedup::DedupIndex;
use tokenmill_dedup::lines::LineDedupConfig;
use tokenmill_dedup::phases::{Partition, run_partition_shard, run_phase3_of, shard_candidates};

use super::Ctx;
use super::layout::{Layout, staged_by_map_tasks};
use crate::runner::barrier::{self, DocDedup, Replay};
use crate::runner::docfreq::DocFreq;
use crate::runner::remote::RemoteWork;
use crate::stats::RunStats;

/// Phase 2, key shard `rank` of every partition: its band keys sorted, candidates verified
/// against their signatures, edges written.
pub(super) fn buckets(ctx: &Ctx<'_>, b: usize, d: &DocDedup) -> anyhow::Result<RunStats> {
    let (layout, rank) = (&ctx.layout, ctx.task.rank);
    let name = &ctx.plan.nodes[b].name;
    let dir = layout.dedup(name);
    let partitions = Partition::all(&d.config);
    // Band keys of this task's key shard of every partition, all of them; signatures only for
    // verifying candidates (on object storage: just their records).
    for p in &partitions {
        layout.fetch(&layout.rel(&p.keys_dir(&dir, rank))?, true)?;
    }
    if let Some(remote) = &layout.remote {
        let needed = partitions
            .iter()
            .map(|&p| shard_candidates(&dir, &d.config, p, rank))
            .collect::<Result<Vec<_>, _>>()?
            .concat();
        fetch_signature_records(remote, layout, name, &d.config, needed, ctx.task.world_size)?;
    }
    // The partitions side by side on the task's cores (each sort within `memory`).
    let pool = rayon::ThreadPoolBuilder::new().num_threads(ctx.opts.threads.max(1)).build()?;
    let done = pool
        .install(|| {
            partitions
                .into_par_iter()
                .map(|p| run_partition_shard(&dir, &d.config, p, rank))
                .collect::<Result<Vec<_>, _>>()
        })
        .with_context(|| format!("`{name}` phase 2 in {}", dir.display()))?;
    layout.push(&format!("{}/edges", layout.dedup_rel(name)), true)?;
    tracing::info!(
        step = ctx.step().name,
        rank,
        partitions = done.len(),
        "band partitions sorted, edges written"
    );
    layout.write_marker(&ctx.marker(ctx.cost(0)))?;
    Ok(ctx.done())
}

/// Phase 3: clusters over the edges, the documents to remove.
pub(super) fn clusters(ctx: &Ctx<'_>, b: usize, d: &DocDedup) -> anyhow::Result<RunStats> {
    let layout = &ctx.layout;
    let name = &ctx.plan.nodes[b].name;
    let dedup = layout.dedup_rel(name);
    layout.fetch(&format!("{dedup}/edges"), true)?;
    let documents: u64 =
        staged_by_map_tasks(&ctx.plan, layout, ctx.earlier(), b)?.iter().map(|s| s.documents).sum();
    let index = match &d.index {
        Some(dir) if std::fs::read_dir(dir).is_ok_and(|mut e| e.next().is_some()) => {
            Some(DedupIndex::open(dir, &d.config)?)
        }
        _ => None,
    };
    // The map tasks counted the documents: keeping the first of each cluster against no index
    // needs the edges only; other keep rules and an index read signatures.
    let edges_only = d.config.keep == tokenmill_dedup::KeepRule::First && index.is_none();
    if !edges_only {
        layout.fetch(&format!("{dedup}/signatures"), true)?;
    }
    let report = run_phase3_of(
        &layout.dedup(name),
        &d.config,
        index.as_ref(),
        edges_only.then_some(documents),
    )
    .with_context(|| format!("`{name}` phase 3 in {}", layout.dedup(name).display()))?;
    layout.push(&format!("{dedup}/clusters"), true)?;
    tracing::info!(
        node = name,
        clusters = report.clusters,
        removed_exact = report.removed.exact,
        removed_fuzzy = report.removed.fuzzy,
        "deduplication done"
    );
    let mut m = ctx.marker(ctx.cost(0));
    m.report = Some(serde_json::to_value(&report)?);
    layout.write_marker(&m)?;
    Ok(ctx.done())
}

/// A `line_dedup` stage's decision for hash range `rank`: that range of every map task's
/// sorted unit counts merged, its boilerplate units written.
pub(super) fn count(ctx: &Ctx<'_>, b: usize, config: LineDedupConfig) -> anyhow::Result<RunStats> {
    let (layout, rank) = (&ctx.layout, ctx.task.rank);
    let name = &ctx.plan.nodes[b].name;
    let mut counts = Vec::new();
    for s in staged_by_map_tasks(&ctx.plan, layout, ctx.earlier(), b)? {
        let Some(rel) = s.counts.get(rank) else {
            anyhow::bail!("a map task staged no line counts for key shard {rank}")
        };
        layout.fetch(rel, false)?;
        counts.push(layout.work.join(rel));
    }
    let out = layout.boilerplate(name, rank);
    let decision = barrier::decide_lines(&counts, config, &out)?;
    layout.push(&layout.rel(&out)?, false)?;
    let replay = Replay { files: vec![], decision, documents: 0 };
    let mut m = ctx.marker(ctx.cost(0));
    m.report = replay.report();
    layout.write_marker(&m)?;
    Ok(ctx.done())
}

/// A `decontaminate` barrier's decision for n-gram range `rank`: that range of every map
/// task's document counts summed, the n-grams over the limit written.
pub(super) fn count_ngrams(ctx: &Ctx<'_>, b: usize, spec: &DocFreq) -> anyhow::Result<RunStats> {
    let (layout, rank) = (&ctx.layout, ctx.task.rank);
    let name = &ctx.plan.nodes[b].name;
    let mut counts = Vec::new();
    for s in staged_by_map_tasks(&ctx.plan, layout, ctx.earlier(), b)? {
        let Some(rel) = s.counts.get(rank) else {
            anyhow::bail!("a map task staged no n-gram counts for key shard {rank}")
        };
        layout.fetch(rel, false)?;
        counts.push(layout.work.join(rel));
    }
    let out = layout.frequent_ngrams(name, rank);
    let decided = spec.decide(&counts, &out)?;
    layout.push(&layout.rel(&out)?, false)?;
    let mut m = ctx.marker(ctx.cost(0));
    m.report = Some(serde_json::to_value(&decided.report)?);
    layout.write_marker(&m)?;
    Ok(ctx.done())
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
        let (pass, rank) =
            (usize::try_from(group[0] >> 56)?, usize::try_from((group[0] >> 32) & 0xff_ffff)?);
        let split = u32::try_from(pass * world + rank)?;
        let local = tokenmill_dedup::phases::signature_path(&dir, split);
        let rel = layout.rel(&local)?;
        let ranges: Vec<std::ops::Range<u64>> = group
            .iter()
            .map(|id| {
                HEADER_LEN + (id & 0xffff_ffff) * len..HEADER_LEN + ((id & 0xffff_ffff) + 1) * len
            })
            .collect();
        let mut out = ArtifactWriter::create(
            &local,
            ArtifactKind::Signatures,
            config.record_len(),
            config.fingerprint(),
        )?;
        for (id, bytes) in group.iter().zip(remote.get_ranges(&rel, &ranges)?) {
            if bytes.len() != config.record_len() || bytes[..8] != id.to_le_bytes() {
                anyhow::bail!(
                    "{}: the record of document {id} is not where its id says",
                    remote.url(&rel)
                );
            }
            out.write_record(&bytes)?;
        }
        out.finish()?;
    }
    Ok(())
}
