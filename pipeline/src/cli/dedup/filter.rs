//! Phase 4: re-read the inputs and write the documents that are kept (and, if asked, those
//! that are not), one output file per input file.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use tokenmill_dedup::format::{ArtifactKind, RandomReader};
use tokenmill_dedup::phases::{self, RemoveSet};

use super::input::{self, doc_id};
use super::settings::WorkConfig;
use super::{OutputArgs, WorkArgs};
use crate::document::Document;
use crate::sink::{AtomicFile, Output};
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
    let remove = RemoveSet::open(&work.work_dir, &config)
        .with_context(|| "cannot load the removal list: run `tokenmill dedup cluster` (phase 3) first")?;
    let kept_out = Output::open(&out.output, &Default::default(), &work.work_dir, &format!("dedup-output-{rank:05}"))?;
    let rejects_out = match &out.rejects {
        Some(r) => Some(Output::open(r, &Default::default(), &work.work_dir, &format!("dedup-rejects-{rank:05}"))?),
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
    let mut stats = FilterStats { rank, world_size: world, files: mine.len() as u64, ..FilterStats::default() };
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
    let mut kept = PartWriter::create(kept_out, &name)?;
    let mut rejected = rejects_out.map(|o| PartWriter::create(o, &name)).transpose()?;
    let mut stats = FilterStats::default();
    let counts = input::read_documents(&stored.source_spec(), file, |first, docs| {
        for (k, doc) in docs.iter().enumerate() {
            if remove.is_duplicate(doc_id(i, first + k as u64)) {
                stats.removed += 1;
                if let Some(r) = &mut rejected {
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
    kept.finish()?;
    if let Some(r) = rejected {
        r.finish()?;
    }
    stats.documents = counts.documents;
    stats.bad_records = counts.bad_records;
    Ok(stats)
}

/// One zstd-compressed JSON Lines output file, made visible on [`PartWriter::finish`].
struct PartWriter<'a> {
    out: &'a Output,
    name: String,
    encoder: zstd::Encoder<'static, AtomicFile>,
    line: Vec<u8>,
}

impl<'a> PartWriter<'a> {
    fn create(out: &'a Output, name: &str) -> anyhow::Result<Self> {
        let file = AtomicFile::create(out.dir(), name)?;
        let encoder = zstd::Encoder::new(file, 3).context("cannot start zstd")?;
        Ok(Self { out, name: name.to_string(), encoder, line: Vec::with_capacity(4096) })
    }

    fn write(&mut self, doc: &Document, drop_reason: Option<&str>) -> anyhow::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &Line { doc, drop_reason })?;
        self.line.push(b'\n');
        self.encoder.write_all(&self.line).with_context(|| format!("cannot write {}", self.name))
    }

    fn finish(self) -> anyhow::Result<()> {
        let file = self.encoder.finish().with_context(|| format!("cannot finish {}", self.name))?;
        file.commit()?;
        self.out.publish(&self.name)
    }
}

/// A document as the `jsonl` sink writes it: `id`, `text`, metadata, then `drop_reason`.
struct Line<'a> {
    doc: &'a Document,
    drop_reason: Option<&'a str>,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.doc;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &d.id)?;
        map.serialize_entry("text", &d.text)?;
        for (k, v) in d.metadata.iter().filter(|(k, _)| !matches!(k.as_str(), "id" | "text" | "drop_reason")) {
            map.serialize_entry(k, v)?;
        }
        if let Some(r) = self.drop_reason {
            map.serialize_entry("drop_reason", r)?;
        }
        map.end()
    }
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

    #[test]
    fn lines_keep_the_jsonl_sink_layout() {
        let mut doc = Document::new("d1", "hello");
        doc.metadata.insert("lang".into(), serde_json::json!("en"));
        let line = serde_json::to_string(&Line { doc: &doc, drop_reason: Some(DROP_REASON) }).unwrap_or_default();
        assert_eq!(line, r#"{"id":"d1","text":"hello","lang":"en","drop_reason":"dedup:duplicate"}"#);
    }
}
