//! Barrier stages (deduplication): collect every document of their input, decide globally,
//! then replay the survivors.
//!
//! While upstream passes run, a barrier stages the documents it receives in input order, each
//! tagged with its ordinal, as JSONL.zst under `{work_dir}/barriers/{name}/docs/`, and streams
//! their MinHash signatures and exact hashes (computed by the workers) to the dedup library's
//! phase-1 files. When its inputs are complete, phases 2 and 3 run out of core (sorted runs,
//! union-find) and leave the ordinals to remove; the next pass replays the staged documents,
//! dropping those ordinals. Everything the barrier writes is an on-disk artifact.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rayon::prelude::*;
use tokenmill_dedup::phases::{DocSignature, Partition, RemoveSet, SignatureWriter, Signer, run_partition, run_phase3};
use tokenmill_dedup::{DedupConfig, DedupIndex, DedupReport, KeepRule, MinHashConfig, NormalizeOptions};

use crate::config::{FileSourceSpec, KeepSpec, NormalizeSpec, Plan, Role, StageSpec};
use crate::document::{Document, Payload};
use crate::sink::{JsonlSink, Output, Sink};

/// Metadata key carrying a staged document's ordinal (removed on replay).
pub(super) const ORDINAL: &str = "__tokenmill_ordinal";

/// How a barrier node deduplicates.
#[derive(Debug, Clone)]
pub(super) struct BarrierSpec {
    pub(super) config: DedupConfig,
    pub(super) score_field: Option<String>,
    pub(super) index: Option<PathBuf>,
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
        let spec = match stage {
            StageSpec::ExactDedup(s) => BarrierSpec {
                config: DedupConfig {
                    fuzzy: false,
                    exact: true,
                    normalize: normalize(&s.normalize),
                    keep: keep(s.keep),
                    memory_budget: usize::try_from(s.memory.0).unwrap_or(usize::MAX),
                    ..DedupConfig::default()
                },
                score_field: s.score_field.clone(),
                index: s.index.as_ref().map(PathBuf::from),
            },
            StageSpec::MinhashDedup(s) => {
                let minhash = match (s.bands, s.rows) {
                    (Some(bands), Some(rows)) => MinHashConfig { num_perm: s.num_perm, bands, rows, ..MinHashConfig::default() },
                    (None, None) if s.num_perm == MinHashConfig::default().num_perm => MinHashConfig::default(),
                    (None, None) => MinHashConfig::from_threshold(s.threshold, s.num_perm)?,
                    _ => anyhow::bail!("stage `{}`: set both `bands` and `rows`, or neither", s.name),
                };
                let minhash = MinHashConfig { ngram: s.ngram, char_ngrams: s.char_ngrams, seed: s.seed, ..minhash };
                BarrierSpec {
                    config: DedupConfig {
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
                    score_field: s.score_field.clone(),
                    index: s.index.as_ref().map(PathBuf::from),
                }
            }
            _ => return Ok(None),
        };
        spec.config.validate().with_context(|| format!("stage `{}`", stage.name()))?;
        if spec.config.keep == KeepRule::HighestScore && spec.score_field.is_none() {
            anyhow::bail!("stage `{}`: keep = \"highest_score\" needs `score_field`", stage.name());
        }
        Ok(Some(spec))
    }

    /// Signs a batch in parallel (ids are set by the writer, in order).
    pub(super) fn sign(&self, signer: &Signer, docs: &[Document]) -> Vec<DocSignature> {
        docs.par_iter()
            .map(|d| {
                let score = self.score_field.as_ref().and_then(|f| d.metadata.get(f)).and_then(serde_json::Value::as_f64);
                signer.sign(0, &d.text, score)
            })
            .collect()
    }
}

/// The barrier specs and signers of a plan, by node id.
pub(super) fn barriers(plan: &Plan) -> anyhow::Result<Vec<Option<(BarrierSpec, Signer)>>> {
    plan.nodes
        .iter()
        .map(|n| match n.role {
            Role::Stage(i) => match BarrierSpec::of(&plan.spec.stages[i])? {
                Some(b) => {
                    let signer = Signer::new(&b.config)?;
                    Ok(Some((b, signer)))
                }
                None => Ok(None),
            },
            _ => Ok(None),
        })
        .collect()
}

