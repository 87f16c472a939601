//! Barrier stages (deduplication; decontamination by document frequency): collect every
//! document of their input, decide globally, then replay the documents, dropping or rewriting
//! them by that decision.
//!
//! While upstream passes run, a barrier stages the documents it receives in input order, each
//! tagged with its ordinal, as JSONL.zst under `{work_dir}/barriers/{name}/docs/`, and streams
//! the [`Keys`] the workers computed for them to the dedup library's out-of-core structures:
//!
//! - `exact_dedup`, `minhash_dedup`: exact hashes and MinHash signatures go to the phase-1
//!   files; when the inputs are complete, phases 2 and 3 run out of core (sorted runs,
//!   union-find) and leave the ordinals to remove; the replay drops those documents.
//! - `line_dedup`: each document's distinct line (or paragraph) hashes go to a
//!   [`LineCounter`] (an external sort); at the end the counts name the boilerplate units; the
//!   replay removes them from every document, dropping only documents left empty.
//! - `decontaminate` with `max_document_frequency`: each document's distinct benchmark n-grams
//!   are counted ([`super::docfreq`]); at the end the n-grams in too many documents are
//!   dropped from the matcher, and the replay decontaminates every document with the rest.
//!
//! Everything the barrier writes is an on-disk artifact. What it decides, and how the replay
//! reports it, is in [`decision`].

mod decision;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenmill_dedup::lines::{LineCounter, LineDedupConfig, LineUnit};
use tokenmill_dedup::phases::{DocSignature, KeyShardWriter, SignatureWriter, Signer};
use tokenmill_dedup::{DedupConfig, KeepRule, MinHashConfig, NormalizeOptions};

use super::docfreq::{self, DocFreq};
use crate::config::{
    FileSourceSpec, KeepSpec, LineDedupSpec, LineUnitSpec, NormalizeSpec, Plan, Role, StageSpec,
};
use crate::document::{Document, Payload};
use crate::sink::{JsonlSink, Naming, Output, Sink};
use decision::remove_duplicates;
pub(super) use decision::{Decision, Replay, decide_lines, load_decision};

/// zstd's fast mode for the staged documents: they are read once, by the replay, and deleted
/// with the work dir's barrier state, so speed matters more than size.
const STAGE_LEVEL: i32 = -1;

/// Metadata key carrying a staged document's ordinal (removed on replay).
pub(crate) const ORDINAL: &str = "__tokenmill_ordinal";

/// How a barrier node decides, and what workers compute for it.
#[derive(Debug)]
pub(super) enum BarrierSpec {
    /// Drops documents that duplicate others (`exact_dedup`, `minhash_dedup`).
    Documents(Box<DocDedup>),
    /// Removes units repeated across documents from each document (`line_dedup`).
    Lines(LineDedupConfig),
    /// Decontaminates, ignoring benchmark n-grams found in too many documents
    /// (`decontaminate` with `max_document_frequency`).
    Decontaminate(Box<DocFreq>),
}

/// Document-level deduplication.
#[derive(Debug)]
pub(super) struct DocDedup {
    pub(super) config: DedupConfig,
    score_field: Option<String>,
    pub(super) index: Option<PathBuf>,
    signer: Signer,
}

/// What the workers compute for a barrier from a batch it collects, one entry per document.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Keys {
    /// Exact hashes and MinHash signatures (ids are set by the collector, in order).
    Signatures(Vec<DocSignature>),
    /// Each document's distinct unit hashes: lines or paragraphs
    /// ([`LineDedupConfig::unit_hashes`]), or benchmark n-grams ([`DocFreq::keys`]).
    Hashes(Vec<Vec<u64>>),
}

