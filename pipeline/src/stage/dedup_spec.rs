//! Config of the deduplication stages (`exact_dedup`, `minhash_dedup`, `line_dedup`).

use serde::{Deserialize, Serialize};

use crate::size::ByteSize;
use tokenmill_dedup::Shingles;

fn yes() -> bool {
    true
}

/// Text normalization applied before exact hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeSpec {
    /// Compare case-insensitively.
    pub lowercase: bool,
    /// Treat every run of whitespace as one space and ignore leading/trailing whitespace.
    pub collapse_whitespace: bool,
    /// Ignore punctuation.
    pub strip_punctuation: bool,
    /// Treat all digits as `0`.
    pub digits_to_zero: bool,
}

impl Default for NormalizeSpec {
    fn default() -> Self {
        Self {
            lowercase: false,
            collapse_whitespace: true,
            strip_punctuation: false,
            digits_to_zero: false,
        }
    }
}

/// Which document of a duplicate cluster is kept. Ties go to the first in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum KeepSpec {
    /// The first in input order.
    #[default]
    First,
    /// The longest text.
    Longest,
    /// The highest value of the metadata field `score_field`.
    HighestScore,
}

/// `type = "exact_dedup"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExactDedupSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// What counts as equal.
    #[serde(default)]
    pub normalize: NormalizeSpec,
    /// Which copy is kept.
    #[serde(default)]
    pub keep: KeepSpec,
    /// Numeric metadata field for `keep = "highest_score"`.
    #[serde(default)]
    pub score_field: Option<String>,
    /// Memory for sorting; beyond it, data spills to the work dir.
    #[serde(default = "default_dedup_memory")]
    pub memory: ByteSize,
    /// Directory of a persistent index: documents seen by earlier runs are dropped too, and
    /// this run's documents are added to it.
    #[serde(default)]
    pub index: Option<String>,
}

fn default_dedup_memory() -> ByteSize {
    ByteSize(512 << 20)
}

/// `type = "minhash_dedup"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinhashDedupSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// Estimated Jaccard similarity at or above which two documents are duplicates.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Hash permutations in a signature.
    #[serde(default = "default_num_perm")]
    pub num_perm: usize,
    /// LSH bands; with `rows`, default 14 x 8 (FineWeb's); if both are unset and `num_perm` is
    /// not 112, they are derived from `threshold`.
    #[serde(default)]
    pub bands: Option<usize>,
    /// Rows per band.
    #[serde(default)]
    pub rows: Option<usize>,
    /// Shingle size in words (or in characters with `char_ngrams`).
    #[serde(default = "default_ngram")]
    pub ngram: usize,
    /// Shingle characters instead of words for every document (overrides `shingles`).
    #[serde(default)]
    pub char_ngrams: bool,
    /// `auto` (default): characters for Chinese and Japanese documents (Han/Kana at least 30%
    /// of the letters), words for the others; `words`; `chars`.
    #[serde(default)]
    pub shingles: Shingles,
    /// Check LSH candidates by estimated Jaccard before linking them.
    #[serde(default = "yes")]
    pub verify: bool,
    /// Also remove exact duplicates.
    #[serde(default = "yes")]
    pub exact: bool,
    /// Normalization for the exact comparison.
    #[serde(default)]
    pub normalize: NormalizeSpec,
    /// Which document of a cluster is kept.
    #[serde(default)]
    pub keep: KeepSpec,
    /// Numeric metadata field for `keep = "highest_score"`.
    #[serde(default)]
    pub score_field: Option<String>,
    /// Memory for sorting; beyond it, data spills to the work dir.
    #[serde(default = "default_dedup_memory")]
    pub memory: ByteSize,
    /// Directory of a persistent index (see `exact_dedup`).
    #[serde(default)]
    pub index: Option<String>,
    /// Write the clusters (ids, sizes, representative) to the work dir for inspection.
    #[serde(default)]
    pub dump_clusters: bool,
    /// Seed of the hash permutations.
    #[serde(default = "default_dedup_seed")]
    pub seed: u64,
}

fn default_threshold() -> f64 {
    0.8
}

fn default_num_perm() -> usize {
    112
}

fn default_ngram() -> usize {
    5
}

fn default_dedup_seed() -> u64 {
    1
}

/// `type = "line_dedup"`: CCNet-style boilerplate removal. Lines (or paragraphs) found in more
/// than `max_occurrences` documents of everything the stage receives are removed from every
/// document, the first copy included; a document left with nothing is dropped
/// (`empty_after_line_dedup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineDedupSpec {
    /// Node name.
    pub name: String,
    /// Upstream nodes.
    pub inputs: Vec<String>,
    /// What is compared: lines or paragraphs.
    #[serde(default)]
    pub unit: LineUnitSpec,
    /// A unit in more than this many documents (counted once per document) is boilerplate;
    /// the default 1 removes every unit that two documents share, as CCNet does. At least 1.
    #[serde(default = "default_max_occurrences")]
    pub max_occurrences: u64,
    /// Units shorter than this, in characters after normalization, are never counted nor
    /// removed (short lines such as "Reply" or "1." are left alone).
    #[serde(default = "default_min_length")]
    pub min_length: usize,
    /// Normalization before comparing (default: everything on, as CCNet's line hashes).
    #[serde(default)]
    pub normalize: LineNormalizeSpec,
    /// Memory for sorting the unit hashes; beyond it, they spill to the work dir. The set of
    /// boilerplate units is a memory-mapped file in the work dir (no heap per unit).
    #[serde(default = "default_dedup_memory")]
    pub memory: ByteSize,
}

