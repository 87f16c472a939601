//! `type = "decontaminate"`: removes benchmark text from the corpus by n-gram overlap
//! ([`tokenmill_filters::decontam`], GPT-3's method).
//!
//! The benchmarks are files the pipeline file lists (JSONL, possibly compressed, or Parquet,
//! told apart by name; local paths, globs or object-store URLs), each with the fields whose
//! text is matched (`question`, `answer`, `prompt`, `canonical_solution`, ...): an entry is
//! its fields joined by newlines; a field may be a string, a number or a list of strings. A
//! record that lacks a field stops the build with an error naming the file and line.
//!
//! Documents holding a benchmark n-gram are dropped (`contaminated`), or with `mode = "cut"`
//! have the matching spans cut out with a margin (dropped when too little is left,
//! `contaminated_too_short`, or when cut too often, `contaminated_too_many_splits`). The node's
//! `transformed` counters in `stats.json` say per benchmark how many documents it made the
//! stage drop (`{benchmark}.documents_dropped`) or cut (`{benchmark}.documents_cut`) and how many
//! characters those lost (`{benchmark}.chars_removed`; a document matching two benchmarks
//! counts for both), and in total `documents_cut`, `spans` and `chars_removed`.
//!
//! Frequent n-grams are ignored by three rules. Two are fixed before the run (see the library
//! docs): n-grams shared by more than `max_entry_frequency` benchmark entries, and the n-grams
//! of the `ignore_files` (boilerplate known to be common, e.g. licence headers). The third is
//! GPT-3's: with `max_document_frequency = N` (GPT-3: 10), n-grams found in more than `N`
//! documents of the stage's input are ignored. That count covers the whole input (every task of
//! a job array) and must be known before any document is judged, so with the option the stage
//! is a barrier (`runner::barrier`, like `line_dedup`): its documents are staged to disk while
//! each task counts, per benchmark n-gram, the documents holding it (memory: four bytes per
//! n-gram of the index, never more with the corpus); the counts are summed, and the staged
//! documents are replayed through the stage without the frequent n-grams. The barrier's
//! `report` in `stats.json` says how many n-grams the rule ignored, in all
//! (`frequent_ngrams`, of `ngrams`) and per benchmark (`{benchmark}.frequent_ngrams`). Without
//! the option the stage is a per-batch transform: a pure function of the document,
//! deterministic at any thread count, and nothing is staged.
//!
//! The spec's [`BuildOperator`](super::BuildOperator) is implemented where the benchmark files
//! are read, in `source::benchmark`: the JSONL and Parquet readers belong to the source layer,
//! which sits above the stages.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokenmill_filters::decontam::{DecontamConfig, DecontamMode, Decontaminator};

use super::{Outcome, StageKind, Transform};
use crate::document::Document;

/// `type = "decontaminate"`: drops or cuts documents that contain benchmark text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecontaminateSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// The benchmarks, e.g. `[{ name = "humaneval", path = "HumanEval.jsonl", fields =
    /// ["prompt", "canonical_solution"] }]` (at most 64).
    pub benchmarks: Vec<BenchmarkSpec>,
    /// Tokens per n-gram: words, or single Chinese/Japanese characters (GPT-3: 13).
    #[serde(default = "defaults::ngram")]
    pub ngram: usize,
    /// `"drop"` the document, or `"cut"` the matching spans out of it.
    #[serde(default)]
    pub mode: DecontamModeSpec,
    /// `cut`: characters removed on either side of a matching span (GPT-3: 200).
    #[serde(default = "defaults::margin_chars")]
    pub margin_chars: usize,
    /// `cut`: fragments left with fewer characters are removed too; a document with none left
    /// is dropped.
    #[serde(default = "defaults::min_remaining_chars")]
    pub min_remaining_chars: usize,
    /// `cut`: documents with more matching spans are dropped (GPT-3: 10).
    #[serde(default = "defaults::max_splits")]
    pub max_splits: usize,
    /// N-grams found in more benchmark entries than this (all benchmarks together) are
    /// ignored: templates and boilerplate shared by many items.
    #[serde(default = "defaults::max_entry_frequency")]
    pub max_entry_frequency: usize,
    /// Text files (local) whose n-grams are never matched: boilerplate known to be common in
    /// training data, such as licence headers.
    #[serde(default)]
    pub ignore_files: Vec<PathBuf>,
    /// N-grams found in more documents of the stage's input than this are ignored (GPT-3: 10).
    /// Makes the stage a barrier: its documents are staged to disk until every one was counted.
    #[serde(default)]
    pub max_document_frequency: Option<u64>,
}

/// One benchmark of a `decontaminate` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSpec {
    /// Its name in `stats.json` (unique within the stage).
    pub name: String,
    /// File, glob or URL: JSON Lines (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`, ...) or `.parquet`.
    pub path: String,
    /// Fields (columns) whose text is matched, joined by newlines in this order; the first one
    /// must be a string.
    pub fields: Vec<String>,
}

/// `mode` of a `decontaminate` stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecontamModeSpec {
    /// Drop the whole document.
    #[default]
    Drop,
    /// Cut the matching spans out with a margin.
    Cut,
}

mod defaults {
    use tokenmill_filters::decontam::DecontamConfig;

    pub(super) fn ngram() -> usize {
        DecontamConfig::default().ngram
    }
    pub(super) fn margin_chars() -> usize {
        DecontamConfig::default().margin_chars
    }
    pub(super) fn min_remaining_chars() -> usize {
        DecontamConfig::default().min_remaining_chars
    }
    pub(super) fn max_splits() -> usize {
        DecontamConfig::default().max_splits
    }
    pub(super) fn max_entry_frequency() -> usize {
        DecontamConfig::default().max_entry_frequency
    }
}