impl BarrierSpec {
    /// The barrier spec of a stage, if it is one.
    pub(super) fn of(stage: &StageSpec) -> anyhow::Result<Option<Self>> {
        let normalize = |n: &NormalizeSpec| NormalizeOptions {
            lowercase: n.lowercase,
            collapse_whitespace: n.collapse_whitespace,
            strip_punctuation: n.strip_punctuation,
            digits_to_zero: n.digits_to_zero,
        };
        let keep = |k: KeepSpec| match k {
            KeepSpec::First => KeepRule::First,
            KeepSpec::Longest => KeepRule::Longest,
            KeepSpec::HighestScore => KeepRule::HighestScore,
        };
        let (config, score_field, index) = match stage {
            StageSpec::ExactDedup(s) => (
                DedupConfig {
                    fuzzy: false,
                    exact: true,
                    normalize: normalize(&s.normalize),
                    keep: keep(s.keep),
                    memory_budget: usize::try_from(s.memory.0).unwrap_or(usize::MAX),
                    ..DedupConfig::default()
                },
                s.score_field.clone(),
                s.index.as_ref().map(PathBuf::from),
            ),
            StageSpec::MinhashDedup(s) => {
                let minhash = match (s.bands, s.rows) {
                    (Some(bands), Some(rows)) => MinHashConfig {
                        num_perm: s.num_perm,
                        bands,
                        rows,
                        ..MinHashConfig::default()
                    },
                    (None, None) if s.num_perm == MinHashConfig::default().num_perm => {
                        MinHashConfig::default()
                    }
                    (None, None) => MinHashConfig::from_threshold(s.threshold, s.num_perm)?,
                    _ => {
                        anyhow::bail!("stage `{}`: set both `bands` and `rows`, or neither", s.name)
                    }
                };
                let minhash = MinHashConfig {
                    ngram: s.ngram,
                    char_ngrams: s.char_ngrams,
                    shingles: s.shingles,
                    seed: s.seed,
                    ..minhash
                };
                (
                    DedupConfig {
                        minhash,
                        fuzzy: true,
                        exact: s.exact,
                        normalize: normalize(&s.normalize),
                        verify: s.verify,
                        threshold: s.threshold,
                        keep: keep(s.keep),
                        memory_budget: usize::try_from(s.memory.0).unwrap_or(usize::MAX),
                        dump_clusters: s.dump_clusters,
                        ..DedupConfig::default()
                    },
                    s.score_field.clone(),
                    s.index.as_ref().map(PathBuf::from),
                )
            }
            StageSpec::LineDedup(s) => return line_config(s).map(|c| Some(BarrierSpec::Lines(c))),
            StageSpec::Decontaminate(s) if stage.is_barrier() => {
                return Ok(Some(BarrierSpec::Decontaminate(Box::new(DocFreq::of(s)?))));
            }
            _ => return Ok(None),
        };
        config.validate().with_context(|| format!("stage `{}`", stage.name()))?;
        if config.keep == KeepRule::HighestScore && score_field.is_none() {
            anyhow::bail!("stage `{}`: keep = \"highest_score\" needs `score_field`", stage.name());
        }
        let signer = Signer::new(&config)?;
        Ok(Some(BarrierSpec::Documents(Box::new(DocDedup { config, score_field, index, signer }))))
    }

    /// Computes a batch's keys in parallel.
    pub(super) fn keys(&self, docs: &[Document]) -> Keys {
        match self {
            BarrierSpec::Documents(d) => Keys::Signatures(
                docs.par_iter()
                    .map(|doc| {
                        let score = d
                            .score_field
                            .as_ref()
                            .and_then(|f| doc.metadata.get(f))
                            .and_then(serde_json::Value::as_f64);
                        d.signer.sign(0, &doc.text, score)
                    })
                    .collect(),
            ),
            BarrierSpec::Lines(c) => {
                Keys::Hashes(docs.par_iter().map(|doc| c.unit_hashes(&doc.text)).collect())
            }
            BarrierSpec::Decontaminate(f) => {
                Keys::Hashes(docs.par_iter().map(|doc| f.keys(&doc.text)).collect())
            }
        }
    }
}

/// The library config of a `line_dedup` stage.
fn line_config(s: &LineDedupSpec) -> anyhow::Result<LineDedupConfig> {
    if s.max_occurrences == 0 {
        anyhow::bail!(
            "stage `{}`: `max_occurrences` must be at least 1 (a unit in more documents than that is removed)",
            s.name
        );
    }
    let n = &s.normalize;
    Ok(LineDedupConfig {
        unit: match s.unit {
            LineUnitSpec::Line => LineUnit::Line,
            LineUnitSpec::Paragraph => LineUnit::Paragraph,
        },
        min_chars: s.min_length,
        max_occurrences: s.max_occurrences,
        normalize: NormalizeOptions {
            lowercase: n.lowercase,
            collapse_whitespace: n.collapse_whitespace,
            strip_punctuation: n.strip_punctuation,
            digits_to_zero: n.digits_to_zero,
        },
        memory_budget: usize::try_from(s.memory.0).unwrap_or(usize::MAX),
    })
}

/// The barrier specs of a plan, by node id.
pub(super) fn barriers(plan: &Plan) -> anyhow::Result<Vec<Option<BarrierSpec>>> {
    plan.nodes
        .iter()
        .map(|n| match n.role {
            Role::Stage(i) => BarrierSpec::of(&plan.spec.stages[i]),
            _ => Ok(None),
        })
        .collect()
}

/// Where a collector streams the keys of what it stages.
#[derive(Debug)]
enum KeyWriter {
    Signatures(Box<SignatureWriter>),
    Lines(LineCounter),
    Ngrams(docfreq::Counter),
}