/// The unit of `line_dedup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LineUnitSpec {
    /// Lines, separated by `\n`.
    #[default]
    Line,
    /// Paragraphs, separated by a blank line (`\n\n`).
    Paragraph,
}

/// Normalization of `line_dedup` units before they are compared; every option defaults to on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineNormalizeSpec {
    /// Compare case-insensitively.
    pub lowercase: bool,
    /// Treat every run of whitespace as one space and ignore leading/trailing whitespace.
    pub collapse_whitespace: bool,
    /// Ignore punctuation and symbols.
    pub strip_punctuation: bool,
    /// Treat all digits as `0`.
    pub digits_to_zero: bool,
}

impl Default for LineNormalizeSpec {
    fn default() -> Self {
        Self {
            lowercase: true,
            collapse_whitespace: true,
            strip_punctuation: true,
            digits_to_zero: true,
        }
    }
}

fn default_max_occurrences() -> u64 {
    1
}

fn default_min_length() -> usize {
    20
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{StageSpec, compile};

    const HEAD: &str =
        "version = 1\n[[source]]\nname = \"web\"\ntype = \"jsonl\"\npaths = [\"in/*.jsonl\"]\n";
    const SINK: &str =
        "[[sink]]\nname = \"out\"\ntype = \"jsonl\"\ninputs = [\"lines\"]\npath = \"o\"\n";

    fn compile_stage(options: &str) -> Result<crate::config::Plan, Vec<String>> {
        let text = format!(
            "{HEAD}[[stage]]\nname = \"lines\"\ntype = \"line_dedup\"\ninputs = [\"web\"]\n{options}{SINK}"
        );
        compile(&text, Path::new("p.toml")).map_err(|d| d.errors().map(|e| e.to_string()).collect())
    }

    fn line_spec(plan: &crate::config::Plan) -> &super::LineDedupSpec {
        match &plan.spec.stages[0] {
            StageSpec::LineDedup(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn line_dedup_defaults_and_is_a_barrier() {
        let plan = compile_stage("").expect("compiles");
        let s = line_spec(&plan);
        assert_eq!(
            (s.unit, s.max_occurrences, s.min_length, s.memory.0),
            (super::LineUnitSpec::Line, 1, 20, 512 << 20)
        );
        assert_eq!(s.normalize, super::LineNormalizeSpec::default());
        assert!(
            s.normalize.lowercase
                && s.normalize.collapse_whitespace
                && s.normalize.strip_punctuation
                && s.normalize.digits_to_zero
        );
        assert!(plan.spec.stages[0].is_barrier());
        assert_eq!(plan.spec.stages[0].kind(), "line_dedup");
        let id = |n: &str| plan.node_id(n).expect("node");
        assert_eq!(plan.passes, vec![vec![id("web")], vec![id("lines")]]);
    }

    #[test]
    fn line_dedup_options_parse() {
        let plan = compile_stage(
            "unit = \"paragraph\"\nmax_occurrences = 3\nmin_length = 5\nmemory = \"1MiB\"\nnormalize = { digits_to_zero = false }\n",
        )
        .expect("compiles");
        let s = line_spec(&plan);
        assert_eq!(
            (s.unit, s.max_occurrences, s.min_length, s.memory.0),
            (super::LineUnitSpec::Paragraph, 3, 5, 1 << 20)
        );
        // A partial table turns off only what it names.
        assert_eq!(
            s.normalize,
            super::LineNormalizeSpec {
                lowercase: true,
                collapse_whitespace: true,
                strip_punctuation: true,
                digits_to_zero: false
            }
        );
    }

    #[test]
    fn line_dedup_rejects_unknown_keys_and_values() {
        let errs = compile_stage("min_len = 5\n").expect_err("unknown key");
        assert!(errs.iter().any(|e| e.contains("unknown field `min_len`")), "{errs:#?}");
        let errs =
            compile_stage("normalize = { case = false }\n").expect_err("unknown normalize key");
        assert!(errs.iter().any(|e| e.contains("unknown field `case`")), "{errs:#?}");
        let errs = compile_stage("unit = \"sentence\"\n").expect_err("unknown unit");
        assert!(errs.iter().any(|e| e.contains("unknown variant `sentence`")), "{errs:#?}");
        let errs = compile_stage("index = \"idx\"\n").expect_err("no persistent index for lines");
        assert!(errs.iter().any(|e| e.contains("unknown field `index`")), "{errs:#?}");
    }
}