/// The stage: the benchmarks' n-gram index and each benchmark's counter names.
#[derive(Debug)]
pub struct Decontaminate {
    inner: Decontaminator,
    /// Per benchmark: `documents_dropped`, `documents_cut`, `chars_removed` counter names.
    counters: Vec<[&'static str; 3]>,
}

impl Transform for Decontaminate {
    fn apply(&self, doc: &mut Document) -> Outcome {
        let cleaned = self.inner.apply(&doc.text);
        if cleaned.benchmarks == 0 {
            return Outcome::keep();
        }
        let mut out = Outcome { dropped: cleaned.dropped, counts: Vec::new() };
        let what = if cleaned.dropped.is_some() { 0 } else { 1 };
        for (i, names) in self.counters.iter().enumerate() {
            if (cleaned.benchmarks >> i) & 1 == 1 {
                out.count(names[what], 1);
                out.count(names[2], cleaned.chars_removed);
            }
        }
        out.count("spans", cleaned.spans);
        out.count("chars_removed", cleaned.chars_removed);
        if cleaned.dropped.is_none() {
            out.count("documents_cut", 1);
            let text = cleaned.text.into_owned();
            doc.text = text;
        }
        out
    }
}

impl Decontaminate {
    /// The stage over a built index; its counters are named after the index's benchmarks.
    pub fn new(inner: Decontaminator) -> Self {
        // Outcome counters are `&'static str`; the stage is built once per run, so its few
        // per-benchmark names are leaked once.
        let leak = |b: &str, what: &str| -> &'static str {
            Box::leak(format!("{b}.{what}").into_boxed_str())
        };
        let counters = inner
            .benchmarks()
            .iter()
            .map(|b| {
                let n = &b.name;
                [leak(n, "documents_dropped"), leak(n, "documents_cut"), leak(n, "chars_removed")]
            })
            .collect();
        Self { inner, counters }
    }
}

impl DecontaminateSpec {
    /// A barrier with `max_document_frequency` (it counts over all of its input first), else a
    /// per-batch stage.
    pub fn stage_kind(&self) -> StageKind {
        if self.max_document_frequency.is_some() { StageKind::Barrier } else { StageKind::Docs }
    }

    /// The library config of the stage.
    pub fn config(&self) -> DecontamConfig {
        DecontamConfig {
            ngram: self.ngram,
            mode: match self.mode {
                DecontamModeSpec::Drop => DecontamMode::Drop,
                DecontamModeSpec::Cut => DecontamMode::Cut,
            },
            margin_chars: self.margin_chars,
            min_remaining_chars: self.min_remaining_chars,
            max_splits: self.max_splits,
            max_entry_frequency: self.max_entry_frequency,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "Write a function that returns the sum of the squares of all odd numbers \
        in the given list of integers, ignoring negative numbers.";

    fn stage(extra: &str) -> Decontaminate {
        let spec: DecontaminateSpec = toml::from_str(&format!(
            "name = \"decon\"\ninputs = [\"in\"]\nbenchmarks = []\n{extra}"
        ))
        .expect("spec");
        let mut b = Decontaminator::builder(spec.config());
        let id = b.add_benchmark("quiz").expect("benchmark");
        b.add_entry(id, ENTRY);
        Decontaminate::new(b.build().expect("builds"))
    }

    #[test]
    fn cuts_and_counts_per_benchmark() {
        let t = stage("mode = \"cut\"\nmargin_chars = 0\nmin_remaining_chars = 1");
        let mut doc = Document::new("d", format!("Keep this. {ENTRY} And this."));
        let out = t.apply(&mut doc);
        assert_eq!(out.dropped, None);
        assert_eq!(doc.text, "Keep this.\n. And this.");
        let removed = ENTRY.len() as u64 - 1; // the span is the entry without its final `.`
        assert_eq!(
            out.counts,
            [
                ("quiz.documents_cut", 1),
                ("quiz.chars_removed", removed),
                ("spans", 1),
                ("chars_removed", removed),
                ("documents_cut", 1),
            ]
        );
        let mut clean = Document::new("c", "Nothing here.");
        assert_eq!(t.apply(&mut clean), Outcome::keep());
    }

    #[test]
    fn max_document_frequency_makes_it_a_barrier() {
        let parse = |extra: &str| -> crate::config::StageSpec {
            toml::from_str(&format!(
                "type = \"decontaminate\"\nname = \"d\"\ninputs = [\"in\"]\nbenchmarks = []\n{extra}"
            ))
            .expect("spec")
        };
        assert!(!parse("").is_barrier());
        assert_eq!(parse("").stage_kind(), StageKind::Docs);
        assert!(parse("max_document_frequency = 10").is_barrier());
    }

    #[test]
    fn drops_by_default_and_counts_the_whole_document() {
        let t = stage("");
        let text = format!("Some text.\n{}\nMore.", ENTRY.to_uppercase());
        let mut doc = Document::new("d", text.clone());
        let out = t.apply(&mut doc);
        assert_eq!(out.dropped, Some("contaminated"));
        assert_eq!(doc.text, text, "a dropped document keeps its text for the rejected port");
        let all = text.chars().count() as u64;
        assert_eq!(
            out.counts,
            [
                ("quiz.documents_dropped", 1),
                ("quiz.chars_removed", all),
                ("spans", 1),
                ("chars_removed", all),
            ]
        );
    }
}