/// A barrier collecting documents during upstream passes (owned by the writer).
#[derive(Debug)]
pub(super) struct Collector {
    at: StageAt,
    docs: Option<Box<JsonlSink>>,
    keys: Option<KeyWriter>,
    /// Band keys routed by key shard (job arrays: phase 2 spread over the tasks).
    shards: Option<KeyShardWriter>,
    next: u64,
}

/// Where a collector stages what it receives, and how it numbers documents.
#[derive(Debug, Clone)]
pub(super) struct StageAt {
    /// Its own directory: `docs/` (the staged documents), line counts.
    pub(super) dir: PathBuf,
    /// The dedup work dir its signatures go to (shared by the tasks of a job array).
    pub(super) dedup: PathBuf,
    /// Its signature split.
    pub(super) split: u32,
    /// The ordinal of its first document: ordinals grow in input order over all collectors of
    /// a barrier (a job array's tasks take contiguous ranges of units, in rank order).
    pub(super) base: u64,
    /// Also route band keys to this many key shards (a job array's phase 2 tasks).
    pub(super) key_shards: Option<usize>,
    /// Text bytes per staged file (the next pass's work units).
    pub(super) file_bytes: u64,
}

/// What one collector staged, for the decision and the replay (recorded in a job array's step
/// markers).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Staged {
    /// Staged JSONL.zst files, in order.
    pub(super) files: Vec<String>,
    /// Documents staged.
    pub(super) documents: u64,
    /// The sorted unit counts of a `line_dedup` barrier, or the n-gram counts of a
    /// `decontaminate` one: one file, or one per key shard.
    #[serde(default)]
    pub(super) counts: Vec<String>,
}

impl Collector {
    /// Starts collecting into `{work_dir}/barriers/{name}`, clearing an earlier run's state.
    pub(super) fn new(work_dir: &Path, name: &str, spec: &BarrierSpec) -> anyhow::Result<Self> {
        let dir = work_dir.join("barriers").join(name);
        let at = StageAt {
            dedup: dir.join("dedup"),
            dir,
            split: 0,
            base: 0,
            key_shards: None,
            file_bytes: 256 << 20,
        };
        Self::at(work_dir, name, spec, at)
    }

    /// Starts collecting at `at`, clearing what an earlier attempt left in its directory.
    pub(super) fn at(
        work_dir: &Path,
        name: &str,
        spec: &BarrierSpec,
        at: StageAt,
    ) -> anyhow::Result<Self> {
        if at.dir.exists() {
            std::fs::remove_dir_all(&at.dir)
                .with_context(|| format!("cannot clear {}", at.dir.display()))?;
        }
        let out = Output::open(
            &at.dir.join("docs").display().to_string(),
            &Default::default(),
            work_dir,
            name,
        )?;
        let docs =
            JsonlSink::new(out, at.file_bytes, false, &Naming::Whole)?.with_level(STAGE_LEVEL);
        let keys = match spec {
            BarrierSpec::Documents(d) => KeyWriter::Signatures(Box::new(SignatureWriter::create(
                &at.dedup, at.split, &d.config,
            )?)),
            BarrierSpec::Lines(c) => {
                let scratch = at.dir.join("lines");
                std::fs::create_dir_all(&scratch)
                    .with_context(|| format!("cannot create {}", scratch.display()))?;
                KeyWriter::Lines(LineCounter::new(&scratch, *c)?)
            }
            BarrierSpec::Decontaminate(f) => KeyWriter::Ngrams(f.counter()),
        };
        let shards = match (spec, at.key_shards) {
            (BarrierSpec::Documents(d), Some(n)) => {
                Some(KeyShardWriter::create(&at.dedup, at.split, &d.config, n)?)
            }
            _ => None,
        };
        let next = at.base;
        Ok(Self { at, docs: Some(Box::new(docs)), keys: Some(keys), shards, next })
    }

    /// Stages a batch and its keys, numbering documents in arrival order.
    pub(super) fn add(&mut self, mut docs: Vec<Document>, keys: Keys) -> anyhow::Result<()> {
        let (Some(sink), Some(writer)) = (self.docs.as_mut(), self.keys.as_mut()) else {
            anyhow::bail!("barrier already closed")
        };
        if self.next - self.at.base + docs.len() as u64 >= 1 << 32 {
            anyhow::bail!(
                "more than 2^32 documents reach this barrier in one task: use more tasks"
            );
        }
        match (writer, keys) {
            (KeyWriter::Signatures(w), Keys::Signatures(sigs)) => {
                for (mut sig, n) in sigs.into_iter().zip(self.next..) {
                    sig.id = n;
                    w.write(&sig)?;
                    if let Some(k) = self.shards.as_mut() {
                        k.write(&sig)?;
                    }
                }
            }
            (KeyWriter::Lines(c), Keys::Hashes(hashes)) => {
                for h in &hashes {
                    c.add_hashes(h)?;
                }
            }
            (KeyWriter::Ngrams(c), Keys::Hashes(hashes)) => {
                for h in &hashes {
                    c.add(h)?;
                }
            }
            _ => anyhow::bail!("a batch carries keys of another kind of barrier"),
        }
        for doc in &mut docs {
            doc.metadata.insert(ORDINAL.into(), serde_json::Value::from(self.next));
            self.next += 1;
        }
        sink.write(Payload::Docs(docs))
    }