/// A barrier collecting documents during upstream passes (owned by the writer).
#[derive(Debug)]
pub(super) struct Collector {
    dir: PathBuf,
    docs: Option<Box<JsonlSink>>,
    signatures: Option<SignatureWriter>,
    next: u64,
}

impl Collector {
    /// Starts collecting into `{work_dir}/barriers/{name}`, clearing an earlier run's state.
    pub(super) fn new(work_dir: &Path, name: &str, spec: &BarrierSpec) -> anyhow::Result<Self> {
        let dir = work_dir.join("barriers").join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        let out = Output::open(&dir.join("docs").display().to_string(), &Default::default(), work_dir, name)?;
        let docs = JsonlSink::new(out, 256 << 20, false)?;
        let signatures = SignatureWriter::create(&dir.join("dedup"), 0, &spec.config)?;
        Ok(Self { dir, docs: Some(Box::new(docs)), signatures: Some(signatures), next: 0 })
    }

    /// Stages a batch and its signatures, numbering documents in arrival order.
    pub(super) fn add(&mut self, mut docs: Vec<Document>, signatures: Vec<DocSignature>) -> anyhow::Result<()> {
        let (Some(sink), Some(sigs)) = (self.docs.as_mut(), self.signatures.as_mut()) else { anyhow::bail!("barrier already closed") };
        for (doc, mut sig) in docs.iter_mut().zip(signatures) {
            sig.id = self.next;
            doc.metadata.insert(ORDINAL.into(), serde_json::Value::from(self.next));
            sigs.write(&sig)?;
            self.next += 1;
        }
        sink.write(Payload::Docs(docs))
    }

    /// Closes the staging files and runs the global phases; returns what the replay needs.
    pub(super) fn finish(mut self, spec: &BarrierSpec) -> anyhow::Result<Replay> {
        let sink = self.docs.take().ok_or_else(|| anyhow::anyhow!("barrier already closed"))?;
        let files = sink.finish()?.files;
        self.signatures.take().ok_or_else(|| anyhow::anyhow!("barrier already closed"))?.finish()?;
        let work = self.dir.join("dedup");
        let cfg = &spec.config;
        // Phase 2: one partition per band (plus exact hashes), in parallel.
        Partition::all(cfg).into_par_iter().map(|p| run_partition(&work, cfg, p).map(|_| ())).collect::<Result<Vec<()>, _>>()?;
        // Phase 3, against the persistent index when there is one.
        let index = match &spec.index {
            Some(dir) if dir.join(".").exists() && std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) => {
                Some(DedupIndex::open(dir, cfg)?)
            }
            _ => None,
        };
        let report = run_phase3(&work, cfg, index.as_ref())?;
        drop(index);
        let removed = RemoveSet::open(&work, cfg)?;
        Ok(Replay { files, removed: Arc::new(removed), report, documents: self.next, work })
    }
}

impl Replay {
    /// Adds this run's documents to the barrier's persistent index. Called once the run's
    /// outputs are committed: a run that dies before that must not find its own documents in
    /// the index when it resumes.
    pub(super) fn update_index(&self, spec: &BarrierSpec) -> anyhow::Result<()> {
        if let Some(dir) = &spec.index {
            std::fs::create_dir_all(dir)?;
            DedupIndex::update(dir, &self.work, &spec.config)
                .with_context(|| format!("cannot update the dedup index {}", dir.display()))?;
        }
        Ok(())
    }
}

/// What a barrier replays in its pass.
#[derive(Debug, Clone)]
pub(super) struct Replay {
    /// Staged JSONL.zst files, in order.
    pub(super) files: Vec<String>,
    /// Ordinals to drop.
    pub(super) removed: Arc<RemoveSet>,
    /// Clusters and counts.
    pub(super) report: DedupReport,
    /// Documents staged.
    pub(super) documents: u64,
    /// The barrier's dedup work dir (signatures).
    work: PathBuf,
}

/// How staged documents are read back.
pub(super) fn staged_spec(name: &str) -> FileSourceSpec {
    FileSourceSpec { id_field: Some("id".into()), ..FileSourceSpec::new(name, vec![]) }
}
