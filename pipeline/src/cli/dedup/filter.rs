//! Phase 4: re-read the inputs and write the documents that are kept (and, if asked, those
//! that are not), one output file per input file.

use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use tokenmill_dedup::format::{ArtifactKind, RandomReader};
use tokenmill_dedup::phases::{self, RemoveSet};

use super::input::{self, doc_id};
use super::settings::WorkConfig;
use super::{OutputArgs, WorkArgs};
use crate::sink::{AtomicFile, JsonlPart, Output};
use crate::storage::InputFile;

/// The reason written on removed documents.
const DROP_REASON: &str = "dedup:duplicate";

/// What one rank of phase 4 did; also `WORK/filter/rank-{r:05}.json`, written last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
struct FilterStats {
    /// This rank.
    rank: usize,
    /// Number of ranks.
    world_size: usize,
    /// Input files this rank filtered.
    files: u64,
    /// Documents read: `kept + removed`.
    documents: u64,
    /// Documents written to the output.
    kept: u64,
    /// Documents dropped as duplicates.
    removed: u64,
    /// Records skipped because they could not be parsed (as in phase 1).
    bad_records: u64,
}

/// Phase 4 for the input files `i % world == rank`, in parallel.
///
/// Rank 0 also removes `part-*` files left by an earlier run over more input files.
pub(super) fn filter(
    stored: &WorkConfig,
    files: &[InputFile],
    work: &WorkArgs,
    out: &OutputArgs,
    rank: usize,
    world: usize,
) -> anyhow::Result<()> {
    let config = stored.runtime(work, false);
    let start = Instant::now();
    let remove = RemoveSet::open(&work.work_dir, &config).with_context(
        || "cannot load the removal list: run `tokenmill dedup cluster` (phase 3) first",
    )?;
    let kept_out = Output::open(
        &out.output,
        &Default::default(),
        &work.work_dir,
        &format!("dedup-output-{rank:05}"),
    )?;
    let rejects_out = match &out.rejects {
        Some(r) => Some(Output::open(
            r,
            &Default::default(),
            &work.work_dir,
            &format!("dedup-rejects-{rank:05}"),
        )?),
        None => None,
    };
    if rank == 0 {
        for o in std::iter::once(&kept_out).chain(&rejects_out) {
            o.clear(|name| part_index(name).is_some_and(|i| i >= files.len()))?;
        }
    }
    let mine: Vec<usize> = (rank..files.len()).step_by(world).collect();
    let per_file: Vec<FilterStats> = mine
        .par_iter()
        .map(|&i| filter_file(stored, &files[i], i, work, &remove, &kept_out, rejects_out.as_ref()))
        .collect::<anyhow::Result<_>>()?;
    let mut stats =
        FilterStats { rank, world_size: world, files: mine.len() as u64, ..FilterStats::default() };
    for s in &per_file {
        stats.documents += s.documents;
        stats.kept += s.kept;
        stats.removed += s.removed;
        stats.bad_records += s.bad_records;
    }
    debug_assert_eq!(stats.documents, stats.kept + stats.removed);
    let dir = work.work_dir.join("filter");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = AtomicFile::create(&dir, &format!("rank-{rank:05}.json"))?;
    serde_json::to_writer_pretty(&mut file, &stats)?;
    file.commit()?;
    println!(
        "filter rank {rank} of {world}: {} input files, {} documents, {} kept, {} removed ({DROP_REASON}), {} bad records skipped, {:.1}s -> {}",
        stats.files,
        stats.documents,
        stats.kept,
        stats.removed,
        stats.bad_records,
        start.elapsed().as_secs_f64(),
        out.output
    );
    Ok(())
}

/// The input file index of an output file name `part-{i:05}.jsonl.zst` (or its `.tmp`).
fn part_index(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("part-")?;
    let digits = rest.strip_suffix(".jsonl.zst").or_else(|| rest.strip_suffix(".jsonl.zst.tmp"))?;
    digits.parse().ok()
}

fn filter_file(
    stored: &WorkConfig,
    file: &InputFile,
    i: usize,
    work: &WorkArgs,
    remove: &RemoveSet,
    kept_out: &Output,
    rejects_out: Option<&Output>,
) -> anyhow::Result<FilterStats> {
    let path = phases::signature_path(&work.work_dir, i as u32);
    let signed = RandomReader::open(&path, ArtifactKind::Signatures, None)?.header().count;
    let name = format!("part-{i:05}.jsonl.zst");
    let mut kept = JsonlPart::create(kept_out, &name)?;
    let mut rejected =
        rejects_out.map(|o| JsonlPart::create(o, &name).map(|p| (p, o))).transpose()?;
    let mut stats = FilterStats::default();
    let counts = input::read_documents(&stored.source_spec(), file, |first, docs| {
        for (k, doc) in docs.iter().enumerate() {
            if remove.is_duplicate(doc_id(i, first + k as u64)) {
                stats.removed += 1;
                if let Some((r, _)) = &mut rejected {
                    r.write(doc, Some(DROP_REASON))?;
                }
            } else {
                stats.kept += 1;
                kept.write(doc, None)?;
            }
        }
        Ok(())
    })?;
    anyhow::ensure!(
        counts.documents == signed,
        "{}: {} documents now, but phase 1 signed {signed} ({}): the input changed since `dedup signatures`; rerun every phase",
        file.url,
        counts.documents,
        path.display()
    );
    kept.finish(kept_out)?;
    if let Some((r, out)) = rejected {
        r.finish(out)?;
    }
    stats.documents = counts.documents;
    stats.bad_records = counts.bad_records;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_map_to_input_files() {
        assert_eq!(part_index("part-00012.jsonl.zst"), Some(12));
        assert_eq!(part_index("part-00003.jsonl.zst.tmp"), Some(3));
        assert_eq!(part_index("stats.json"), None);
        assert_eq!(part_index("part-x.jsonl.zst"), None);
    }
}