    /// Closes the staging files (signatures, line counts) without deciding.
    pub(super) fn close(mut self) -> anyhow::Result<Staged> {
        let sink = self.docs.take().ok_or_else(|| anyhow::anyhow!("barrier already closed"))?;
        let files = sink.finish()?.files;
        let counts = match self.keys.take() {
            Some(KeyWriter::Signatures(w)) => {
                w.finish()?;
                if let Some(k) = self.shards.take() {
                    k.finish()?;
                }
                Vec::new()
            }
            Some(KeyWriter::Lines(counter)) => {
                let paths: Vec<PathBuf> = match self.at.key_shards {
                    Some(n) => {
                        (0..n).map(|s| self.at.dir.join(format!("lines-s{s:05}.counts"))).collect()
                    }
                    None => vec![self.at.dir.join("lines.counts")],
                };
                counter.finish_sharded(&paths)?;
                paths.iter().map(|p| p.display().to_string()).collect()
            }
            Some(KeyWriter::Ngrams(counter)) => {
                let paths: Vec<PathBuf> = match self.at.key_shards {
                    Some(n) => {
                        (0..n).map(|s| self.at.dir.join(format!("ngrams-s{s:05}.counts"))).collect()
                    }
                    None => vec![self.at.dir.join("ngrams.counts")],
                };
                counter.finish(&paths)?;
                paths.iter().map(|p| p.display().to_string()).collect()
            }
            None => anyhow::bail!("barrier already closed"),
        };
        Ok(Staged { files, documents: self.next - self.at.base, counts })
    }

    /// Closes the staging files and makes the global decision; returns what the replay needs.
    pub(super) fn finish(self, spec: &BarrierSpec) -> anyhow::Result<Replay> {
        let (dir, dedup) = (self.at.dir.clone(), self.at.dedup.clone());
        let staged = self.close()?;
        let decision = match spec {
            BarrierSpec::Documents(d) => remove_duplicates(&dedup, d)?,
            BarrierSpec::Lines(c) => {
                let counts: Vec<PathBuf> = staged.counts.iter().map(PathBuf::from).collect();
                decide_lines(&counts, *c, &dir.join("boilerplate.hashes"))?
            }
            BarrierSpec::Decontaminate(f) => {
                let counts: Vec<PathBuf> = staged.counts.iter().map(PathBuf::from).collect();
                let decided = f.decide(&counts, &dir.join("frequent.ngrams"))?;
                let stage = Arc::new(f.stage(&decided.frequent));
                Decision::Decontaminate { stage, report: decided.report }
            }
        };
        Ok(Replay { files: staged.files, decision, documents: staged.documents })
    }
}

/// How staged documents are read back.
pub(super) fn staged_spec(name: &str) -> FileSourceSpec {
    FileSourceSpec { id_field: Some("id".into()), ..FileSourceSpec::new(name, vec![]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ByteSize, LineNormalizeSpec};

    fn spec(max_occurrences: u64) -> StageSpec {
        StageSpec::LineDedup(LineDedupSpec {
            name: "lines".into(),
            inputs: vec!["web".into()],
            unit: LineUnitSpec::Paragraph,
            max_occurrences,
            min_length: 7,
            normalize: LineNormalizeSpec {
                strip_punctuation: false,
                ..LineNormalizeSpec::default()
            },
            memory: ByteSize(1 << 20),
        })
    }

    #[test]
    fn line_dedup_stage_maps_to_the_library_config() {
        let Ok(Some(BarrierSpec::Lines(c))) = BarrierSpec::of(&spec(4)) else {
            panic!("a line barrier")
        };
        assert_eq!(
            (c.unit, c.max_occurrences, c.min_chars, c.memory_budget),
            (LineUnit::Paragraph, 4, 7, 1 << 20)
        );
        assert!(c.normalize.lowercase && !c.normalize.strip_punctuation);
        let err = BarrierSpec::of(&spec(0)).expect_err("0 removes everything");
        assert!(err.to_string().contains("`max_occurrences` must be at least 1"), "{err}");
    }
}
