//! Config of the deduplication stages (`exact_dedup`, `minhash_dedup`).

use serde::{Deserialize, Serialize};

use super::spec::ByteSize;

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
        Self { lowercase: false, collapse_whitespace: true, strip_punctuation: false, digits_to_zero: false }
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
    /// Shingle characters instead of words (for scripts without spaces: Chinese, Japanese).
    #[serde(default)]
    pub char_ngrams: bool,
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
